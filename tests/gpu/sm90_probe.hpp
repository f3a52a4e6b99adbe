// One-tile probes of the Hopper part1 variant's building blocks, for test_gpu_sm90: each runs
// one warpgroup on one tile laid out exactly as part1_wgmma lays it out (planar 128B-swizzled
// groups of 64 columns, lib/kernels/part1/wgmma/sm90_desc.hpp) and hands the results back to
// the host, so the easy-to-get-wrong parts (descriptors, swizzle, fragment layouts, tensor-map
// boxes over a paged cache) are checked against plain CPU arithmetic. Host API only: the suite
// is a .cpp (Boost.Test does not compile under nvcc); the kernels live in sm90_probe.cu.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

namespace sm90probe {

// True when the probes were compiled for sm_90a (else every probe returns cudaErrorNotSupported).
bool built_for_sm90a();

// S[64 x 64] = Q[64 x 576] K[64 x 576]^T through a kernel's QK^T sequence, m64n64k16: with
// q_in_registers false the v1 kernel's (one qk_ss0 and 35 qk_ss wgmmas, both operands K-major in
// shared memory), true the v2 kernel's (Q's latent part as register fragments loaded from global
// memory by load_q_fragments, 31 RS steps, one SS step over its last 16 columns in a 32B-swizzled
// block (store_q_last), then 4 SS steps over its rope group: qk_tile_rs).
// q, k: row-major 16-bit bit patterns, bf16 (fp16 = false) or fp16. s: row-major floats.
cudaError_t qk_tile(bool fp16, const std::vector<uint16_t>& q, const std::vector<uint16_t>& k,
                    std::vector<float>* s, bool q_in_registers = false);

// O[64 x 512] = P[64 x 64] V[64 x 512], V the first 512 columns of kv[64 x 576]: columns 0..255
// through pv_rs (P from registers, the m16n8k16 A-fragment layout), 256..511 through pv_ss (P
// K-major in the tile's 9th column group, as the kernel's loader warpgroup reads it), V read
// MN-major (transposed) from the tile. o: row-major floats.
cudaError_t pv_tile(bool fp16, const std::vector<uint16_t>& p, const std::vector<uint16_t>& kv,
                    std::vector<float>* o);

// The 64-row tile the kernel's tensor-map loader would land for positions [w0, w0 + 64) of one
// request: a map over `cache` ([num_pages, page_size, 576] 16-bit values, dense) with boxes
// {64, min(page_size, 64), 1} and 128B swizzle, one box per (run of min(page_size, 64) rows,
// column group), page ids from `table` (one entry per page of the request; an id of num_pages
// or more is out of bounds and lands zeros). w0 must be a multiple of min(page_size, 64) and
// page_size >= 8. tile: the 73,728 shared-memory bytes, in order.
cudaError_t tma_tile(int page_size, int num_pages, const std::vector<uint16_t>& cache,
                     const std::vector<int32_t>& table, int w0, std::vector<uint8_t>* tile);

}  // namespace sm90probe
