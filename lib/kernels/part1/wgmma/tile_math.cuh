// The per-tile math both wgmma part1 kernels (16-bit caches: part1_wgmma.cuh; fp8_e4m3 caches
// converted to fp16 tiles: part1_wgmma_fp8.cuh) run on a 64-key tile in the planar
// 128B-swizzled layout: S = Q K^T, the online softmax of S in registers, and P into the tile's
// rope group for the other warpgroup.
#pragma once

#include <cstdint>

#include "core/merge.hpp"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/sm90_desc.hpp"

namespace splitmla::kernels {

// The default of qk_tile's group wait: nothing to wait for (the whole tile landed before it).
struct NoGroupWait {
  __device__ __forceinline__ void operator()(int) const {}
};

// S = Q K^T of one 64-key tile into s (overwritten): 36 k16 steps over Q (at sq) and the keys (at
// skv), both with 64-column groups group_bytes apart; k step ks reads 32 bytes further in the
// 128-byte rows, a new group every 4 steps. Issues and commits one wgmma group; the caller waits.
// kGroupWaits: before the k steps of group g >= 1, wait_group(g) blocks until that group of the
// tile has landed (group 0's wait is the caller's), then a wgmma fence (ptxas would inject one
// there, C7519: it orders register use, the chain keeps running).
template <class T, bool kGroupWaits = false, class WaitGroup = NoGroupWait>
__device__ __forceinline__ void qk_tile(float (&s)[32], uint32_t sq, uint32_t skv,
                                        uint32_t group_bytes, WaitGroup wait_group = {}) {
  constexpr uint64_t kDescK = sm90::make_smem_desc(0, 16, 1024, sm90::kSwizzle128B);
  auto desc = [](uint64_t tmpl, uint32_t addr) { return tmpl | ((addr >> 4) & 0x3FFFu); };
  sm90::wgmma_fence();
  sm90::qk_ss0<T>(s, desc(kDescK, sq), desc(kDescK, skv));
#pragma unroll
  for (int ks = 1; ks < 36; ++ks) {
    if constexpr (kGroupWaits) {
      if ((ks & 3) == 0) {
        wait_group(ks >> 2);
        sm90::wgmma_fence();
      }
    }
    const uint32_t off = (ks >> 2) * group_bytes + (ks & 3) * 32;
    sm90::qk_ss<T>(s, desc(kDescK, sq + off), desc(kDescK, skv + off), 1);
  }
  sm90::wgmma_commit();
}

// Online softmax (base 2) of one tile for this thread's rows a and b of the m64n64 accumulator
// s (s[4j + e]: row a, column 8j + 2 q4 + e; s[4j + 2 + e]: row b). Columns in [lo, valid_a) of
// row a and [lo, valid_b) of row b count, times sc_a / sc_b; the others are -inf. Updates the
// running maxima m and partial sums l, gives the factors al that rescale the old state, and P as
// packed PT pairs (pr[j][0]: row a, columns 8j + 2 q4 and + 1; pr[j][1]: row b).
template <class PT>
__device__ __forceinline__ void softmax_tile(const float (&s)[32], int q4, int lo, int valid_a,
                                             int valid_b, float sc_a, float sc_b, float& m_a,
                                             float& m_b, float& l_a, float& l_b, float& al_a,
                                             float& al_b, uint32_t (&pr)[8][2]) {
  float mx_a = merge::neg_inf<float>(), mx_b = merge::neg_inf<float>();
  float sv[32];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int col = 8 * j + 2 * q4 + e;
      const bool in_a = col >= lo && col < valid_a;
      const bool in_b = col >= lo && col < valid_b;
      const float sa = in_a ? s[4 * j + e] * sc_a : merge::neg_inf<float>();
      const float sb = in_b ? s[4 * j + 2 + e] * sc_b : merge::neg_inf<float>();
      sv[4 * j + e] = sa;
      sv[4 * j + 2 + e] = sb;
      mx_a = fmaxf(mx_a, sa);
      mx_b = fmaxf(mx_b, sb);
    }
  }
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
  const float mn_a = fmaxf(m_a, mx_a), mn_b = fmaxf(m_b, mx_b);
  al_a = merge::rescale_exp2(m_a, mn_a);
  al_b = merge::rescale_exp2(m_b, mn_b);
  m_a = mn_a;
  m_b = mn_b;
  float su_a = 0.f, su_b = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float p0 = merge::prob_exp2(sv[4 * j + 0], mn_a);
    const float p1 = merge::prob_exp2(sv[4 * j + 1], mn_a);
    const float p2 = merge::prob_exp2(sv[4 * j + 2], mn_b);
    const float p3 = merge::prob_exp2(sv[4 * j + 3], mn_b);
    su_a += p0 + p1;
    su_b += p2 + p3;
    pr[j][0] = ptx::pack2<PT>(p0, p1);
    pr[j][1] = ptx::pack2<PT>(p2, p3);
  }
  l_a = l_a * al_a + su_a;
  l_b = l_b * al_b + su_b;
}

// P into group 8 of a 64-key tile (the rope columns, which only Q K^T read), K-major for the
// other warpgroup's P V: this thread's pairs of rows ra and rb.
__device__ __forceinline__ void store_p_tile(uint8_t* tile, int ra, int rb, int q4,
                                             const uint32_t (&pr)[8][2]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    *reinterpret_cast<uint32_t*>(tile + sm90::tile_offset(64, ra, kHeadDimV + 8 * j + 2 * q4)) =
        pr[j][0];
    *reinterpret_cast<uint32_t*>(tile + sm90::tile_offset(64, rb, kHeadDimV + 8 * j + 2 * q4)) =
        pr[j][1];
  }
}

// A piece's end for this thread's rows: the partial sums added over the row's lane quad, then
// (one lane a quad) 1 / l and the piece's lse into the shared inv_l and lse of rows ra and rb.
__device__ __forceinline__ void finish_rows(int q4, int ra, int rb, float m_a, float m_b, float l_a,
                                            float l_b, float* inv_l, float* lse) {
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 1);
  l_a += __shfl_xor_sync(0xffffffffu, l_a, 2);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 1);
  l_b += __shfl_xor_sync(0xffffffffu, l_b, 2);
  if (q4 == 0) {
    inv_l[ra] = merge::inv_sum(l_a);
    inv_l[rb] = merge::inv_sum(l_b);
    lse[ra] = merge::split_lse_from_exp2(m_a, l_a);
    lse[rb] = merge::split_lse_from_exp2(m_b, l_b);
  }
}

}  // namespace splitmla::kernels
