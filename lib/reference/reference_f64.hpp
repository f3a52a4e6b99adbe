// Internal: the CPU reference with float64 outputs. The public functions (reference.hpp) store
// float32 as the fixture format does; these keep every value in double so that the direct pass
// and split + merge can be checked against each other far below float rounding (tests).
#pragma once

#include "splitmla/export.hpp"

#include <cstdint>
#include <vector>

#include "splitmla/reference.hpp"

namespace splitmla::reference_detail {

struct OutputsF64 {
  std::vector<double> out;  // [batch, q_len, num_heads, 512]
  std::vector<double> lse;  // [batch, q_len, num_heads]
};

struct SplitsF64 {
  int32_t num_splits = 0;
  std::vector<double> split_out;  // [batch, num_splits, q_len, num_heads, 512]
  std::vector<double> split_lse;  // [batch, num_splits, q_len, num_heads]
};

SPLITMLA_INTERNAL_API Status decode_f64(const HostProblem& p, OutputsF64* out);
SPLITMLA_INTERNAL_API Status split_partials_f64(const HostProblem& p, int32_t num_splits,
                                                SplitsF64* splits);
SPLITMLA_INTERNAL_API Status merge_f64(const HostProblem& p, const SplitsF64& splits,
                                       OutputsF64* out);

}  // namespace splitmla::reference_detail
