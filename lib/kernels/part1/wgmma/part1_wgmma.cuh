// part1, Hopper variant (sm_90a): 64 query rows per CTA on warpgroup MMAs (wgmma). A request's
// rows are its q_len x num_heads (token, head) pairs packed token-major (row = t * heads + h);
// each row sees the piece up to its own token's limit (token_limits, from the planner).
//
// Same contract as the mma.sync baseline (part1.cuh): for each (piece, head block) stream the
// piece's KV rows from the paged cache once, S = Q K^T and O += P V with fp32 accumulation, online
// softmax in base 2, and write the normalized output and lse (to `out` for a whole request, else
// to the piece's partial slot).
//
// CTA: 256 threads = two warpgroups, one CTA per SM, 64-row KV tiles in a 2-stage ring.
//   WG0 (math): S = Q K^T (36 x wgmma m64n64k16, both operands in shared memory), the softmax in
//       registers (a head row lives in one lane quad; a lazy running max, softmax_tile<T>, so
//       most tiles skip the O rescale in both warpgroups), P to shared memory, and the left half of
//       the output O[:, 0:256] += P V (4 x m64n256k16 with P from registers).
//   WG1 (loader): cp.async copies of Q; KV tiles by bulk tensor copies (TMA) when pages hold 8
//       rows or more (lane k of its first warp looks up run k of the tile, R = min(page, 64) rows
//       in one page, and issues its 9 boxes of 64 columns; bad page ids and runs past the end load the
//       out-of-bounds page, which is zero-filled), else by cp.async (one block-table lookup per
//       thread per tile, rows past the piece end and bad page ids zero-filled); then the right
//       half O[:, 256:512] += P V (4 x m64n256k16, P read from shared memory).
// Shared layout of Q and of each KV tile: 9 planar groups of 64 columns, each group 64 rows of
// 128 bytes with 16-byte chunks XORed by (row & 7): the 128B-swizzled K-major layout wgmma reads
// directly; V is the same bytes read as an MN-major (transposed) operand. P lives in group 8
// (the rope columns) of its own tile once S is computed, which only QK^T reads.
// Handshakes are mbarriers: full[s] (WG1's cp.async landed, 128 async arrivals), pready[s] (WG0
// wrote P and the rescale factors of the tile in s), empty[s] (WG0's PV on s finished, so WG1
// may refill it). Phases follow the CTA's running tile count, across pieces.
// Below it, part1_wgmma3_kernel (v2): three warpgroups and three stages for TMA tiles at pages of
// 64 rows or more (its own comment; lib/kernels/NOTES.md, "wgmma v2").
#pragma once

#include <cuda.h>  // CUtensorMap and its encoder's types (the encoder is reached through cudart)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cudaTypedefs.h>

#include <cstdint>

#include "core/merge.hpp"
#include "kernels/common/env_switch.hpp"
#include "kernels/common/epilogue.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/common/trace.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/tile_math.cuh"

namespace splitmla::kernels {

template <class T>
struct Part1WgmmaTraits {
  static constexpr int kThreads = 256;
  static constexpr int HB = 64;                      // query rows per CTA = wgmma M
  static constexpr int BN = kWgmmaKeyTile;           // KV rows per tile
  static constexpr int kStages = 2;
  static constexpr uint32_t kGroupBytes = BN * 128;  // one 64-column group of a tile
  static constexpr uint32_t kTileBytes = 9 * kGroupBytes;

  struct Shared {
    uint8_t q[kTileBytes];                // 1024-byte aligned (the kernel aligns the base)
    uint8_t kv[kStages][kTileBytes];
    float alpha[kStages][HB];             // rescale factor of each head row, per tile
    float inv_l[HB];
    float lse[HB];
    // Full barriers: full[s] per stage, or with group waits (the kernel's GF) full[9 s + g] per
    // 64-column group g of stage s.
    uint64_t full[kStages * 9];
    uint64_t pready[kStages];
    uint64_t empty[kStages];
    uint64_t zeroed;  // WG0's 128 threads zeroed a tile's masked V rows (replaces bar.sync 1, 128)
    int bad[2];  // a bad page id was seen; by piece parity, so resetting the next piece's flag
                 // never races with the epilogue reading this piece's
  };
  static constexpr size_t kSmemBytes = sizeof(Shared) + 1024;  // + alignment slack
  static_assert(kTileBytes % 1024 == 0, "tiles must keep 1024-byte swizzle atoms aligned");
  static_assert(kSmemBytes <= 232448, "part1 wgmma shared memory exceeds the 227 KB limit");
};

// The kernel's parameters: the common ones and a tensor map of the KV cache for the bulk tensor
// copies (TMA) that load tiles when pages hold 8 rows or more.
struct Part1WgmmaParams {
  Part1Params p;
  // KV cache as {576 columns, page_size rows, num_pages pages}; box {64, min(page_size, 64), 1}
  // (one 64-column group of a page's rows, up to 8 KB), 128B swizzle, out-of-bounds boxes
  // zero-filled.
  CUtensorMap kv_map;  // 64-byte aligned by its type
  int32_t kv_tma;  // 1: tiles load through kv_map; 0: cp.async (pages of 1..4 rows, odd strides)
  int32_t defer_pv;  // v2: 1 starts tile t's PV after tile t + 1's S is done (beside its softmax)
  int32_t piece_overlap;  // v2: 1 loads the next piece's first tiles while a piece ends
};


// GF (group full barriers): one full barrier per 64-column group of a stage, so QK^T starts on
// the first group of a tile and follows its boxes as they land; the launch takes it where a
// tile is several page runs (TMA, pages of 8..32 rows), whose boxes land spread out. With one
// run a tile (pages of 64+ rows) the nine boxes land together and the eight more waits only
// cost (lib/kernels/NOTES.md, "wgmma v1.3").
template <class T, bool GF>
__global__ void __launch_bounds__(256, 1)
    part1_wgmma_kernel(const __grid_constant__ Part1WgmmaParams wp) {
#if SPLITMLA_SM90A
  const Part1Params& p = wp.p;
  using Tr = Part1WgmmaTraits<T>;
  constexpr int BN = Tr::BN;
  constexpr uint32_t G = Tr::kGroupBytes;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* base = smem_raw + ((1024u - (ptx::smem_addr(smem_raw) & 1023u)) & 1023u);
  auto& sm = *reinterpret_cast<typename Tr::Shared*>(base);

  const WgmmaThread th = wgmma_thread();
  const int tid = th.tid, wg = th.wg, wt = th.wt, wwarp = th.wwarp, lane = th.lane;
  const WgmmaCta cta = wgmma_cta<Tr::HB>(p);
  const int row0 = cta.row0, first = cta.first, last = cta.last;

  const uint32_t sq = ptx::smem_addr(sm.q);
  const uint32_t skv0 = ptx::smem_addr(sm.kv[0]);
  const uint32_t full0 = ptx::smem_addr(&sm.full[0]);
  const uint32_t pready0 = ptx::smem_addr(&sm.pready[0]);
  const uint32_t empty0 = ptx::smem_addr(&sm.empty[0]);
  const uint32_t zeroed = ptx::smem_addr(&sm.zeroed);
  constexpr int kFullBars = GF ? 9 : 1;  // full barriers per stage
  // Full barrier of stage s, group grp (GF), or of stage s.
  auto fullbar = [&](uint32_t s, int grp) { return full0 + 8 * (GF ? s * 9 + grp : s); };
  if (tid == 0) {
    for (int s = 0; s < Tr::kStages; ++s) {
      for (int grp = 0; grp < kFullBars; ++grp) sm90::mbar_init(fullbar(s, grp), 128);
      sm90::mbar_init(pready0 + 8 * s, 128);
      sm90::mbar_init(empty0 + 8 * s, 128);
    }
    sm90::mbar_init(zeroed, 128);
    sm90::mbar_init_fence();
  }
  __syncthreads();

  const int q4 = lane & 3;
  const int ra = wwarp * 16 + (lane >> 2);  // this thread's two head rows in the accumulators
  const int rb = ra + 8;
  const uint64_t evict_first = ptx::policy_evict_first();
  const T* __restrict__ kv = static_cast<const T*>(p.kv);
  const int page_mask = (1 << p.page_shift) - 1;

  uint32_t tile_seq = 0;  // tiles this CTA finished before the current piece (barrier phases)
  uint32_t zero_phase = 0;  // WG0: phase of sm.zeroed for its next use
  for (int pi = first; pi < last; ++pi) {
    int* const bad_flag = &sm.bad[(pi - first) & 1];
    const Piece pc = p.pieces[pi];
    // Warp-uniform copies (shuffles) so the control flow around the wgmmas is provably uniform.
    const int b = __shfl_sync(0xffffffffu, pc.b, 0);
    const int begin = __shfl_sync(0xffffffffu, pc.begin, 0);
    const int end = __shfl_sync(0xffffffffu, pc.end, 0);
    // Tiles cover [w0, w0 + 64 * ntiles). With TMA, w0 is `begin` rounded down to R = min(page,
    // 64) rows, so each R-row run of a tile lies in one page and is one box; rows before `begin`
    // and from `end` on are masked in S and zeroed in V (their bytes belong to other positions).
    const bool tma = wp.kv_tma != 0;
    const int run_shift = p.page_shift < 6 ? p.page_shift : 6;  // TMA box rows: min(page, 64)
    const int runs = BN >> run_shift;                            // boxes per column group
    const int w0 = tma ? (begin & ~((1 << run_shift) - 1)) : begin;
    const int lo = begin - w0;
    const int ntiles = end > begin ? (end - w0 + BN - 1) / BN : 0;
    if (tid == 0) *bad_flag = 0;
    __syncthreads();  // previous piece fully retired; the flag reset visible to the loader

    float lsum_a = 0.f, lsum_b = 0.f;                          // WG0: per-thread partial sums
    float m_a = merge::neg_inf<float>(), m_b = merge::neg_inf<float>();
    float o[128];                                               // this warpgroup's output half
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;

    if (wg == 1) {
      // ------------------------------ loader + right half ------------------------------
      const int32_t* bt = p.block_table + static_cast<int64_t>(b) * p.bt_stride;
      // Two threads per row, alternate 16-byte chunks. Within each 8-lane phase of a warp the
      // rows are r, r+2, r+4, r+6 (same parity), so the 8 swizzled destinations fall in 8
      // different 16-byte bank groups: conflict-free stores; each row's 32 bytes stay adjacent
      // in global memory (full sectors).
      const int lsub = wt & 1, rsel = (wt >> 1) & 15;
      const int lrow = (wt >> 5) * 16 + (rsel >> 3) * 8 + (rsel & 3) * 2 + ((rsel >> 2) & 1);
      // Block-table entry of this thread's row in tile t (0 when the row is past the end); with
      // TMA, lane k < 8 of the first warp looks up run k (rows 8k..8k+7) and runs past the end get
      // the out-of-bounds page `num_pages` (zero fill).
      auto lookup = [&](int t) {
        if (tma && wt >= runs) return 0;
        const int pos = w0 + t * BN + (tma ? (wt << run_shift) : lrow);
        return pos < end ? __ldg(bt + (pos >> p.page_shift)) : (tma ? p.num_pages : 0);
      };
      auto issue_tile = [&](int t, int page) {
        const uint32_t g = tile_seq + t, s = g & 1;
        if (g >= 2) sm90::mbar_wait(empty0 + 8 * s, ((g >> 1) - 1) & 1);
        if (tma) {
          if (wt < runs) {
            const int pos = w0 + t * BN + (wt << run_shift);
            int pg = page;
            if (static_cast<unsigned>(pg) >= static_cast<unsigned>(p.num_pages)) {
              if (pos < end) atomicOr(bad_flag, 1);
              pg = p.num_pages;  // out of bounds: the box is zero-filled
            }
            // Lane 0 raises the byte count before its own arrival; boxes of other lanes that
            // complete first only drive the count negative for a while (the phase cannot finish
            // before lane 0 arrives). A __syncwarp here made ptxas serialize the wgmmas (C7518).
            // GF: group g's boxes (one a run, 8 KB in all) complete on group g's barrier.
            if (wt == 0) {
#pragma unroll
              for (int grp = 0; grp < kFullBars; ++grp)
                sm90::mbar_expect_tx(fullbar(s, grp), GF ? G : Tr::kTileBytes);
            }
            const uint32_t dst = skv0 + s * Tr::kTileBytes + (wt << run_shift) * 128;
#pragma unroll
            for (int grp = 0; grp < 9; ++grp)
              sm90::tma_load_3d(dst + grp * G, &wp.kv_map, fullbar(s, grp), 64 * grp,
                                pos & page_mask, pg, evict_first);
          }
          // Every loader thread arrives once its own cp.asyncs (Q, with tile 0) have landed.
#pragma unroll
          for (int grp = 0; grp < kFullBars; ++grp) sm90::mbar_arrive_cp_async(fullbar(s, grp));
          return;
        }
        const int pos = begin + t * BN + lrow;
        const T* src = kv;
        int bytes = 0;
        if (pos < end) {
          if (static_cast<unsigned>(page) < static_cast<unsigned>(p.num_pages)) {
            src = kv + static_cast<int64_t>(page) * p.kv_stride_page +
                  static_cast<int64_t>(pos & page_mask) * kHeadDimQK;
            bytes = 16;
          } else {
            atomicOr(bad_flag, 1);
          }
        }
        const uint32_t dst = skv0 + s * Tr::kTileBytes + lrow * 128;
#pragma unroll
        for (int j = 0; j < 36; ++j) {
          const int c = 2 * j + lsub;  // 16-byte chunk of the row
          ptx::cp_async_16(dst + (c >> 3) * G + (((c & 7) ^ (lrow & 7)) << 4),
                           src + (bytes ? c * 8 : 0), bytes, evict_first);
        }
        // GF: every group's barrier completes when all of the thread's copies have landed.
#pragma unroll
        for (int grp = 0; grp < kFullBars; ++grp) sm90::mbar_arrive_cp_async(fullbar(s, grp));
      };

      if (ntiles > 0) {
        // Q of this row block (zeros for rows past q_len * num_heads); lands with tile 0.
        const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * p.q_stride_batch;
        const int r = row0 + lrow;
        const bool ok = r < p.rows;
        const int qt = query_token(p, r), qh = r - qt * p.num_heads;
        const T* qsrc = ok ? qb + static_cast<int64_t>(qt) * p.q_stride_token +
                                 static_cast<int64_t>(qh) * p.q_stride_head
                           : qb;
        const int page0 = lookup(0);
        const int page1 = ntiles > 1 ? lookup(1) : 0;
#pragma unroll
        for (int j = 0; j < 36; ++j) {
          const int c = 2 * j + lsub;
          ptx::cp_async_16(sq + (c >> 3) * G + lrow * 128 + (((c & 7) ^ (lrow & 7)) << 4),
                           qsrc + (ok ? c * 8 : 0), ok ? 16 : 0);
        }
        issue_tile(0, page0);
        if (ntiles > 1) issue_tile(1, page1);
      }
      for (int t = 0; t < ntiles; ++t) {
        const uint32_t g = tile_seq + t, s = g & 1;
        const uint32_t skv = skv0 + s * Tr::kTileBytes;
        // The entry for the tile this iteration refills: its latency hides behind the MMAs.
        const int next_page = t + 2 < ntiles ? lookup(t + 2) : 0;
        sm90::mbar_wait(pready0 + 8 * s, (g >> 1) & 1);
        sm90::fence_proxy_async();
        const float al_a = sm.alpha[s][ra], al_b = sm.alpha[s][rb];
        if (any_rescale(al_a, al_b)) rescale_rows(o, al_a, al_b);
        sm90::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk)
          sm90::pv_ss<T>(o, desc(kDescK, skv + 8 * G + kk * 32),
                         desc(kDescV, skv + 4 * G + kk * 2048), 1);
        sm90::wgmma_commit();
        sm90::wgmma_wait<0>();
        if (t + 2 < ntiles) issue_tile(t + 2, next_page);
      }
    } else {
      // -------------------------------- math: QK, softmax, left half --------------------------------
      // This thread's two rows, each up to its own token's limit (row_end).
      const int end_a = row_end(p, b, row0 + ra, end), end_b = row_end(p, b, row0 + rb, end);
      float sacc[32];
      auto issue_qk = [&](int t) {
        const uint32_t g = tile_seq + t, s = g & 1;
        const uint32_t skv = skv0 + s * Tr::kTileBytes;
        // GF: group 0's barrier here (Q and cp.async tiles complete every group's barrier at
        // once: one proxy fence after it covers them), group g's inside qk_tile before its k steps.
        sm90::mbar_wait(fullbar(s, 0), (g >> 1) & 1);
        sm90::fence_proxy_async();
        qk_tile<T, GF>(sacc, sq, skv, G,
                       [&](int grp) { sm90::mbar_wait(fullbar(s, grp), (g >> 1) & 1); });
      };
      if (ntiles > 0) issue_qk(0);
      for (int t = 0; t < ntiles; ++t) {
        const uint32_t g = tile_seq + t, s = g & 1;
        const uint32_t skv = skv0 + s * Tr::kTileBytes;
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < 32; ++i) sm90::reg_fence(sacc[i]);

        // ---- online softmax of the tile (base 2); masked columns are -inf ----
        const int tile0 = w0 + t * BN;
        const int valid = end - tile0;  // columns [lo_t, valid) hold positions of the piece
        const int valid_a = end_a - tile0, valid_b = end_b - tile0;  // each row's own limit
        const int lo_t = t == 0 ? lo : 0;
        if (tma && (lo_t > 0 || valid < BN)) {
          // Masked V rows zeroed before either half's PV reads them.
          zero_masked_v_rows(&sm.kv[s][0], lo_t, valid < BN ? valid : BN, wt);
          sm90::fence_proxy_async();
          // Every row zeroed before this warpgroup's PV: WG0's 128 threads arrive and wait on an
          // mbarrier whose phase flips at each use (the zeroing is warpgroup-uniform).
          sm90::mbar_arrive(zeroed);
          sm90::mbar_wait(zeroed, zero_phase);
          zero_phase ^= 1u;
        }
        float al_a, al_b;
        uint32_t pr[8][2];
        softmax_tile<T>(sacc, q4, lo_t, valid_a, valid_b, p.scale_log2, p.scale_log2, m_a, m_b,
                        lsum_a, lsum_b, al_a, al_b, pr);
        // P (bf16/fp16) into group 8 of this tile for WG1, and the rescale factors.
        store_p_tile(&sm.kv[s][0], ra, rb, q4, pr);
        if (q4 == 0) {
          sm.alpha[s][ra] = al_a;
          sm.alpha[s][rb] = al_b;
        }
        sm90::fence_proxy_async();
        sm90::mbar_arrive(pready0 + 8 * s);

        // ---- O_left = alpha * O_left + P V_left (the lazy max leaves alpha = 1 on most tiles) ----
        if (any_rescale(al_a, al_b)) rescale_rows(o, al_a, al_b);
        sm90::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          const uint32_t a[4] = {pr[2 * kk][0], pr[2 * kk][1], pr[2 * kk + 1][0],
                                 pr[2 * kk + 1][1]};
          sm90::pv_rs<T>(o, a, desc(kDescV, skv + kk * 2048), 1);
        }
        sm90::wgmma_commit();
        // Queue the next tile's QK^T behind this PV, then wait for the PV alone (groups retire
        // in order) and hand the buffer back to the loader.
        if (t + 1 < ntiles) {
          issue_qk(t + 1);
          sm90::wgmma_wait<1>();
        } else {
          sm90::wgmma_wait<0>();
        }
        sm90::mbar_arrive(empty0 + 8 * s);
      }
      // Row sums over the quad, then the epilogue factors.
      finish_rows(q4, ra, rb, m_a, m_b, lsum_a, lsum_b, sm.inv_l, sm.lse);
    }
    tile_seq += ntiles;
    __syncthreads();  // inv_l / lse / bad visible; every tile retired

    // ---- epilogue: each warpgroup writes its 256 output columns ----
    const bool bad_page = *bad_flag != 0;
    const bool bad = bad_page || (p.req_error[b] & kErrBadSeqLen) != 0;
    if (tid == 0 && bad_page) atomicOr(&p.req_error[b], kErrBadPageId);
    const float nan = merge::quiet_nan<float>();
    const int col0 = wg * 256 + 2 * q4;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = half ? rb : ra;
      store_wgmma_row_out<T>(p, pc, b, row0 + r, o, half, col0, sm.inv_l[r], bad,
                               row0 + r < p.rows);
    }
    if (tid < Tr::HB && row0 + tid < p.rows)
      store_row_lse(p, pc, b, row0 + tid, bad ? nan : sm.lse[tid]);
  }
#else
  __trap();  // built for a target without wgmma: the host never selects this variant there
#endif
}

// ------------------------------------------------------------------------------------------------
// v2 (lib/kernels/NOTES.md, "Next for 128 heads after v1.4"): three warpgroups and three stages,
// for TMA tiles (pages of 8 rows or more).
//   WG0 (setmaxnreg 184): Q's latent part in registers (the A operand of 31 RS k steps; the last
//       k step and the rope group in shared memory, 1 + 4 SS k steps); S = Q K^T, the lazy softmax, P into the tile's
//       rope group with the factors, then `pready`; straight on to the next tile's QK^T. With the
//       deferred PV (the default; SPLITMLA_WGMMA_V2_DEFER_PV=0 takes the first order) WG0 arrives
//       on `sdone` when tile t's S is done and the PV of t - 1 waits for it, so that PV runs
//       beside the softmax of t (when the tensor pipe would idle); in the first order the PV of
//       t runs beside QK^T(t + 1). With the piece overlap (SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0
//       turns it off) the producer loads the next piece's first tiles into the stages that the
//       current piece's last tiles free.
//   WG1, WG2 (setmaxnreg 160): O[:, 0:256] and O[:, 256:512] += P V (4 x m64n256k16 SS each, P
//       from the rope group, V MN-major), then `empty`; WG2's first warp refills the stage with
//       the tile three ahead: lane k < 64 / R looks up run k of the tile (R = min(page, 64) rows
//       in one page) and issues its 9 boxes, lane 0 raises the byte count and arrives.
// Registers: setmaxnreg takes from a per-CTA pool that holds what the launch gave (168 x 384), so
// 184 + 160 + 160 = 504 is the most (192 for WG0 deadlocked its setmaxnreg.inc).
// Shared memory: three 72-KB stages, Q's rope group (8 KB), Q's last k step (2 KB, which inv_l
// and lse share at a piece's end), factors, barriers: 232,280 of the 232,448 bytes a CTA may
// have, so no room to align the base by hand: the buffer is declared 1024-byte aligned.
// A per-CTA timeline of v2, compiled only with -DSPLITMLA_TRACE_V2 (a measurement build:
// .ci/measure-v2-trace.sh): slot i < 12 of CTA c holds %globaltimer (ns) at point i, slot 12 + i
// the SM's clock64 there for i < 11, slot 23 the CTA's tiles. Points: 0 entry; WG0 (thread 0):
// 1 has Q, 2 has tile 0 (both of the first piece), 3 reaches and 4 passes (A) of the last piece,
// 5 has its Q, 6 its tile 0, 7 its last pready, 8 the end; WG1 (thread 128): 9 the end, 10 passes
// (B) of the last piece, 11 has stored the first piece's output.
#ifdef SPLITMLA_TRACE_V2
inline constexpr int kV2TraceCtas = 264;
static __device__ unsigned long long g_v2_trace[kV2TraceCtas][24];
__device__ __forceinline__ void v2_trace(int point) { trace_point<12, 11>(g_v2_trace, point); }
__device__ __forceinline__ void v2_trace_tiles(unsigned long long n) { trace_slot(g_v2_trace, 23, n); }
#endif

template <class T>
struct Part1Wgmma3Traits {
  static constexpr int kThreads = 384;
  static constexpr int HB = 64;
  static constexpr int BN = kWgmmaKeyTile;
  static constexpr int kStages = 3;
  static constexpr uint32_t kGroupBytes = BN * 128;
  static constexpr uint32_t kTileBytes = 9 * kGroupBytes;

  struct Shared {
    uint8_t kv[kStages][kTileBytes];  // 1024-byte aligned (the declaration aligns the base)
    uint8_t qrope[kGroupBytes];       // Q's rope group, the planar swizzled layout
    union {
      uint8_t qlast[64 * 32];  // Q's columns 496..511, 32B-swizzled (store_q_last): QK^T only
      struct {
        float inv_l[HB];  // a piece's end, after its last QK^T
        float lse[HB];
      } fin;
    };
    float alpha[kStages][HB];
    uint64_t full[kStages];    // the producer's arrival and the tile's bytes
    uint64_t pready[kStages];  // WG0's 128 threads wrote P and the factors of the tile
    uint64_t empty[kStages];   // WG1's and WG2's 256 threads finished their PV of the tile
    uint64_t sdone[kStages];   // WG0's 128 threads have the tile's S (its Q K^T completed)
    uint64_t qready;           // WG0's 128 threads stored Q's rope group (a phase per piece)
    uint64_t piece;            // all 384 threads: the per-piece barriers (A) and (B)
    int bad[2];                // a bad page id was seen, by piece parity
  };
  static constexpr size_t kSmemBytes = sizeof(Shared);
  static_assert(kSmemBytes <= 232448, "part1 wgmma v2 shared memory exceeds the 227 KB limit");
};

template <class T>
__global__ void __launch_bounds__(384, 1)
    part1_wgmma3_kernel(const __grid_constant__ Part1WgmmaParams wp) {
#if SPLITMLA_SM90A
  const Part1Params& p = wp.p;
  using Tr = Part1Wgmma3Traits<T>;
  constexpr int BN = Tr::BN;
  constexpr int kStages = Tr::kStages;
  constexpr uint32_t G = Tr::kGroupBytes;
  constexpr uint32_t kTile = Tr::kTileBytes;
  extern __shared__ __align__(1024) uint8_t smem_v2[];
  uint8_t* base = smem_v2;
  // The swizzled stages need a 1024-byte aligned base, which the declaration asks of the loader
  // (no static shared memory here); a base that were not would corrupt every tile: stop instead.
  if ((ptx::smem_addr(base) & 1023u) != 0) __trap();
  auto& sm = *reinterpret_cast<typename Tr::Shared*>(base);

  const WgmmaThread th = wgmma_thread();
  const int tid = th.tid, wg = th.wg, wt = th.wt, wwarp = th.wwarp, lane = th.lane;
  SPLITMLA_TRACE_AT(tid == 0, v2_trace, 0);
  const WgmmaCta cta = wgmma_cta<Tr::HB>(p);
  const int row0 = cta.row0, first = cta.first, last = cta.last;

  // Shared-window addresses as one base plus constants, so that each warpgroup keeps one
  // register for all of them (WG0's 184 and the PV warpgroups' 160 are tight).
  using Sh = typename Tr::Shared;
  const uint32_t skv0 = ptx::smem_addr(base);
  const uint32_t sqrope = skv0 + static_cast<uint32_t>(offsetof(Sh, qrope));
  const uint32_t sqlast = skv0 + static_cast<uint32_t>(offsetof(Sh, qlast));
  const uint32_t full0 = skv0 + static_cast<uint32_t>(offsetof(Sh, full));
  const uint32_t pready0 = skv0 + static_cast<uint32_t>(offsetof(Sh, pready));
  const uint32_t empty0 = skv0 + static_cast<uint32_t>(offsetof(Sh, empty));
  const uint32_t sdone0 = skv0 + static_cast<uint32_t>(offsetof(Sh, sdone));
  const uint32_t qready = skv0 + static_cast<uint32_t>(offsetof(Sh, qready));
  const uint32_t piece_bar = skv0 + static_cast<uint32_t>(offsetof(Sh, piece));
  sm90::init_mbarriers<kStages>(tid, {{full0, 1}, {pready0, 128}, {empty0, 256}, {sdone0, 128}},
                                {{qready, 128}, {piece_bar, static_cast<uint32_t>(Tr::kThreads)}});

  const int q4 = lane & 3;
  const int ra = wwarp * 16 + (lane >> 2);  // this thread's two rows in the accumulators
  const int rb = ra + 8;
  const int page_mask = (1 << p.page_shift) - 1;
  const float nan = merge::quiet_nan<float>();

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
      if (tid == 0 && pi == first) sm.bad[0] = 0;
      // Q of this row block: the latent part as A fragments (a[0]: row ra, columns 16 ks + 2 q4
      // and + 1; a[1]: row rb; a[2], a[3]: the same 8 columns on), the rope group and the last k
      // step into shared memory; zeros for rows past q_len x num_heads. Every global read of Q
      // is issued before (A), so that it overlaps the previous piece's output store by the PV
      // warpgroups; the shared parts are written after (A) (qlast shares its bytes with the
      // previous piece's inv_l, which those stores read).
      const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(in.b) * p.q_stride_batch;
      auto q_row = [&](int r) -> const T* {
        if (row0 + r >= p.rows) return nullptr;
        const int qt = query_token(p, row0 + r), qh = row0 + r - qt * p.num_heads;
        return qb + static_cast<int64_t>(qt) * p.q_stride_token + static_cast<int64_t>(qh) * p.q_stride_head;
      };
      uint32_t qa[kQkRsSteps][4];
      load_q_fragments<T>(q_row(ra), q_row(rb), q4, qa);
      const int qr = wt >> 1;  // the shared parts: two threads a row, 16 + 64 bytes each
      uint4 qlast_v, qrope_v[4];
      {
        const T* src = q_row(qr);
        qlast_v = load_q_last<T>(src, wt & 1);
#pragma unroll
        for (int j = 0; j < 4; ++j)
          qrope_v[j] = src ? __ldg(reinterpret_cast<const uint4*>(src + kHeadDimV + 8 * (4 * (wt & 1) + j)))
                           : make_uint4(0u, 0u, 0u, 0u);
      }
      SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last, v2_trace, 3);
      pieces_done.sync();  // (A) the previous piece retired; the flag reset visible to the producer
      SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last, v2_trace, 4);
      // The next piece's flag (its slot last read by the previous piece's epilogue, before (A)):
      // reset before this piece's first pready arrival, which orders it before the producer's
      // loads of the next piece's first tiles, issued while this piece ends.
      if (tid == 0) sm.bad[(pi + 1 - first) & 1] = 0;
      put_q_last(qlast_v, qr, wt & 1, sm.qlast);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int c = 4 * (wt & 1) + j;
        *reinterpret_cast<uint4*>(&sm.qrope[qr * 128 + ((c ^ (qr & 7)) << 4)]) = qrope_v[j];
      }
      sm90::fence_proxy_async();
      sm90::mbar_arrive(qready);
      sm90::mbar_wait(qready, q_phase);
      q_phase ^= 1u;
      SPLITMLA_TRACE_AT(tid == 0 && pi == first, v2_trace, 1);
      SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last, v2_trace, 5);

      const int end_a = row_end(p, in.b, row0 + ra, in.end), end_b = row_end(p, in.b, row0 + rb, in.end);
      float lsum_a = 0.f, lsum_b = 0.f;
      float m_a = merge::neg_inf<float>(), m_b = merge::neg_inf<float>();
      for (int t = 0; t < in.ntiles; ++t) {
        const uint32_t g = tile_seq + t, s = g % kStages, u = g / kStages;
        const uint32_t skv = skv0 + s * kTile;
        sm90::mbar_wait(full0 + 8 * s, u & 1u);
        SPLITMLA_TRACE_AT(tid == 0 && pi == first && t == 0, v2_trace, 2);
        SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last && t == 0, v2_trace, 6);
        float sacc[32];
        qk_tile_rs<T>(sacc, qa, sqlast, sqrope, skv, G);
        sm90::wgmma_wait<0>();
#pragma unroll
        for (int i = 0; i < 32; ++i) sm90::reg_fence(sacc[i]);
        // The PV warpgroups may now run tile t - 1's PV. Only the deferred order waits on sdone,
        // so only it arrives (an arrival after a phase nobody waited for is synccheck's error).
        if (wp.defer_pv != 0) sm90::mbar_arrive(sdone0 + 8 * s);

        const int tile0 = in.w0 + t * BN;
        const int valid = in.end - tile0;
        const int lo_t = t == 0 ? in.lo : 0;
        if (lo_t > 0 || valid < BN) {
          // Masked V rows zeroed before the PV warpgroups read them; `pready` below orders it.
          zero_masked_v_rows(&sm.kv[s][0], lo_t, valid < BN ? valid : BN, wt);
        }
        float al_a, al_b;
        uint32_t pr[8][2];
        softmax_tile<T>(sacc, q4, lo_t, end_a - tile0, end_b - tile0, p.scale_log2,
                              p.scale_log2, m_a, m_b, lsum_a, lsum_b, al_a, al_b, pr);
        store_p_tile_stsm(skv, wwarp, lane, pr);
        if (q4 == 0) {
          sm.alpha[s][ra] = al_a;
          sm.alpha[s][rb] = al_b;
        }
        sm90::fence_proxy_async();
        sm90::mbar_arrive(pready0 + 8 * s);
      }
      SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last, v2_trace, 7);
      finish_rows(q4, ra, rb, m_a, m_b, lsum_a, lsum_b, sm.fin.inv_l, sm.fin.lse);
      tile_seq += in.ntiles;
      pieces_done.sync();  // (B) inv_l, lse and the flag visible; every tile retired

      // The piece again from memory rather than kept in registers through the tile loop.
      const Piece pc = p.pieces[pi];
      const bool bad_page = sm.bad[(pi - first) & 1] != 0;
      const bool bad = bad_page || (p.req_error[pc.b] & kErrBadSeqLen) != 0;
      if (tid == 0 && bad_page) atomicOr(&p.req_error[pc.b], kErrBadPageId);
      if (tid < Tr::HB && row0 + tid < p.rows)
        store_row_lse(p, pc, pc.b, row0 + tid, bad ? nan : sm.fin.lse[tid]);
    }
    SPLITMLA_TRACE_AT(tid == 0, v2_trace, 8);
    SPLITMLA_TRACE_AT(tid == 0, v2_trace_tiles, tile_seq);
  } else {
    // ------------------------------- PV halves (+ the producer) -------------------------------
    sm90::setmaxnreg_dec<160>();
    const int half = wg - 1;
    const bool producer = wg == 2 && wwarp == 0;  // lanes < runs issue boxes
    const uint64_t l2_policy = ptx::policy_evict_first();
    // Page of run `lane` of tile t of a piece (the out-of-bounds page `num_pages`, zero-filled,
    // past the end; 0 for lanes without a run).
    auto lookup = [&](int b, int w0, int end, int t) {
      if (lane >= runs) return 0;
      const int pos = w0 + t * BN + (lane << run_shift);
      return pos < end ? __ldg(p.block_table + static_cast<int64_t>(b) * p.bt_stride + (pos >> p.page_shift))
                       : p.num_pages;
    };
    // Tile t of a piece (rows from w0, valid below end) into the stage of sequence number g; a
    // bad page sets the piece's flag sm.bad[slot].
    auto issue_tile = [&](uint32_t g, int w0, int end, int t, int page, int slot) {
      const uint32_t s = g % kStages;
      if (g >= kStages) sm90::mbar_wait(empty0 + 8 * s, ((g / kStages) - 1) & 1u);
      const uint32_t bar = full0 + 8 * s;
      // Lane 0 raises the byte count before its arrival; boxes of other lanes that complete
      // first only drive the count negative for a while (as in the two-warpgroup kernel).
      if (lane == 0) sm90::mbar_expect_tx(bar, kTile);
      if (lane < runs) {
        const int pos = w0 + t * BN + (lane << run_shift);
        int pg = page;
        if (static_cast<unsigned>(pg) >= static_cast<unsigned>(p.num_pages)) {
          if (pos < end) atomicOr(&sm.bad[slot], 1);
          pg = p.num_pages;
        }
        const uint32_t dst = skv0 + s * kTile + (lane << run_shift) * 128;
#pragma unroll
        for (int grp = 0; grp < 9; ++grp)
          sm90::tma_load_3d(dst + grp * G, &wp.kv_map, bar, 64 * grp, pos & page_mask, pg,
                            l2_policy);
      }
      if (lane == 0) sm90::mbar_arrive(bar);
    };
    // Of this piece's first kStages tiles, those the producer loaded while the previous piece
    // ended (a bit each): as a stage frees up after a piece's last kStages - 1 tiles, the next
    // piece's first tiles load into it, so its start does not wait for them (piece overlap).
    uint32_t ahead = 0;
    for (int pi = first; pi < last; ++pi) {
      const int slot = (pi - first) & 1;  // this piece's bad-page flag; the next piece's: slot ^ 1
      const WgmmaPiece in = wgmma_piece(p, pi, run_shift);
      pieces_done.sync();  // (A)
      if (producer)
        for (int t = 0; t < kStages && t < in.ntiles; ++t)
          if (((ahead >> t) & 1u) == 0)
            issue_tile(tile_seq + t, in.w0, in.end, t, lookup(in.b, in.w0, in.end, t), slot);
      ahead = 0;

      float o[128];
#pragma unroll
      for (int i = 0; i < 128; ++i) o[i] = 0.f;
      auto pv_tile = [&](int t) {
        const uint32_t g = tile_seq + t, s = g % kStages, u = g / kStages;
        const uint32_t skv = skv0 + s * kTile;
        sm90::mbar_wait(pready0 + 8 * s, u & 1u);
        // Deferred PV: tile t's PV waits until WG0 has tile t + 1's S, so it runs beside that
        // tile's softmax (when the tensor pipe would idle) rather than beside its Q K^T.
        // Every phase of sdone is waited for (compute-sanitizer's synccheck reports a barrier
        // arrived at again after a phase nobody waited for): tile 0's, which completed before its
        // pready, here; every later tile's by the PV of the tile before it.
        if (wp.defer_pv != 0 && t == 0) sm90::mbar_wait(sdone0 + 8 * s, u & 1u);
        if (wp.defer_pv != 0 && t + 1 < in.ntiles)
          sm90::mbar_wait(sdone0 + 8 * ((g + 1) % kStages), ((g + 1) / kStages) & 1u);
        const float al_a = sm.alpha[s][ra], al_b = sm.alpha[s][rb];
        if (any_rescale(al_a, al_b)) rescale_rows(o, al_a, al_b);
        sm90::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk)
          sm90::pv_ss<T>(o, desc(kDescK, skv + 8 * G + kk * 32),
                         desc(kDescV, skv + 4 * half * G + kk * 2048), 1);
        sm90::wgmma_commit();
        sm90::wgmma_wait<0>();
        sm90::mbar_arrive(empty0 + 8 * s);
      };
      // Tiles whose stage goes to this piece's tile t + kStages (its page looked up before the
      // waits)...
      const int main_tiles = in.ntiles - kStages;
      for (int t = 0; t < main_tiles; ++t) {
        const int next_page = producer ? lookup(in.b, in.w0, in.end, t + kStages) : 0;
        pv_tile(t);
        if (producer) issue_tile(tile_seq + t + kStages, in.w0, in.end, t + kStages, next_page, slot);
      }
      // ... and the last kStages, whose stages go to the next piece's tiles j = 0, 1, 2 (piece
      // overlap; the producer is a whole warp, so the next piece is read warp-uniformly).
      int nx_b = 0, nx_w0 = 0, nx_end = 0, nx_tiles = 0;
      if (producer && wp.piece_overlap != 0 && pi + 1 < last) {
        const WgmmaPiece nx = wgmma_piece(p, pi + 1, run_shift);
        nx_b = nx.b;
        nx_w0 = nx.w0;
        nx_end = nx.end;
        nx_tiles = nx.ntiles;
      }
      for (int t = main_tiles > 0 ? main_tiles : 0; t < in.ntiles; ++t) {
        const int j = t + kStages - in.ntiles;
        const int next_page = producer && j < nx_tiles ? lookup(nx_b, nx_w0, nx_end, j) : 0;
        pv_tile(t);
        if (producer && j < nx_tiles) {
          issue_tile(tile_seq + t + kStages, nx_w0, nx_end, j, next_page, slot ^ 1);
          ahead |= 1u << j;
        }
      }
      tile_seq += in.ntiles;
      pieces_done.sync();  // (B)
      SPLITMLA_TRACE_AT(tid == 128 && pi + 1 == last, v2_trace, 10);

      // The piece again from memory rather than kept in registers through the tile loop (the
      // PV warpgroups' 160 registers hold O's 128 accumulators).
      const Piece pc = p.pieces[static_cast<uint32_t>(pi)];
      const bool bad = sm.bad[slot] != 0 || (p.req_error[pc.b] & kErrBadSeqLen) != 0;
      const int col0 = half * 256 + 2 * q4;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = h ? rb : ra;
        store_wgmma_row_out<T>(p, pc, pc.b, row0 + r, o, h, col0, sm.fin.inv_l[r], bad,
                                 row0 + r < p.rows);
      }
      SPLITMLA_TRACE_AT(tid == 128 && pi == first, v2_trace, 11);
    }
    SPLITMLA_TRACE_AT(tid == 128, v2_trace, 9);
  }
#else
  __trap();
#endif
}

// Encodes the KV tensor map for TMA tile loads; false (use cp.async) for pages of fewer than 8
// rows, page strides that are not a multiple of 16 bytes, a driver without the encoder, or
// SPLITMLA_WGMMA_TMA=0 in the environment (read once; for comparing the two loaders).
inline bool encode_kv_map(const Part1Params& p, int elem_bytes, CUtensorMap* map) {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    if (!env_switch_on("SPLITMLA_WGMMA_TMA")) return static_cast<PFN_cuTensorMapEncodeTiled_v12000>(nullptr);
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult q{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      fn = nullptr;
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  const int64_t page_size = int64_t{1} << p.page_shift;
  const int64_t page_bytes = p.kv_stride_page * elem_bytes;
  if (encode == nullptr || page_size < 8 || p.num_pages < 1 || page_bytes % 16 != 0 ||
      reinterpret_cast<uintptr_t>(p.kv) % 16 != 0)
    return false;
  constexpr cuuint64_t kRow = static_cast<cuuint64_t>(kHeadDimQK);  // elements per row
  const cuuint64_t dims[3] = {kRow, static_cast<cuuint64_t>(page_size),
                              static_cast<cuuint64_t>(p.num_pages)};
  const cuuint64_t strides[2] = {kRow * static_cast<cuuint64_t>(elem_bytes),
                                 static_cast<cuuint64_t>(page_bytes)};
  const cuuint32_t box[3] = {64, static_cast<cuuint32_t>(page_size < 64 ? page_size : 64), 1};
  const cuuint32_t estride[3] = {1, 1, 1};
  return encode(map, elem_bytes == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16 : CU_TENSOR_MAP_DATA_TYPE_UINT8,
                3, const_cast<void*>(p.kv), dims, strides, box, estride,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// Build option SPLITMLA_WGMMA_GROUP_FULL_PAGES (CMake, default ON): OFF never launches the GF
// kernel (the control of its measurement).
#ifndef SPLITMLA_WGMMA_GROUP_FULL_PAGES
#define SPLITMLA_WGMMA_GROUP_FULL_PAGES 1
#endif

// The v2 kernel for TMA tiles (pages of 8 rows or more) of 64 rows or more, unless
// SPLITMLA_WGMMA_V2=0 in the environment (read once; for comparing the two kernels in one build).
// SPLITMLA_WGMMA_V2_DEFER_PV=0 in the environment (read once): v2 starts a tile's PV as soon as its
// P is ready (beside the next tile's Q K^T) instead of after the next tile's S (beside its softmax),
// for comparing the two schedules in one build.
inline bool wgmma_v2_defer_pv() {
  static const bool on = env_switch_on("SPLITMLA_WGMMA_V2_DEFER_PV");
  return on;
}

// SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0 in the environment (read once): v2's producer loads a piece's
// first tiles only after the piece begins, not while the previous piece ends (for the A/B).
inline bool wgmma_v2_piece_overlap() {
  static const bool on = env_switch_on("SPLITMLA_WGMMA_V2_PIECE_OVERLAP");
  return on;
}

inline bool wgmma_v2_enabled() {
  static const bool on = env_switch_on("SPLITMLA_WGMMA_V2");
  return on;
}

template <class T>
cudaError_t launch_part1_wgmma_instance(const Part1Params& p, int grid, cudaStream_t stream) {
  Part1WgmmaParams wp{};
  wp.p = p;
  wp.kv_tma = encode_kv_map(p, sizeof(T), &wp.kv_map) ? 1 : 0;
  wp.defer_pv = wgmma_v2_defer_pv() ? 1 : 0;
  wp.piece_overlap = wgmma_v2_piece_overlap() ? 1 : 0;
  // Group full barriers where a tile is several TMA boxes per group (page runs of 8..32 rows).
  const bool gf = SPLITMLA_WGMMA_GROUP_FULL_PAGES && wp.kv_tma != 0 && p.page_shift >= 3 &&
                  p.page_shift <= 5;
  // v2 where its row block is full: at 32 rows (16 heads x 2 tokens) it measured 3% slower than
  // v1.4 on the H200 (H16_B128_L4k_q2 167.2 vs 162.0 us), 2-6% faster at 64 and 128 heads.
  if (wgmma_v2_enabled() && wp.kv_tma != 0 && p.rows >= 64)
    part1_wgmma3_kernel<T><<<grid, 384, Part1Wgmma3Traits<T>::kSmemBytes, stream>>>(wp);
  else if (gf)
    part1_wgmma_kernel<T, true><<<grid, 256, Part1WgmmaTraits<T>::kSmemBytes, stream>>>(wp);
  else
    part1_wgmma_kernel<T, false><<<grid, 256, Part1WgmmaTraits<T>::kSmemBytes, stream>>>(wp);
  return cudaGetLastError();
}

template <class T>
cudaError_t prepare_part1_wgmma_instance() {
  const int bytes = static_cast<int>(Part1WgmmaTraits<T>::kSmemBytes);
  cudaError_t e = cudaFuncSetAttribute(part1_wgmma_kernel<T, false>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(part1_wgmma_kernel<T, true>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(part1_wgmma3_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(Part1Wgmma3Traits<T>::kSmemBytes));
  return e;
}

// Both kernels have the same block, shared memory and register budget (launch bounds 256, 1).
template <class T>
cudaError_t occupancy_part1_wgmma_instance(int* blocks) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, part1_wgmma_kernel<T, false>, 256,
                                                       Part1WgmmaTraits<T>::kSmemBytes);
}

#define SPLITMLA_PART1_WGMMA_INSTANCE(T)                                                     \
  template cudaError_t launch_part1_wgmma_instance<T>(const Part1Params&, int, cudaStream_t); \
  template cudaError_t prepare_part1_wgmma_instance<T>();                                     \
  template cudaError_t occupancy_part1_wgmma_instance<T>(int*);

}  // namespace splitmla::kernels
