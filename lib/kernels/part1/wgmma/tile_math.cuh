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

// Lazy maximum of softmax_tile: the running max of a row moves only when a tile's max exceeds it
// by more than this (base 2), so P = exp2(s sc - m) stays <= 2^8 (exact in bf16 and fp16 alike)
// and most tiles leave every factor at exactly 1.
constexpr float kLazyMaxStep = 8.f;

// Online softmax (base 2) of one tile for this thread's rows a and b of the m64n64 accumulator
// s (s[4j + e]: row a, column 8j + 2 q4 + e; s[4j + 2 + e]: row b). Columns in [lo, valid_a) of
// row a and [lo, valid_b) of row b count, times sc_a / sc_b (> 0 and finite); the others are
// -inf. Updates the running maxima m and partial sums l, gives the factors al that rescale the
// old state, and P as packed PT pairs (pr[j][0]: row a, columns 8j + 2 q4 and + 1; pr[j][1]:
// row b). The max is lazy: taken over the raw scores, the scale folded into the exponent's FMA,
// m moved only by more than kLazyMaxStep (al = 1 exactly otherwise, so the caller may skip the
// rescale, any_rescale below); a tile without masked columns skips the masks; P's exponentials
// flush subnormal results (< 2^-126 of the reference max) to zero. Same results up to rounding:
// m is only the exponent's reference, lse = m + log2(l).
template <class PT>
__device__ __forceinline__ void softmax_tile(const float (&s)[32], int q4, int lo, int valid_a,
                                             int valid_b, float sc_a, float sc_b, float& m_a,
                                             float& m_b, float& l_a, float& l_b, float& al_a,
                                             float& al_b, uint32_t (&pr)[8][2]) {
  float mx_a = merge::neg_inf<float>(), mx_b = merge::neg_inf<float>();
  float sv[32];
  if (lo <= 0 && valid_a >= 64 && valid_b >= 64) {
#pragma unroll
    for (int i = 0; i < 32; ++i) sv[i] = s[i];
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = 8 * j + 2 * q4 + e;
        const bool in_a = col >= lo && col < valid_a;
        const bool in_b = col >= lo && col < valid_b;
        sv[4 * j + e] = in_a ? s[4 * j + e] : merge::neg_inf<float>();
        sv[4 * j + 2 + e] = in_b ? s[4 * j + 2 + e] : merge::neg_inf<float>();
      }
    }
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    mx_a = fmaxf(mx_a, fmaxf(sv[4 * j + 0], sv[4 * j + 1]));
    mx_b = fmaxf(mx_b, fmaxf(sv[4 * j + 2], sv[4 * j + 3]));
  }
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
  float su_a = 0.f, su_b = 0.f;
  const float t_a = mx_a * sc_a, t_b = mx_b * sc_b;  // -inf stays -inf (sc > 0)
  const bool up_a = t_a > m_a + kLazyMaxStep, up_b = t_b > m_b + kLazyMaxStep;
  al_a = up_a ? merge::rescale_exp2(m_a, t_a) : 1.f;
  al_b = up_b ? merge::rescale_exp2(m_b, t_b) : 1.f;
  if (up_a) m_a = t_a;
  if (up_b) m_b = t_b;
  // m = -inf: every column so far masked; masked columns give exp2(-inf) = 0 either way.
  const float nm_a = m_a == merge::neg_inf<float>() ? 0.f : -m_a;
  const float nm_b = m_b == merge::neg_inf<float>() ? 0.f : -m_b;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float p0 = ptx::ex2_ftz(fmaf(sv[4 * j + 0], sc_a, nm_a));
    const float p1 = ptx::ex2_ftz(fmaf(sv[4 * j + 1], sc_a, nm_a));
    const float p2 = ptx::ex2_ftz(fmaf(sv[4 * j + 2], sc_b, nm_b));
    const float p3 = ptx::ex2_ftz(fmaf(sv[4 * j + 3], sc_b, nm_b));
    su_a += p0 + p1;
    su_b += p2 + p3;
    pr[j][0] = ptx::pack2<PT>(p0, p1);
    pr[j][1] = ptx::pack2<PT>(p2, p3);
  }
  l_a = l_a * al_a + su_a;
  l_b = l_b * al_b + su_b;
}

// Whether any row of this warp has a factor other than 1 (warp-uniform): the O rescale of a
// lazy softmax's tile is needed only then.
__device__ __forceinline__ bool any_rescale(float al_a, float al_b) {
  return __any_sync(0xffffffffu, al_a != 1.f || al_b != 1.f);
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
