// The part1 kernels' shared pieces: which pieces a work CTA runs, and the epilogue (the store of
// one query row's lse; for the wgmma kernels, the accumulator rescale and one row's output store).
#pragma once

#include <cstdint>

#include "core/merge.hpp"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"

namespace splitmla::kernels {

// The pieces [*first, *last) work CTA `wcta` runs: its own one under one_piece_per_cta (none past
// the planned count), else its run of the planner's cta_begin.
__device__ __forceinline__ void cta_piece_range(const Part1Params& p, int wcta, int* first,
                                                int* last) {
  if (p.one_piece_per_cta) {
    *first = wcta;
    *last = wcta < p.header->num_pieces ? wcta + 1 : wcta;
  } else {
    *first = p.cta_begin[wcta];
    *last = p.cta_begin[wcta + 1];
  }
}

// Query row `row` (token-major: token row / num_heads, head row % num_heads) of request b: `l` to
// `lse` (when given) when the piece is the whole request, else to the piece's partial slot.
__device__ __forceinline__ void store_row_lse(const Part1Params& p, const Piece& pc, int b, int row,
                                              float l) {
  const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
  if (pc.slot < 0) {
    if (p.lse != nullptr)
      p.lse[static_cast<int64_t>(b) * p.lse_stride_batch + static_cast<int64_t>(t) * p.lse_stride_token +
            static_cast<int64_t>(h) * p.lse_stride_head] = l;
  } else {
    p.part_lse[static_cast<int64_t>(pc.slot) * p.rows + row] = l;
  }
}

// O *= alpha for this thread's two rows of an m64n256 accumulator (elements 4j, 4j+1: row a;
// 4j+2, 4j+3: row b).
__device__ __forceinline__ void rescale_rows(float (&o)[128], float al_a, float al_b) {
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    o[4 * j + 0] *= al_a;
    o[4 * j + 1] *= al_a;
    o[4 * j + 2] *= al_b;
    o[4 * j + 3] *= al_b;
  }
}

// The wgmma kernels' output store: row half `half` of this thread's m64n256 accumulator `o`
// (o[4 j + 2 half] and o[4 j + 2 half + 1] are columns col0 + 8 j and col0 + 8 j + 1, j < 32) for
// query row `row` of request b, times `il` (NaN when `bad`): to `out` in T when the piece is the
// whole request, else to the piece's float32 partial slot.
template <class T>
__device__ __forceinline__ void store_wgmma_row_out(const Part1Params& p, const Piece& pc, int b,
                                                    int row, const float (&o)[128], int half,
                                                    int col0, float il, bool bad) {
  const float nan = merge::quiet_nan<float>();
  if (pc.slot < 0) {
    const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
    T* out = static_cast<T*>(p.out) + static_cast<int64_t>(b) * p.out_stride_batch +
             static_cast<int64_t>(t) * p.out_stride_token + static_cast<int64_t>(h) * p.out_stride_head;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const float v0 = bad ? nan : o[4 * j + 2 * half] * il;
      const float v1 = bad ? nan : o[4 * j + 2 * half + 1] * il;
      *reinterpret_cast<uint32_t*>(out + col0 + 8 * j) = ptx::pack2<T>(v0, v1);
    }
  } else {
    float* out = p.part_out + (static_cast<int64_t>(pc.slot) * p.rows + row) * kHeadDimV;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      float2 v;
      v.x = bad ? nan : o[4 * j + 2 * half] * il;
      v.y = bad ? nan : o[4 * j + 2 * half + 1] * il;
      *reinterpret_cast<float2*>(out + col0 + 8 * j) = v;
    }
  }
}

}  // namespace splitmla::kernels
