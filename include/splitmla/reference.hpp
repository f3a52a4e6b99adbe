// SplitMLA CPU reference: the contract's operation in float64 from bf16/fp16 inputs, as a direct
// single pass and through the split/merge algebra (part1 partials, part2 merge).
#pragma once

#include "splitmla/export.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {

// Raw 16-bit conversions (round to nearest even; NaN stays NaN).
SPLITMLA_API float bf16_to_float(uint16_t bits) noexcept;
SPLITMLA_API float fp16_to_float(uint16_t bits) noexcept;
SPLITMLA_API uint16_t float_to_bf16(float v) noexcept;
SPLITMLA_API uint16_t float_to_fp16(float v) noexcept;
SPLITMLA_API float half_bits_to_float(DType d, uint16_t bits) noexcept;
SPLITMLA_API uint16_t float_to_half_bits(DType d, float v) noexcept;

// One decode call held in host memory, densely packed (the fixture layout).
struct HostProblem {
  DType dtype = DType::kBFloat16;
  int32_t batch = 0, q_len = 1, num_heads = 0, page_size = 0;
  int32_t num_pages = 0, max_pages_per_seq = 0;
  bool causal = true;                 // token visibility (docs/semantics.md section 1)
  double softmax_scale = 0.0;
  std::vector<uint16_t> q;            // [batch, q_len, num_heads, 576] raw dtype bits
  std::vector<uint16_t> kv_cache;     // [num_pages, page_size, 576] raw dtype bits (16-bit
                                      // caches; empty for fp8 caches)
  KvFormat kv_format = KvFormat::kSameAsQ;
  std::vector<uint8_t> kv_bytes;      // fp8 caches: [num_pages, page_size, kv_row_bytes] raw row
                                      // bytes (empty for 16-bit caches)
  float kv_scale = 1.f;               // fp8_e4m3: the per-call scale (any value: a bad one is
                                      // bad device data, NaN outputs)
  std::vector<int32_t> block_table;   // [batch, max_pages_per_seq]
  std::vector<int32_t> seq_lens;      // [batch]
};

// Reference outputs: out [batch, q_len, num_heads, 512], lse [batch, q_len, num_heads].
struct HostOutputs {
  std::vector<float> out;
  std::vector<float> lse;   // natural log, -inf for empty rows, NaN for bad requests
};

// Split partials: split_out [batch, num_splits, q_len, num_heads, 512], split_lse [.., num_heads].
struct HostSplits {
  int32_t num_splits = 0;
  std::vector<float> split_out;
  std::vector<float> split_lse;
};

// Checks extents and sizes of the vectors (not the data: bad page ids and seq_lens are the
// contract's device-data faults and yield NaN rows, as on the GPU).
SPLITMLA_API Status validate_host_problem(const HostProblem& p);

// Visible positions of token t of request b: max(0, seq_len - q_len + t + 1) when causal,
// seq_len when not, or -1 if the request's seq_len is negative or beyond
// max_pages_per_seq * page_size.
SPLITMLA_API int64_t visible_length(const HostProblem& p, int32_t b, int32_t t) noexcept;

// Direct single pass in float64.
SPLITMLA_API Status reference_decode(const HostProblem& p, HostOutputs* out);

// part1 in float64: `num_splits` equal ranges of ceil(n / num_splits) positions per row.
SPLITMLA_API Status reference_split_partials(const HostProblem& p, int32_t num_splits,
                                             HostSplits* splits);

// part2 in float64 over partials, using the shared merge algebra (lib/core/merge.hpp).
SPLITMLA_API Status reference_merge(const HostProblem& p, const HostSplits& splits,
                                    HostOutputs* out);

// Comparison report of the contract (section 4): -inf/NaN positions must match exactly,
// then |got - ref| <= atol + rtol*|ref| on out and |got - ref| <= lse_atol on lse.
struct SPLITMLA_API Tolerance {
  double out_atol = 1e-2, out_rtol = 1e-2, lse_atol = 1e-3;
  static Tolerance for_dtype(DType d);  // bf16: 1e-2/1e-2; fp16: 2e-3/2e-3; lse 1e-3
};
struct CompareReport {
  bool ok = false;
  int64_t special_mismatches = 0;   // elements whose -inf/NaN class differs
  int64_t out_violations = 0, lse_violations = 0;
  double max_out_err = 0.0, max_lse_err = 0.0;
  int64_t worst_out_index = -1, worst_lse_index = -1;
  std::string text;                 // human-readable report naming the worst element
};
// `got_name` / `ref_name` label the two sides in the text (e.g. "stored" / "float64" when a
// recorded file's outputs are checked against the float64 reference).
SPLITMLA_API CompareReport compare_outputs(const HostProblem& p, const HostOutputs& got,
                                           const HostOutputs& ref, const Tolerance& tol,
                                           const char* got_name = "got",
                                           const char* ref_name = "ref");

}  // namespace splitmla
