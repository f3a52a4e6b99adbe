// The committed fixture set, made from a seed: the case list is the documentation of what the
// fixtures cover (docs/semantics.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "splitmla/fixture.hpp"
#include "splitmla/fp8.hpp"
#include "splitmla/status.hpp"

namespace splitmla::tools {

struct CaseSpec {
  const char* name;             // file name without .h5
  DType dtype;
  int32_t num_heads;
  int32_t page_size;
  std::vector<int32_t> seq_lens;
  int32_t extra_columns;        // block-table columns past the longest request's need
  int32_t num_splits;           // 0: no split datasets
  double q_sigma;               // standard deviation of q (kv uses 1.0)
  const char* why;              // what the case exercises (goes into `description`)
  bool bad_data = false;        // request 1 gets a bad page id in its visible range and
                                // request 2 a seq_len one past its table (NaN rows, error flags)
  int32_t q_len = 1;            // query tokens per request
  bool causal = true;           // token visibility (false: every token sees seq_len)
  KvFormat kv_format = KvFormat::kSameAsQ;  // fp8: the 16-bit cache encoded by quantize_kv
  Fp8ScaleRule scale_rule = Fp8ScaleRule::kAmax;
};

// The cases of a named set ("default": q_len = 1, format version 1 files; "multitoken": q_len > 1,
// causal and not; "fp8": fp8_e4m3 and fp8_ds_mla caches; "faults": bad device data the contract
// turns into NaN rows); empty when the name is unknown.
std::vector<CaseSpec> fixture_set(const std::string& set_name);

// Builds one fixture: page ids a seeded permutation, NaN in every KV row no request may read,
// out-of-range / negative / poisoned page ids in every table entry past a row's need, the
// reference from reference_decode (and reference_split_partials when num_splits > 0).
// `set_name` goes into the description (the command that remakes the file).
Status build_case(const CaseSpec& spec, uint64_t seed, const std::string& set_name, Fixture* f);

// DeepSeek-V3's softmax scale: mscale^2 / sqrt(192), mscale = 0.1 * ln(40) + 1 (YaRN factor 40).
double deepseek_softmax_scale();

}  // namespace splitmla::tools
