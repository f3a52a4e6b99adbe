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
// (o[4 j + 2 half] and o[4 j + 2 half + 1] are columns col0 + 8 j and col0 + 8 j + 1, j < 32,
// col0 = base + 2 q4) for query row `row` of request b, times `il` (NaN when `bad`): to `out` in T
// when the piece is the whole request, else to the piece's float32 partial slot; nothing when not
// `valid` (a row past the call's rows). Every lane of the warp calls it (quad shuffles): a quad's
// four lanes hold 8 adjacent columns for each j, and a transpose over four j hands each lane the 8
// columns of one j, stored with 16-byte stores (a quarter of the stores and L1 wavefronts of one
// store a column pair; quad lanes 0 and 1, 2 and 3 fill one 32-byte sector). The fp32 partial
// keeps one 8-byte store a column pair (below).
template <class T>
__device__ __forceinline__ void store_wgmma_row_out(const Part1Params& p, const Piece& pc, int b,
                                                    int row, const float (&o)[128], int half,
                                                    int col0, float il, bool bad, bool valid) {
  const float nan = merge::quiet_nan<float>();
  const int q4 = static_cast<int>(threadIdx.x & 3u);
  const int base = col0 - 2 * q4;
  auto val = [&](int j, int e) { return bad ? nan : o[4 * j + 2 * half + e] * il; };
  if (pc.slot < 0) {
    const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
    T* out = static_cast<T*>(p.out) + static_cast<int64_t>(b) * p.out_stride_batch +
             static_cast<int64_t>(t) * p.out_stride_token + static_cast<int64_t>(h) * p.out_stride_head;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      uint32_t x[4];
#pragma unroll
      for (int c = 0; c < 4; ++c) x[c] = ptx::pack2<T>(val(4 * i + c, 0), val(4 * i + c, 1));
      ptx::quad_transpose4(x, q4);  // x[c]: columns base + 8 (4 i + q4) + 2 c, + 1
      if (valid)
        *reinterpret_cast<uint4*>(out + base + 8 * (4 * i + q4)) = make_uint4(x[0], x[1], x[2], x[3]);
      asm volatile("" ::: "memory");  // one group at a time: the PV warpgroups hold O at 160 registers
    }
  } else {
    // fp32 partials: 8-byte stores as before the transposes, each warp store whole 32-byte sectors
    // (the quad transpose's 16-byte stores cover half a sector each: 8.5 us against ~3 for the
    // bf16 output at a piece's end, H128_B1_L128k +8.8% at 1b3597a).
    float* out = p.part_out + (static_cast<int64_t>(pc.slot) * p.rows + row) * kHeadDimV;
    if (valid) {
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<float2*>(out + col0 + 8 * j) = make_float2(val(j, 0), val(j, 1));
    }
  }
}

}  // namespace splitmla::kernels
