// Internal plan variants used by other parts of the library (not public API).
#pragma once

#include <cuda_runtime_api.h>

#include "splitmla/decode.hpp"
#include "splitmla/shard.hpp"

namespace splitmla::detail {

// A CUDA runtime result as a status: kSuccess, kNotBuilt for a kernel image missing for this
// device, else kCudaError; `what` names the call in the detail. Clears the sticky error.
Status cuda_status(cudaError_t e, const char* what);

// make_plan, then every request is routed through the fp32 partial slots and part2 writes a
// float32 `out` (Plan::out_f32): the context-parallel shard partials of lib/cp.
Status make_plan_f32_partials(const DecodeConfig& config, Plan* plan);

// decode() on a context-parallel shard: args.seq_lens are the GLOBAL lengths, args' table and
// cache the rank's local ones; the planner writes each token's local limit (the count of this
// rank's positions below the token's global limit, lib/core/visibility.hpp) into the token-limit
// array that part1 and the split rule read. Same validation and launches as decode().
Status decode_shard(const Plan& plan, const ShardSpec& shard, const DecodeArgs& args,
                    const Workspace& ws, cudaStream_t stream);

}  // namespace splitmla::detail
