// Context-parallel kernels: parameter structs and launchers (lib/cp/cp_kernels.cu).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "splitmla/cp.hpp"

namespace splitmla::cp {

// Batch-major shard partials -> packed chunks (kAllToAll layout).
struct PackParams {
  const char* out;           // [rows, heads, 512] elements of elem_bytes
  const float* lse;          // [rows, heads]
  char* dst;                 // packed partials (CpLayout)
  int64_t chunk_bytes, out_bytes;
  int32_t rows, num_heads, heads_per_group, elem_bytes;
};

// Strided merge of partials; strides in elements.
struct MergeParams {
  const void* part_out;
  int64_t po_src, po_b, po_t, po_h;
  const float* part_lse;
  int64_t pl_src, pl_b, pl_t, pl_h;
  void* out;
  int64_t o_b, o_t, o_h;
  float* lse;
  int64_t l_b, l_t, l_h;
  int32_t num_sources, q_len, num_heads;
  int32_t lse_base2;
};

cudaError_t launch_pack(const PackParams& p, cudaStream_t stream);
cudaError_t launch_merge(PartialType in, PartialType out, const MergeParams& p, int64_t rows,
                         cudaStream_t stream);
// Loads the modules now (plan time), so no lazy load happens inside a capture.
cudaError_t load_cp_kernels();

}  // namespace splitmla::cp
