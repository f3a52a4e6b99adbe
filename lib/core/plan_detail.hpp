// Internal plan variants used by other parts of the library (not public API).
#pragma once

#include "splitmla/decode.hpp"

namespace splitmla::detail {

// make_plan, then every request is routed through the fp32 partial slots and part2 writes a
// float32 `out` (Plan::out_f32): the context-parallel shard partials of lib/cp.
Status make_plan_f32_partials(const DecodeConfig& config, Plan* plan);

}  // namespace splitmla::detail
