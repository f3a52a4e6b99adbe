// part1, Hopper wgmma variant for fp8_e4m3 caches (sm_90a), v0: lock-step.
//
// The products must read K and V from shared memory as 16-bit values (both are B operands of the
// wgmmas), so each 64-row tile is staged raw (e4m3 bytes, cp.async, two stages ahead) and then
// converted by all 256 threads into one fp16 tile in the planar 128B-swizzled layout of the 16-bit
// wgmma kernel (part1_wgmma.cuh): cvt.rn.f16x2.e4m3x2 is exact and keeps NaN. The products run in
// fp16 whatever q's dtype: a bf16 q row is scaled by the power of two that puts its largest
// magnitude in [2^14, 2^15) and converted once per piece, 2^-e folded into that row's score scale
// (as in the mma.sync fp8 kernel); the fp8_e4m3 scale multiplies the score scale and the output.
//
// One tile, in lock-step (__syncthreads between phases):
//   convert raw tile t -> fp16 tile (all), issue raw tile t+2 into the freed stage;
//   WG0: S = Q K^T (36 wgmmas m64n64k16), online softmax of its 64 rows, P to registers and to the
//        tile's 9th column group (K's rope part, no longer needed), alpha to shared memory;
//   O = alpha O + P V: WG0 the left 256 columns (P from registers), WG1 the right 256 (P from
//        shared memory), V read transposed from the tile.
// Rows outside the piece are zero-filled by the copies, so V holds no other position's bytes;
// S masks each row at its own token's limit (token_limits, q_len > 1) and at the piece's end.
// Shared memory: Q 72 KB + the fp16 tile 72 KB + 2 raw stages of 36 KB.
// fp8_ds_mla is not served here (its per-row block scales would have to be applied inside the
// 576-long wgmma chain): the mma.sync fp8 instance serves it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdint>
#include <type_traits>

#include "core/merge.hpp"
#include "kernels/common/env_switch.hpp"
#include "kernels/common/epilogue.cuh"
#include "kernels/common/fp8.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/tile_math.cuh"

namespace splitmla::kernels {

struct Part1WgmmaFp8Traits {
  static constexpr int kThreads = 256;
  static constexpr int HB = 64;                              // query rows per CTA = wgmma M
  static constexpr int BN = kWgmmaKeyTile;                   // KV rows per tile
  static constexpr uint32_t kGroupBytes = BN * 128;          // one 64-column group of a tile
  static constexpr uint32_t kTileBytes = 9 * kGroupBytes;    // 73,728
  static constexpr uint32_t kRawRowBytes = kFp8E4M3RowBytes;  // 576
  static constexpr uint32_t kRawBytes = BN * kRawRowBytes;   // 36,864

  struct Shared {
    uint8_t q[kTileBytes];      // fp16 (after the per-piece conversion), planar swizzled
    uint8_t kv[kTileBytes];     // the current tile, fp16, planar swizzled; group 8 then holds P
    uint8_t raw[2][kRawBytes];  // raw e4m3 rows of the next tiles, row-major
    float alpha[HB];            // rescale factor of each row for the current tile
    float inv_l[HB];
    float lse[HB];
    float qs[HB];               // 2^-e of each q row
    unsigned qmax[HB];          // bf16 q: largest |q| of each row (float bits)
    int bad[2];                 // by piece parity: 1 bad page id, 2 bad scale
  };
  static constexpr size_t kSmemBytes = sizeof(Shared) + 1024;  // + alignment slack
  static_assert(kTileBytes % 1024 == 0 && kRawBytes % 1024 == 0, "tiles keep 1024-byte alignment");
  static_assert(kSmemBytes <= 232448, "part1 wgmma fp8 shared memory exceeds the 227 KB limit");
};

template <class T>
__global__ void __launch_bounds__(256, 1) part1_wgmma_fp8_kernel(const __grid_constant__ Part1Params p) {
#if SPLITMLA_SM90A
  using Tr = Part1WgmmaFp8Traits;
  constexpr int BN = Tr::BN;
  constexpr uint32_t G = Tr::kGroupBytes;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* base = smem_raw + ((1024u - (ptx::smem_addr(smem_raw) & 1023u)) & 1023u);
  auto& sm = *reinterpret_cast<Tr::Shared*>(base);

  const WgmmaThread th = wgmma_thread();
  const int tid = th.tid, wg = th.wg, wwarp = th.wwarp, lane = th.lane;
  const WgmmaCta cta = wgmma_cta<Tr::HB>(p);
  const int row0 = cta.row0, first = cta.first, last = cta.last;

  const uint32_t sq = ptx::smem_addr(sm.q);
  const uint32_t skv = ptx::smem_addr(sm.kv);
  const uint32_t sraw0 = ptx::smem_addr(sm.raw[0]);
  const int q4 = lane & 3;
  const int ra = wwarp * 16 + (lane >> 2);  // this thread's two rows in the accumulators
  const int rb = ra + 8;
  const uint64_t evict_first = ptx::policy_evict_first();
  const uint8_t* __restrict__ kv8 = static_cast<const uint8_t*>(p.kv);
  const int page_mask = (1 << p.page_shift) - 1;

  // fp8_e4m3's per-call scale: folded into the score scale and the output; a bad one makes every
  // piece NaN and flags kErrBadScale.
  const float sc = __ldg(p.kv_scale);
  const bool scale_bad = !(sc > 0.f && sc <= FLT_MAX);
  const float kv_scale = scale_bad ? 1.f : sc;
  const float scale_log2 = p.scale_log2 * kv_scale;

  for (int pi = first; pi < last; ++pi) {
    int* const bad_flag = &sm.bad[(pi - first) & 1];
    const Piece pc = p.pieces[pi];
    const int b = __shfl_sync(0xffffffffu, pc.b, 0);
    const int begin = __shfl_sync(0xffffffffu, pc.begin, 0);
    const int end = __shfl_sync(0xffffffffu, pc.end, 0);
    const int ntiles = end > begin ? (end - begin + BN - 1) / BN : 0;
    const int32_t* bt = p.block_table + static_cast<int64_t>(b) * p.bt_stride;
    if (tid == 0) *bad_flag = scale_bad ? 2 : 0;
    if (tid < Tr::HB) sm.qmax[tid] = 0u;
    __syncthreads();  // the previous piece retired; the resets visible

    // Q rows (zeros past q_len x num_heads) into the planar swizzled layout; they land with raw
    // tile 0 (one commit group).
    {
      const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * p.q_stride_batch;
      for (int c = tid; c < Tr::HB * 72; c += Tr::kThreads) {
        const int row = c / 72, ch = c % 72;
        const int r = row0 + row;
        const bool ok = r < p.rows;
        const int t = query_token(p, r), h = r - t * p.num_heads;
        const T* src = ok ? qb + static_cast<int64_t>(t) * p.q_stride_token +
                                static_cast<int64_t>(h) * p.q_stride_head + ch * 8
                          : qb;
        ptx::cp_async_16(sq + (ch >> 3) * G + row * 128 + (((ch & 7) ^ (row & 7)) << 4), src,
                         ok ? 16 : 0);
      }
    }
    // Raw tile t into stage t & 1: four threads per row, chunks sub, sub + 4, ... of its 36.
    // Rows past the piece are zero-filled and neither their table entry nor their bytes are read.
    auto load_raw = [&](int t) {
      const int row = tid >> 2, sub = tid & 3;
      const int pos = begin + t * BN + row;
      const uint32_t dst = sraw0 + static_cast<uint32_t>(t & 1) * Tr::kRawBytes +
                           static_cast<uint32_t>(row * Tr::kRawRowBytes + sub * 16);
      const uint8_t* src = kv8;
      int bytes = 0;
      if (pos < end) {
        const int page = __ldg(bt + (pos >> p.page_shift));
        if (static_cast<unsigned>(page) < static_cast<unsigned>(p.num_pages)) {
          src = kv8 + static_cast<int64_t>(page) * p.kv_stride_page +
                static_cast<int64_t>(pos & page_mask) * Tr::kRawRowBytes + sub * 16;
          bytes = 16;
        } else {
          atomicOr(bad_flag, 1);
        }
      }
#pragma unroll
      for (int j = 0; j < 9; ++j)
        ptx::cp_async_16(dst + 64 * j, src + (bytes ? 64 * j : 0), bytes, evict_first);
    };
    if (ntiles > 0) load_raw(0);
    ptx::cp_async_commit();  // Q + raw tile 0
    if (ntiles > 1) load_raw(1);
    ptx::cp_async_commit();  // raw tile 1

    // WG0's two rows: their own ends (q_len > 1: each token's limit) and softmax state.
    const int end_a = wg == 0 ? row_end(p, b, row0 + ra, end) : end;
    const int end_b = wg == 0 ? row_end(p, b, row0 + rb, end) : end;
    float lsum_a = 0.f, lsum_b = 0.f;
    float m_a = merge::neg_inf<float>(), m_b = merge::neg_inf<float>();
    float o[128];  // this warpgroup's 256 output columns of its 64 rows
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    for (int t = 0; t < ntiles; ++t) {
      ptx::cp_async_wait<1>();  // this thread's copies of raw tile t (and Q) landed
      __syncthreads();          // everyone's; the fp16 tile is free (PV of t-1 retired)

      if (t == 0) {
        // ---- Q to fp16: a bf16 row times 2^e (largest |q| in [2^14, 2^15)), fp16 as it is ----
        constexpr int kUnits = Tr::HB * 36;  // (row, 16-column block): two swizzled chunks
        if constexpr (std::is_same_v<T, __nv_bfloat16>) {
          for (int u = tid; u < kUnits; u += Tr::kThreads) {
            const int row = u / 36, k = u - row * 36;
            const uint8_t* rp = sm.q + (k >> 2) * G + row * 128;
            const int j = 2 * (k & 3);
            const uint4 c0 = *reinterpret_cast<const uint4*>(rp + ((j ^ (row & 7)) << 4));
            const uint4 c1 = *reinterpret_cast<const uint4*>(rp + (((j + 1) ^ (row & 7)) << 4));
            atomicMax(&sm.qmax[row], __float_as_uint(max_abs16<T>(c0, c1)));
          }
          __syncthreads();
          for (int u = tid; u < kUnits; u += Tr::kThreads) {
            const int row = u / 36, k = u - row * 36;
            const int e = q_row_exponent(__uint_as_float(sm.qmax[row]));
            uint8_t* rp = sm.q + (k >> 2) * G + row * 128;
            const int j = 2 * (k & 3);
            uint4* p0 = reinterpret_cast<uint4*>(rp + ((j ^ (row & 7)) << 4));
            uint4* p1 = reinterpret_cast<uint4*>(rp + (((j + 1) ^ (row & 7)) << 4));
            const uint4 c0 = *p0, c1 = *p1;
            uint32_t w[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
#pragma unroll
            for (int i = 0; i < 8; ++i) {
              const float2 f = ptx::unpack2<T>(w[i]);
              w[i] = ptx::pack2<__half>(ldexpf(f.x, e), ldexpf(f.y, e));
            }
            *p0 = make_uint4(w[0], w[1], w[2], w[3]);
            *p1 = make_uint4(w[4], w[5], w[6], w[7]);
            if (k == 0) sm.qs[row] = ldexpf(1.f, -e);
          }
        } else {
          if (tid < Tr::HB) sm.qs[tid] = 1.f;
        }
      }

      // ---- raw tile t -> the fp16 tile: 16 e4m3 values -> two swizzled 16-byte chunks ----
      {
        // Unit u: 8 consecutive units are rows 2m, 2m + 1 x k blocks 4n .. 4n + 3, so each
        // quarter-warp's 16-byte loads ((4 row + k) mod 8) and swizzled stores ((2 (k & 3)) ^
        // (row & 7)) fall in 8 distinct bank groups.
        const uint8_t* raw = sm.raw[t & 1];
        for (int u = tid; u < BN * 36; u += Tr::kThreads) {
          const int q = u >> 3, i = u & 7;
          const int row = 2 * (q / 9) + (i >> 2), k = 4 * (q % 9) + (i & 3);  // columns 16k ..

          const uint4 v = *reinterpret_cast<const uint4*>(raw + row * Tr::kRawRowBytes + 16 * k);
          const uint4 lo = make_uint4(e4m3x2_to_f16x2(v.x), e4m3x2_to_f16x2(v.x >> 16),
                                      e4m3x2_to_f16x2(v.y), e4m3x2_to_f16x2(v.y >> 16));
          const uint4 hi = make_uint4(e4m3x2_to_f16x2(v.z), e4m3x2_to_f16x2(v.z >> 16),
                                      e4m3x2_to_f16x2(v.w), e4m3x2_to_f16x2(v.w >> 16));
          uint8_t* rp = sm.kv + (k >> 2) * G + row * 128;
          const int j = 2 * (k & 3);
          *reinterpret_cast<uint4*>(rp + ((j ^ (row & 7)) << 4)) = lo;
          *reinterpret_cast<uint4*>(rp + (((j + 1) ^ (row & 7)) << 4)) = hi;
        }
      }
      sm90::fence_proxy_async();  // generic stores (Q, the tile) -> the wgmmas' async reads
      __syncthreads();            // the tile (and Q) complete; raw stage t & 1 free
      if (t + 2 < ntiles) load_raw(t + 2);
      ptx::cp_async_commit();     // one group per tile (maybe empty) keeps wait<1> exact

      // ---- WG0: S = Q K^T, online softmax, P ----
      uint32_t pr[8][2];
      if (wg == 0) {
        float sacc[32];
#pragma unroll
        for (int i = 0; i < 32; ++i) sacc[i] = 0.f;
        qk_tile<__half>(sacc, sq, skv, G);
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < 32; ++i) sm90::reg_fence(sacc[i]);

        const int tile0 = begin + t * BN;
        const int valid_a = end_a - tile0, valid_b = end_b - tile0;  // each row's own limit
        // The lazy softmax needs positive scales: scale_log2 > 0 (a bad kv_scale was replaced by
        // 1) and qs = 2^-e with |e| <= 100; FLT_MIN only guards an underflow of the product, where
        // every score is 0 to float precision either way.
        const float sc_a = fmaxf(scale_log2 * sm.qs[ra], FLT_MIN);
        const float sc_b = fmaxf(scale_log2 * sm.qs[rb], FLT_MIN);
        float al_a, al_b;
        softmax_tile<__half>(sacc, q4, 0, valid_a, valid_b, sc_a, sc_b, m_a, m_b, lsum_a, lsum_b,
                             al_a, al_b, pr);
        // P into group 8 of the tile (K's rope part: read by the products above, done) for WG1.
        store_p_tile(sm.kv, ra, rb, q4, pr);
        if (q4 == 0) {
          sm.alpha[ra] = al_a;
          sm.alpha[rb] = al_b;
        }
        sm90::fence_proxy_async();
      }
      __syncthreads();  // P and alpha visible to WG1

      // ---- O = alpha O + P V: WG0 columns 0..255 (P from registers), WG1 256..511 ----
      {
        const float al_a = sm.alpha[ra], al_b = sm.alpha[rb];
        if (any_rescale(al_a, al_b)) rescale_rows(o, al_a, al_b);  // alpha = 1 on most tiles
      }
      sm90::wgmma_fence();
      if (wg == 0) {
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          const uint32_t a[4] = {pr[2 * kk][0], pr[2 * kk][1], pr[2 * kk + 1][0], pr[2 * kk + 1][1]};
          sm90::pv_rs<__half>(o, a, desc(kDescV, skv + kk * 2048), 1);
        }
      } else {
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk)
          sm90::pv_ss<__half>(o, desc(kDescK, skv + 8 * G + kk * 32),
                              desc(kDescV, skv + 4 * G + kk * 2048), 1);
      }
      sm90::wgmma_commit();
      sm90::wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < 128; ++i) sm90::reg_fence(o[i]);
    }
    ptx::cp_async_wait<0>();  // no copy of this piece still in flight into Q or a stage

    // Row sums over the quad (WG0), then the epilogue factors.
    if (wg == 0) finish_rows(q4, ra, rb, m_a, m_b, lsum_a, lsum_b, sm.inv_l, sm.lse);
    __syncthreads();  // inv_l / lse / bad visible

    // ---- epilogue: each warpgroup writes its 256 output columns ----
    const int sbad = *bad_flag;
    const bool bad = sbad != 0 || (p.req_error[b] & kErrBadSeqLen) != 0;
    if (tid == 0 && sbad != 0)
      atomicOr(&p.req_error[b], ((sbad & 1) ? kErrBadPageId : 0u) | ((sbad & 2) ? kErrBadScale : 0u));
    const float nan = merge::quiet_nan<float>();
    const int col0 = wg * 256 + 2 * q4;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = half ? rb : ra;
      store_wgmma_row_out<T>(p, pc, b, row0 + r, o, half, col0, sm.inv_l[r] * kv_scale, bad,
                               row0 + r < p.rows);
    }
    if (tid < Tr::HB && row0 + tid < p.rows)
      store_row_lse(p, pc, b, row0 + tid, bad ? nan : sm.lse[tid]);
  }
#else
  __trap();  // built for a target without wgmma: the host never selects this variant there
#endif
}

// part1, Hopper wgmma variant for fp8_e4m3 caches, v1: three warpgroups (the 16-bit v2 kernel's
// roles, part1_wgmma.cuh), the conversion beside the products.
//
// WG0 (184 registers): Q in fp16 (a bf16 row times 2^e, as in v0) with its latent part's first
//   31 k steps in registers, its last one and its rope group in shared memory; per tile S = Q K^T
//   on the tile's fp16 copy, the lazy softmax, P into the copy's rope group.
// WG1 / WG2 (160 registers): the PV halves of O, and the conversion: after tile t's PV, once both
//   halves are done with its fp16 copy, tile t + 2's raw e4m3 rows into that copy (half the rows
//   each), which WG0's Q K^T of tile t + 1 and its softmax hide. WG2's first warp also loads the
//   raw rows: one bulk copy per page run (pages of 8 rows or more; rows past the piece are not
//   read), two raw stages ahead.
// Shared memory: two fp16 copies (72 KB each), two raw stages (36 KB each), Q's rope group and
// last k step, factors, barriers: 232,296 of 232,448 bytes. Rows of a copy outside the piece
// are zeros (the converters write them so), so V never holds another position's bytes.
struct Part1WgmmaFp8v1Traits {
  static constexpr int kThreads = 384;
  static constexpr int HB = 64;
  static constexpr int BN = kWgmmaKeyTile;
  static constexpr uint32_t kGroupBytes = BN * 128;
  static constexpr uint32_t kTileBytes = 9 * kGroupBytes;            // 73,728
  static constexpr uint32_t kRawRowBytes = kFp8E4M3RowBytes;         // 576
  static constexpr uint32_t kRawBytes = BN * kRawRowBytes;           // 36,864

  struct Shared {
    uint8_t kv[2][kTileBytes];    // fp16 copies of tiles g (stage g & 1), planar swizzled
    uint8_t raw[2][kRawBytes];    // raw e4m3 rows of tiles g (stage g & 1), row-major
    uint8_t qrope[kGroupBytes];   // Q's rope group in fp16
    union {
      uint8_t qlast[64 * 32];     // Q's columns 496..511 in fp16, 32B-swizzled
      struct {
        float inv_l[HB];
        float lse[HB];
      } fin;
    };
    float alpha[2][HB];
    float qsc[HB];       // each row's score scale (the call's, the fp8 scale, 2^-e)
    uint64_t rfull[2];   // the producer's arrival and the raw tile's bytes
    uint64_t rempty[2];  // the 256 converters read the raw tile
    uint64_t cfull[2];   // the 256 converters wrote the fp16 copy
    uint64_t pready[2];  // WG0's 128 threads wrote P and the factors
    uint64_t pvdone[2];  // the 256 PV threads finished their PV of the copy
    uint64_t qready;     // WG0's 128 threads stored Q's shared parts (a phase per piece)
    uint64_t piece;      // all 384 threads: the per-piece barriers (A) and (B)
    int bad[2];          // by piece parity: 1 bad page id, 2 bad scale
  };
  static constexpr size_t kSmemBytes = sizeof(Shared);
  static_assert(kSmemBytes <= 232448, "part1 wgmma fp8 v1 shared memory exceeds the 227 KB limit");
};

// fp16 pair of a T pair times f (a power of two: exact unless it overflows, which the choice of f
// rules out).
template <class T>
__device__ __forceinline__ uint32_t scaled_half2(uint32_t v, float f) {
  const float2 x = ptx::unpack2<T>(v);
  return ptx::pack2<__half>(x.x * f, x.y * f);
}
template <class T>
__device__ __forceinline__ uint4 scaled_half8(uint4 v, float f) {
  return make_uint4(scaled_half2<T>(v.x, f), scaled_half2<T>(v.y, f), scaled_half2<T>(v.z, f),
                    scaled_half2<T>(v.w, f));
}
template <class T>
__device__ __forceinline__ float max_abs8(uint4 v) {
  return max_abs16<T>(v, make_uint4(0u, 0u, 0u, 0u));
}

template <class T>
__global__ void __launch_bounds__(384, 1) part1_wgmma3_fp8_kernel(const __grid_constant__ Part1Params p) {
#if SPLITMLA_SM90A
  using Tr = Part1WgmmaFp8v1Traits;
  constexpr int BN = Tr::BN;
  constexpr uint32_t G = Tr::kGroupBytes;
  constexpr uint32_t kTile = Tr::kTileBytes;
  constexpr uint32_t kRaw = Tr::kRawBytes;
  extern __shared__ __align__(1024) uint8_t smem_fp8v1[];
  uint8_t* base = smem_fp8v1;
  if ((ptx::smem_addr(base) & 1023u) != 0) __trap();
  auto& sm = *reinterpret_cast<Tr::Shared*>(base);

  const WgmmaThread th = wgmma_thread();
  const int tid = th.tid, wg = th.wg, wwarp = th.wwarp, lane = th.lane;
  const WgmmaCta cta = wgmma_cta<Tr::HB>(p);
  const int row0 = cta.row0, first = cta.first, last = cta.last;

  using Sh = Tr::Shared;
  const uint32_t skv0 = ptx::smem_addr(base);
  const uint32_t sraw0 = skv0 + static_cast<uint32_t>(offsetof(Sh, raw));
  const uint32_t sqrope = skv0 + static_cast<uint32_t>(offsetof(Sh, qrope));
  const uint32_t sqlast = skv0 + static_cast<uint32_t>(offsetof(Sh, qlast));
  const uint32_t rfull0 = skv0 + static_cast<uint32_t>(offsetof(Sh, rfull));
  const uint32_t rempty0 = skv0 + static_cast<uint32_t>(offsetof(Sh, rempty));
  const uint32_t cfull0 = skv0 + static_cast<uint32_t>(offsetof(Sh, cfull));
  const uint32_t pready0 = skv0 + static_cast<uint32_t>(offsetof(Sh, pready));
  const uint32_t pvdone0 = skv0 + static_cast<uint32_t>(offsetof(Sh, pvdone));
  const uint32_t qready = skv0 + static_cast<uint32_t>(offsetof(Sh, qready));
  const uint32_t piece_bar = skv0 + static_cast<uint32_t>(offsetof(Sh, piece));
  sm90::init_mbarriers<2>(
      tid, {{rfull0, 1}, {rempty0, 256}, {cfull0, 256}, {pready0, 128}, {pvdone0, 256}},
      {{qready, 128}, {piece_bar, static_cast<uint32_t>(Tr::kThreads)}});

  const int q4 = lane & 3;
  const int ra = wwarp * 16 + (lane >> 2);
  const int rb = ra + 8;
  const int page_mask = (1 << p.page_shift) - 1;
  const float nan = merge::quiet_nan<float>();
  // fp8_e4m3's per-call scale: folded into the score scale and the output; a bad one makes every
  // piece NaN and flags kErrBadScale.
  const float sc = __ldg(p.kv_scale);
  const bool scale_bad = !(sc > 0.f && sc <= FLT_MAX);
  const float kv_scale = scale_bad ? 1.f : sc;

  const int run_shift = p.page_shift < 6 ? p.page_shift : 6;
  const int runs = BN >> run_shift;
  PieceBarrier pieces_done{piece_bar, 0u};  // the per-piece barriers (A) and (B)

  uint32_t tile_seq = 0;  // tiles this CTA finished before the current piece (barrier phases)
  if (wg == 0) {
    // ------------------------------- QK^T and softmax -------------------------------
    sm90::setmaxnreg_inc<184>();
    uint32_t q_phase = 0;
    for (int pi = first; pi < last; ++pi) {
      const WgmmaPiece in = wgmma_piece(p, pi, run_shift);
      if (tid == 0) sm.bad[(pi - first) & 1] = scale_bad ? 2 : 0;
      pieces_done.sync();  // (A)

      // Q rows ra and rb of this quad: the latent part as A fragments, the rope group's chunks
      // 2 q4 and 2 q4 + 1 of both rows, and chunk q4 & 1 of columns 496..511 of row ra (q4 < 2)
      // or rb; a bf16 row is scaled by the 2^e that puts its largest |q| in [2^14, 2^15).
      const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(in.b) * p.q_stride_batch;
      auto q_row = [&](int r) -> const T* {
        if (row0 + r >= p.rows) return nullptr;
        const int qt = query_token(p, row0 + r), qh = row0 + r - qt * p.num_heads;
        return qb + static_cast<int64_t>(qt) * p.q_stride_token + static_cast<int64_t>(qh) * p.q_stride_head;
      };
      auto chunk = [&](const T* row, int col) {
        return row ? __ldg(reinterpret_cast<const uint4*>(row + col)) : make_uint4(0u, 0u, 0u, 0u);
      };
      const T* qra = q_row(ra);
      const T* qrb = q_row(rb);
      const int lrow = q4 < 2 ? ra : rb;
      // The shared parts are read twice (for the rows' maxima, then to store them scaled), so
      // their registers are free while Q's 124 fragments are loaded.
      auto rope_chunk = [&](int j) { return chunk(j < 2 ? qra : qrb, kHeadDimV + 16 * q4 + 8 * (j & 1)); };
      auto last_chunk = [&] { return chunk(q4 < 2 ? qra : qrb, 16 * kQkRsSteps + 8 * (q4 & 1)); };
      float f_a = 1.f, f_b = 1.f;  // the rows' 2^e
      float m_a = 0.f, m_b = 0.f;
      if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        m_a = fmaxf(max_abs8<T>(rope_chunk(0)), max_abs8<T>(rope_chunk(1)));
        m_b = fmaxf(max_abs8<T>(rope_chunk(2)), max_abs8<T>(rope_chunk(3)));
        const float ml = max_abs8<T>(last_chunk());
        if (q4 < 2)
          m_a = fmaxf(m_a, ml);
        else
          m_b = fmaxf(m_b, ml);
      }
      uint32_t qa[kQkRsSteps][4];
      load_q_fragments<T>(qra, qrb, q4, qa);
      if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        // The fragments' largest magnitudes on the bf16 bits (|x| of a bf16 is its low 15 bits,
        // ordered as the values; a NaN drops out at the float maximum below, as in v0's
        // max_abs16, and the row's scores are NaN anyway): two SIMD maxima a register, no float
        // copies of the 124.
        uint32_t xa = 0u, xb = 0u;
#pragma unroll
        for (int ks = 0; ks < kQkRsSteps; ++ks) {
          xa = __vmaxu2(xa, __vmaxu2(qa[ks][0] & 0x7FFF7FFFu, qa[ks][2] & 0x7FFF7FFFu));
          xb = __vmaxu2(xb, __vmaxu2(qa[ks][1] & 0x7FFF7FFFu, qa[ks][3] & 0x7FFF7FFFu));
        }
        xa = max(xa & 0xFFFFu, xa >> 16);
        xb = max(xb & 0xFFFFu, xb >> 16);
        m_a = fmaxf(m_a, __uint_as_float(xa << 16));
        m_b = fmaxf(m_b, __uint_as_float(xb << 16));
        m_a = fmaxf(m_a, __shfl_xor_sync(0xffffffffu, m_a, 1));
        m_a = fmaxf(m_a, __shfl_xor_sync(0xffffffffu, m_a, 2));
        m_b = fmaxf(m_b, __shfl_xor_sync(0xffffffffu, m_b, 1));
        m_b = fmaxf(m_b, __shfl_xor_sync(0xffffffffu, m_b, 2));
        f_a = ldexpf(1.f, q_row_exponent(m_a));
        f_b = ldexpf(1.f, q_row_exponent(m_b));
      }
#pragma unroll
      for (int ks = 0; ks < kQkRsSteps; ++ks) {
        qa[ks][0] = scaled_half2<T>(qa[ks][0], f_a);
        qa[ks][1] = scaled_half2<T>(qa[ks][1], f_b);
        qa[ks][2] = scaled_half2<T>(qa[ks][2], f_a);
        qa[ks][3] = scaled_half2<T>(qa[ks][3], f_b);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int r = j < 2 ? ra : rb, c = 2 * q4 + (j & 1);
        *reinterpret_cast<uint4*>(&sm.qrope[r * 128 + ((c ^ (r & 7)) << 4)]) =
            scaled_half8<T>(rope_chunk(j), j < 2 ? f_a : f_b);
      }
      *reinterpret_cast<uint4*>(sm.qlast + sm90::k16_offset_32b(lrow, 8 * (q4 & 1))) =
          scaled_half8<T>(last_chunk(), q4 < 2 ? f_a : f_b);
      // The score scale of each row: the call's, the fp8 scale, 2^-e (FLT_MIN: the lazy softmax
      // needs positive scales; it only guards an underflow where every score is 0 anyway); in
      // shared memory, read at each tile, for the registers.
      if (q4 == 0) {
        sm.qsc[ra] = fmaxf(p.scale_log2 * kv_scale / f_a, FLT_MIN);
        sm.qsc[rb] = fmaxf(p.scale_log2 * kv_scale / f_b, FLT_MIN);
      }
      sm90::fence_proxy_async();
      sm90::mbar_arrive(qready);
      sm90::mbar_wait(qready, q_phase);
      q_phase ^= 1u;

      const int end_a = row_end(p, in.b, row0 + ra, in.end), end_b = row_end(p, in.b, row0 + rb, in.end);
      float lsum_a = 0.f, lsum_b = 0.f;
      m_a = merge::neg_inf<float>();
      m_b = merge::neg_inf<float>();
      for (int t = 0; t < in.ntiles; ++t) {
        const uint32_t g = tile_seq + t, s = g & 1u, u = g >> 1;
        const uint32_t skv = skv0 + s * kTile;
        sm90::mbar_wait(cfull0 + 8 * s, u & 1u);
        float sacc[32];
        qk_tile_rs<__half>(sacc, qa, sqlast, sqrope, skv, G);
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < 32; ++i) sm90::reg_fence(sacc[i]);
        const int tile0 = in.w0 + t * BN;
        const int lo_t = t == 0 ? in.lo : 0;
        float al_a, al_b;
        uint32_t pr[8][2];
        softmax_tile<__half>(sacc, q4, lo_t, end_a - tile0, end_b - tile0, sm.qsc[ra], sm.qsc[rb],
                             m_a, m_b, lsum_a, lsum_b, al_a, al_b, pr);
        store_p_tile_stsm(skv, wwarp, lane, pr);
        if (q4 == 0) {
          sm.alpha[s][ra] = al_a;
          sm.alpha[s][rb] = al_b;
        }
        sm90::fence_proxy_async();
        sm90::mbar_arrive(pready0 + 8 * s);
      }
      finish_rows(q4, ra, rb, m_a, m_b, lsum_a, lsum_b, sm.fin.inv_l, sm.fin.lse);
      tile_seq += in.ntiles;
      pieces_done.sync();  // (B)

      const Piece pc = p.pieces[static_cast<uint32_t>(pi)];
      const int sbad = sm.bad[(pi - first) & 1];
      const bool bad = sbad != 0 || (p.req_error[pc.b] & kErrBadSeqLen) != 0;
      if (tid == 0 && sbad != 0)
        atomicOr(&p.req_error[pc.b], ((sbad & 1) ? kErrBadPageId : 0u) | ((sbad & 2) ? kErrBadScale : 0u));
      if (tid < Tr::HB && row0 + tid < p.rows)
        store_row_lse(p, pc, pc.b, row0 + tid, bad ? nan : sm.fin.lse[tid]);
    }
  } else {
    // ------------------------ PV halves, conversion (+ the producer) ------------------------
    sm90::setmaxnreg_dec<160>();
    const int half = wg - 1;
    const int ct = tid - 128;  // converter index 0..255: row ct >> 2, k blocks (ct & 3) + 4 i
    const bool producer = wg == 2 && wwarp == 0;
    const uint64_t evict_first = ptx::policy_evict_first();
    const uint8_t* __restrict__ kv8 = static_cast<const uint8_t*>(p.kv);
    for (int pi = first; pi < last; ++pi) {
      const int slot = (pi - first) & 1;
      const WgmmaPiece in = wgmma_piece(p, pi, run_shift);
      pieces_done.sync();  // (A)
      // Raw tile t (sequence g) into raw stage g & 1: lane k < runs copies run k's rows that lie
      // in the piece, [pos, min(pos + R, end)), as one bulk copy; a bad page copies nothing and
      // flags the piece (its rows stay stale: the piece's output is NaN).
      auto issue_raw = [&](uint32_t g, int t) {
        const uint32_t s = g & 1u;
        if (g >= 2) sm90::mbar_wait(rempty0 + 8 * s, ((g >> 1) - 1) & 1u);
        const uint32_t bar = rfull0 + 8 * s;
        const int pos = in.w0 + t * BN + (lane << run_shift);
        uint32_t bytes = 0;
        int page = 0;
        if (lane < runs && pos < in.end) {
          page = __ldg(p.block_table + static_cast<int64_t>(in.b) * p.bt_stride + (pos >> p.page_shift));
          if (static_cast<unsigned>(page) < static_cast<unsigned>(p.num_pages))
            bytes = static_cast<uint32_t>(min(1 << run_shift, in.end - pos)) * Tr::kRawRowBytes;
          else
            atomicOr(&sm.bad[slot], 1);
        }
        // The phase's whole byte count from lane 0 before any copy is issued (as v2 does), so
        // no copy can complete the phase early whatever the order of the lanes' operations.
        const uint32_t total = __reduce_add_sync(0xffffffffu, bytes);
        if (lane == 0 && total != 0) sm90::mbar_expect_tx(bar, total);
        __syncwarp();
        if (bytes != 0)
          sm90::bulk_load(sraw0 + s * kRaw + static_cast<uint32_t>(lane << run_shift) * Tr::kRawRowBytes,
                          kv8 + static_cast<int64_t>(page) * p.kv_stride_page +
                              static_cast<int64_t>(pos & page_mask) * Tr::kRawRowBytes,
                          bytes, bar, evict_first);
        __syncwarp();
        if (lane == 0) sm90::mbar_arrive(bar);
      };
      // Tile t (sequence g) from raw stage g & 1 into fp16 copy g & 1, once both PV halves are
      // done with the copy's previous tile: this thread's row, 16-column blocks (ct & 3) + 4 i;
      // rows outside the piece as zeros. Then the copy is full for WG0 and the raw stage free.
      auto convert = [&](uint32_t g, int t) {
        const uint32_t s = g & 1u;
        if (g >= 2) sm90::mbar_wait(pvdone0 + 8 * s, ((g >> 1) - 1) & 1u);
        sm90::mbar_wait(rfull0 + 8 * s, (g >> 1) & 1u);
        const int row = ct >> 2;
        const int pos = in.w0 + t * BN + row;
        const bool valid = pos >= in.begin && pos < in.end;
        const uint32_t raw = sraw0 + s * kRaw + static_cast<uint32_t>(row) * Tr::kRawRowBytes;
        const uint32_t dst = skv0 + s * kTile + static_cast<uint32_t>(row) * 128;
#pragma unroll 1
        for (int i = 0; i < 9; ++i) {
          const int k = (ct & 3) + 4 * i;  // columns 16 k .. 16 k + 15
          uint4 lo = make_uint4(0u, 0u, 0u, 0u), hi = lo;
          if (valid) {
            const uint4 v = ptx::lds128(raw + 16 * k);
            lo = make_uint4(e4m3x2_to_f16x2(v.x), e4m3x2_to_f16x2(v.x >> 16), e4m3x2_to_f16x2(v.y),
                            e4m3x2_to_f16x2(v.y >> 16));
            hi = make_uint4(e4m3x2_to_f16x2(v.z), e4m3x2_to_f16x2(v.z >> 16), e4m3x2_to_f16x2(v.w),
                            e4m3x2_to_f16x2(v.w >> 16));
          }
          const uint32_t rp = dst + (k >> 2) * G;
          const int j = 2 * (k & 3);
          ptx::sts128(rp + ((j ^ (row & 7)) << 4), lo);
          ptx::sts128(rp + (((j + 1) ^ (row & 7)) << 4), hi);
        }
        sm90::fence_proxy_async();
        sm90::mbar_arrive(cfull0 + 8 * s);
        sm90::mbar_arrive(rempty0 + 8 * s);
      };
      for (int t = 0; t < 2 && t < in.ntiles; ++t)
        if (producer) issue_raw(tile_seq + t, t);
      for (int t = 0; t < 2 && t < in.ntiles; ++t) {
        convert(tile_seq + t, t);
        if (producer && t + 2 < in.ntiles) issue_raw(tile_seq + t + 2, t + 2);
      }

      float o[128];
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] = 0.f;
      for (int t = 0; t < in.ntiles; ++t) {
        const uint32_t g = tile_seq + t, s = g & 1u, u = g >> 1;
        const uint32_t skv = skv0 + s * kTile;
        sm90::mbar_wait(pready0 + 8 * s, u & 1u);
        const float al_a = sm.alpha[s][ra], al_b = sm.alpha[s][rb];
        if (any_rescale(al_a, al_b)) rescale_rows(o, al_a, al_b);
        sm90::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk)
          sm90::pv_ss<__half>(o, desc(kDescK, skv + 8 * G + kk * 32),
                              desc(kDescV, skv + 4 * half * G + kk * 2048), 1);
        sm90::wgmma_commit();
        sm90::wgmma_wait<0>();
        sm90::mbar_arrive(pvdone0 + 8 * s);
        if (t + 2 < in.ntiles) {
          convert(g + 2, t + 2);
          if (producer && t + 4 < in.ntiles) issue_raw(g + 4, t + 4);
        }
      }
      tile_seq += in.ntiles;
      pieces_done.sync();  // (B)

      const Piece pc = p.pieces[static_cast<uint32_t>(pi)];
      const bool bad = sm.bad[slot] != 0 || (p.req_error[pc.b] & kErrBadSeqLen) != 0;
      const int col0 = half * 256 + 2 * q4;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = h ? rb : ra;
        store_wgmma_row_out<T>(p, pc, pc.b, row0 + r, o, h, col0, sm.fin.inv_l[r] * kv_scale, bad,
                                 row0 + r < p.rows);
      }
    }
  }
#else
  __trap();
#endif
}

// v1 (three warpgroups) where it applies: 64 query rows or more, pages of 8 rows or more (a run
// of a tile lies in one page), 16-byte aligned pages, unless SPLITMLA_WGMMA_FP8_V1=0 in the
// environment (read once; for comparing with v0 in one build).
inline bool wgmma_fp8_v1_enabled() {
  static const bool on = env_switch_on("SPLITMLA_WGMMA_FP8_V1");
  return on;
}

template <class T>
cudaError_t launch_part1_wgmma_fp8_instance(const Part1Params& p, int grid, cudaStream_t stream) {
  if (wgmma_fp8_v1_enabled() && p.rows >= 64 && p.page_shift >= 3 && p.kv_stride_page % 16 == 0 &&
      reinterpret_cast<uintptr_t>(p.kv) % 16 == 0)
    part1_wgmma3_fp8_kernel<T><<<grid, 384, Part1WgmmaFp8v1Traits::kSmemBytes, stream>>>(p);
  else
    part1_wgmma_fp8_kernel<T><<<grid, 256, Part1WgmmaFp8Traits::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

template <class T>
cudaError_t prepare_part1_wgmma_fp8_instance() {
  cudaError_t e = cudaFuncSetAttribute(part1_wgmma_fp8_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(Part1WgmmaFp8Traits::kSmemBytes));
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(part1_wgmma3_fp8_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(Part1WgmmaFp8v1Traits::kSmemBytes));
  return e;
}

template <class T>
cudaError_t occupancy_part1_wgmma_fp8_instance(int* blocks) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, part1_wgmma_fp8_kernel<T>, 256,
                                                       Part1WgmmaFp8Traits::kSmemBytes);
}

#define SPLITMLA_PART1_WGMMA_FP8_INSTANCE(T)                                                      \
  template cudaError_t launch_part1_wgmma_fp8_instance<T>(const Part1Params&, int, cudaStream_t); \
  template cudaError_t prepare_part1_wgmma_fp8_instance<T>();                                       \
  template cudaError_t occupancy_part1_wgmma_fp8_instance<T>(int*);

}  // namespace splitmla::kernels
