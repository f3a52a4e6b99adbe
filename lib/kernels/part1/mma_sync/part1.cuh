// part1: for each (piece, row block) stream the piece's KV rows from the paged cache once,
// S = Q K^T and O += P V on tensor cores (mma.sync m16n8k16), online softmax in fp32, and write
// the piece's normalized output and lse: straight to `out` when the piece is the whole request,
// else to its partial slot for part2.
//
// Rows: the M dimension is the request's q_len x num_heads query rows packed token-major
// (row r = t * num_heads + h; with q_len = 1 a row is a head). Each row masks the piece to its
// own token's visible length (token_limits[b][t], written by the planner): a piece past a row's
// limit leaves that row empty (o = 0, lse = -inf through the merge algebra's guards).
//
// CTA: 8 warps, HB = 16*MT query rows, KV tiles of BN rows (64 with 16 rows, else 32) from a
// cp.async ring of SLOTS slots (16-byte copies, L2 evict-first hint). A slot is 32 rows for
// 16-bit caches, so a 64-key tile of 16 rows is two slots and the ring keeps loading 32 rows at a
// time (five 36-KB slots fit where two 72-KB tiles and Q would leave no third); an fp8 slot is a
// whole tile. Each KV row lands in shared memory once and serves both
// products (K = all 576 columns, V = the first 512). Shared rows are 1152 bytes; 16-byte chunks
// are XOR-swizzled by (row & 7) so ldmatrix reads are conflict-free.
//
// QK^T: the MT*4 (m16 x n8) score tiles are spread over the 8 warps; when there are fewer tiles
// than warps, the 576-long reduction is split in KSPLIT parts whose sums meet in shared memory.
// Softmax: 256/HB threads per query row. PV: warp w owns output columns [64w, 64w+64) for all HB
// rows (MT*32 fp32 accumulators per thread).
//
// fp8 caches (KV = kKvFp8; fp8_e4m3 or fp8_ds_mla chosen at run time by p.kv_format): the ring
// stages the raw row bytes (656-byte slots, unswizzled: 656 bytes = 164 words, so 8 consecutive
// rows' 16-byte pieces fall in distinct banks), and the MMAs read their fragments straight from
// the fp8 bytes, converting in registers (cvt.rn.f16x2.e4m3x2: exact, NaN kept). The products run
// in fp16 whatever q's dtype: e4m3 is exact in fp16, and q is converted once per piece.
//  - Q: after it lands, each row is scaled by 2^e (bf16 q: the power of two that puts its largest
//    |value| in [2^14, 2^15); fp16 q: e = 0) and stored as fp16 with each 16-wide k block's pairs
//    permuted (stored pair c < 4 holds elements 4c, 4c+1; pair c + 4 holds 4c + 2, 4c + 3), and
//    2^-e joins the row's score scale. fp8_ds_mla's bf16 rope part stays in T, unpermuted, scaled
//    by the same 2^e (exact), and multiplies the bf16 rope keys directly.
//  - QK^T: ldmatrix (b16) of raw key rows hands a thread bytes 4c..4c+3 of a 16-byte k block,
//    which are exactly its B fragment under the permutation above.
//  - PV: ldmatrix.trans (b16) of 8 key rows x 16 fp8 columns hands a thread two keys x two
//    adjacent columns; one byte permute splits them into the even-column and the odd-column
//    B fragments, so a warp's 8 n-tiles hold columns interleaved (tile 2i: even, 2i + 1: odd
//    columns of a 16-column group) and the epilogue writes 4 adjacent columns at a time.
// fp8_e4m3's per-call scale multiplies the log2 score scale and the normalized output.
// fp8_ds_mla's per-128 scales are folded too: QK^T sums each 128-wide block separately and adds
// it times the key row's block scale (fp32, so the dequantization is exact); the softmax writes
// P times (the row's scale of value block v / S_v) as copy v of P, S_v being the tile's largest
// scale of block v (so the fp16 products never see a scaled-down P fall into subnormals), warp
// w's PV reads copy w / 2 (its 64 output columns lie in block w / 2) and keeps its accumulators in
// units of the current S, rescaling by S_prev / S_new with the softmax's alpha. A visible row
// whose scale is NaN, inf, zero or negative (or a bad fp8_e4m3 scale) makes the piece NaN and
// flags kErrBadScale.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdint>
#include <type_traits>

#include "core/merge.hpp"
#include "kernels/common/epilogue.cuh"
#include "kernels/common/fp8.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/common/trace.cuh"

namespace splitmla::kernels {

template <class T, int MT, int KV = kKvNative>
struct Part1Traits {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = 8;
  static constexpr int HB = 16 * MT;            // query rows per CTA
  // KV rows per tile: 64 with 16 rows (half the barriers and softmax passes per key, two
  // independent n tiles per warp in QK^T; H200: fp8 195 -> 150 us, 16-bit 1-5.5% faster), else 32.
  static constexpr int BN = mma_sync_key_tile(MT, KV);
  static constexpr int kChunks = kRowChunks16;  // 16-byte chunks per 576-element row (72)
  static constexpr int kRowBytes = kRowBytes16;  // 1152
  static constexpr bool kFp8 = KV == kKvFp8;
  // One staged row: the 16-bit row, or a slot as wide as the widest fp8 row (656 = 41 x 16).
  static constexpr int kStageRowBytes = kFp8 ? kFp8DsMlaRowBytes : kRowBytes;
  // The ring: SLOTS slots of kSlotRows rows, U slots a tile (16-bit: 32-row slots; fp8: tiles).
  static constexpr int kSlotRows = kFp8 ? BN : 32;
  static constexpr int U = BN / kSlotRows;
  static constexpr int SLOTS = kFp8 ? (MT == 1 ? 4 : (MT == 2 ? 6 : 4))
                                    : (MT == 1 ? 5 : (MT == 2 ? 4 : 3));
  static constexpr int kSlotRowsPerThread = kSlotRows / 32;  // slot copy: rows lrow + 32 i
  static constexpr int PAIRS = MT * (BN / 8);   // (m16, n8) score tiles
  // 16 rows: the 576-long reduction in two halves (the warp's Q half stays in registers).
  static constexpr int KSPLIT = MT == 1 ? 2 : (PAIRS >= kWarps ? 1 : kWarps / PAIRS);
  static constexpr int NT_PER_WARP = PAIRS * KSPLIT / kWarps;
  static constexpr int KSTEPS = 36 / KSPLIT;    // k16 steps per warp in QK^T
  static constexpr int TPR = kThreads / HB;     // softmax threads per query row
  static constexpr int CPT = BN / TPR;          // softmax columns per thread
  static constexpr int P_STRIDE = BN + 8;       // sP row stride in elements (conflict-free)
  // Score row stride in floats: BN + 8 puts the 8 rows of a warp's (m16, n8) accumulator pairs
  // 8 banks apart, so each half-warp's 8-byte stores cover the 32 banks once (at BN, every row
  // started on bank 0: 8-way conflicts, ncu's 5.5-way average on H16_B128_L4k).
  static constexpr int S_STRIDE = BN + 8;
  static_assert(BN % 32 == 0 && kThreads == 256, "tile copy: one thread per (row, 8-chunk lane) of 32 rows");
  // 16 rows: the warp's Q fragments (KSTEPS x 4 registers) stay in registers across tiles.
  static constexpr bool kQInRegs = MT == 1;

  // The MMA operand type of P V (and of Q K^T's latent part): fp16 for fp8 caches.
  using PT = std::conditional_t<kFp8, __half, T>;

  struct Shared {
    alignas(128) uint8_t q[HB * kRowBytes];
    alignas(128) uint8_t kv[SLOTS][kSlotRows * kStageRowBytes];
    alignas(16) float s[KSPLIT][HB][S_STRIDE];  // columns BN.. unused (padding)
    alignas(16) PT p[(kFp8 ? 4 : 1) * HB * P_STRIDE];  // fp8_ds_mla: one copy per value block
    float alpha[HB];
    float inv_l[HB];
    float lse[HB];
    float qs[kFp8 ? HB : 1];         // fp8: 2^-e of each q row
    unsigned qmax[kFp8 ? HB : 1];    // fp8 with bf16 q: largest |q| of each row (float bits)
    float sref[kFp8 ? 4 : 1];        // fp8_ds_mla: S_v of the current tile
    float sinv[kFp8 ? 4 : 1];        // and 1 / S_v
    int bad;
  };

  static_assert(PAIRS % kWarps == 0 || kWarps % PAIRS == 0, "score tiles must tile the warps");
  static_assert(SLOTS >= 2 * U, "the ring must hold the tile computed and the next one");
  static_assert(U == 1 || U == 2, "a tile is one or two slots");
  static_assert(!kQInRegs || kFp8 || NT_PER_WARP == 2, "16 rows: two n tiles a warp (64-key tiles)");
  static_assert(36 % KSPLIT == 0, "k split must divide the 36 k16 steps");
  static_assert(CPT >= 1 && TPR <= 32, "softmax row group must fit in a warp");
  static_assert(CPT % 2 == 0, "the softmax reads its scores in pairs");
  static_assert(sizeof(Shared) <= 227 * 1024, "part1 shared memory exceeds the 227 KB limit");
};

// A per-CTA timeline, compiled only with -DSPLITMLA_TRACE_V2 (a measurement build:
// .ci/measure-v2-trace.sh), thread 0: slot i < 4 holds %globaltimer (ns) at point i, slot 4 + i the
// SM's clock64, slot 8 the CTA's tiles. Points: 0 entry, 1 tile 0 of the first piece landed, 2 the
// last piece's tile loop done, 3 the end.
#ifdef SPLITMLA_TRACE_V2
inline constexpr int kR16TraceCtas = 264;
static __device__ unsigned long long g_r16_trace[kR16TraceCtas][9];
__device__ __forceinline__ void r16_trace(int point) { trace_point<4, 4>(g_r16_trace, point); }
__device__ __forceinline__ void r16_trace_tiles(unsigned long long n) { trace_slot(g_r16_trace, 8, n); }
#endif

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return static_cast<uint32_t>(row * kRowBytes16 + ((chunk ^ (row & 7)) << 4));
}

template <class T, int MT, int KV>
__global__ void __launch_bounds__(256, 1) part1_kernel(const __grid_constant__ Part1Params p) {
  using Tr = Part1Traits<T, MT, KV>;
  constexpr int HB = Tr::HB, BN = Tr::BN, SLOTS = Tr::SLOTS, U = Tr::U;
  extern __shared__ __align__(128) uint8_t smem_raw[];
  auto& sm = *reinterpret_cast<typename Tr::Shared*>(smem_raw);

  const int tid = threadIdx.x;
  SPLITMLA_TRACE_AT(tid == 0, r16_trace, 0);
  TraceCount traced_tiles;
  const int warp = tid >> 5, lane = tid & 31;
  const int hblk = blockIdx.x % p.head_blocks;
  const int wcta = blockIdx.x / p.head_blocks;
  const int row0 = hblk * HB;

  int first, last;
  cta_piece_range(p, wcta, &first, &last);

  const uint64_t evict_first = ptx::policy_evict_first();
  const T* __restrict__ kv = static_cast<const T*>(p.kv);
  const uint8_t* __restrict__ kv8 = static_cast<const uint8_t*>(p.kv);
  const uint32_t sq = ptx::smem_addr(sm.q);
  const uint32_t skv0 = ptx::smem_addr(sm.kv[0]);
  constexpr uint32_t kSlotBytes = Tr::kSlotRows * Tr::kStageRowBytes;
  const int page_mask = (1 << p.page_shift) - 1;

  // fp8: which layout, its row bytes, and fp8_e4m3's per-call scale (folded into the log2 score
  // scale and the output; a bad one makes every piece NaN and flags kErrBadScale).
  const bool ds = Tr::kFp8 && p.kv_format == static_cast<int32_t>(KvFormat::kFp8DsMla);
  const int fp8_row_bytes = ds ? kFp8DsMlaRowBytes : kFp8E4M3RowBytes;
  float kv_scale = 1.f;
  bool scale_bad = false;
  if constexpr (Tr::kFp8) {
    if (!ds) {
      const float s = __ldg(p.kv_scale);
      scale_bad = !(s > 0.f && s <= FLT_MAX);
      kv_scale = scale_bad ? 1.f : s;
    }
  }
  const float scale_log2 = p.scale_log2 * kv_scale;

  for (int pi = first; pi < last; ++pi) {
    const Piece pc = p.pieces[pi];
    const int b = pc.b;
    const int begin = pc.begin, end = pc.end;
    const int ntiles = (end - begin + BN - 1) / BN;
    const int32_t* bt = p.block_table + static_cast<int64_t>(b) * p.bt_stride;
    if (tid == 0) sm.bad = scale_bad ? 2 : 0;
    if constexpr (Tr::kFp8) {
      if (tid < HB) sm.qmax[tid] = 0u;
    }

    // Q of this row block (zeros for rows past q_len * num_heads).
    {
      const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * p.q_stride_batch;
      for (int c = tid; c < HB * Tr::kChunks; c += Tr::kThreads) {
        const int row = c / Tr::kChunks, ch = c % Tr::kChunks;
        const int r = row0 + row;
        const bool ok = r < p.rows;
        const int t = p.q_len == 1 ? 0 : r / p.num_heads, h = r - t * p.num_heads;
        const T* src = ok ? qb + static_cast<int64_t>(t) * p.q_stride_token +
                                static_cast<int64_t>(h) * p.q_stride_head + ch * 8
                          : qb;
        ptx::cp_async_16(sq + swz(row, ch), src, ok ? 16 : 0);
      }
      ptx::cp_async_commit();
    }
    __syncthreads();  // sm.bad reset visible before any loader may set it

    // The ring streams slots j = 0, 1, ... (rows [begin + j kSlotRows, + kSlotRows), tile j / U)
    // into ring slot j % SLOTS. Slot j is refilled once tile (j - SLOTS) / U is done, so at the
    // top of tile t (after its barrier) slots up to U (t - 1) + SLOTS + U - 1 are issued, one
    // cp.async group each: SLOTS - U groups before the loop, U a tile. The block-table entries a
    // slot needs are fetched one round (U slots) ahead into registers, so the lookup latency
    // stays out of the copy-issue path.
    // Thread -> (row lrow, chunks lsub + 8j): one lookup and one base address per row; the
    // swizzle commutes with the +8-chunk stride, so the 9 copies use immediate offsets.
    // Rows past `end` are zero-filled and neither their table entry nor their KV row is read.
    const int lrow = tid >> 3, lsub = tid & 7;
    const uint32_t ldst = swz(lrow, lsub);
    constexpr int R = Tr::kSlotRowsPerThread;
    const int nslots = ntiles * U;
    int next_page[U][R];
    auto page_of = [&](int j, int i) {
      const int pos = begin + j * Tr::kSlotRows + lrow + 32 * i;
      return (j < nslots && pos < end) ? __ldg(bt + (pos >> p.page_shift)) : 0;
    };
    auto fetch_slot = [&](int j, int u) {
#pragma unroll
      for (int i = 0; i < R; ++i) next_page[u][i] = page_of(j, i);
    };
    auto load_row = [&](int j, int u, int i) {
      const int pos = begin + j * Tr::kSlotRows + lrow + 32 * i;
      const uint32_t slot = skv0 + static_cast<uint32_t>(j % SLOTS) * kSlotBytes;
      if constexpr (Tr::kFp8) {
        // Raw row bytes into the row's 656-byte slot, unswizzled: lane lsub copies chunks
        // lsub, lsub + 8, ... of the row's 36 (e4m3) or 41 (ds_mla) 16-byte chunks.
        const uint32_t dst = slot + static_cast<uint32_t>((lrow + 32 * i) * Tr::kStageRowBytes + lsub * 16);
        const uint8_t* src = kv8;
        int bytes = 0;
        if (pos < end) {
          if (static_cast<unsigned>(next_page[u][i]) < static_cast<unsigned>(p.num_pages)) {
            src = kv8 + static_cast<int64_t>(next_page[u][i]) * p.kv_stride_page +
                  static_cast<int64_t>(pos & page_mask) * fp8_row_bytes + lsub * 16;
            bytes = 16;
          } else {
            atomicOr(&sm.bad, 1);
          }
        }
        const int nch = fp8_row_bytes / 16;
#pragma unroll
        for (int j = 0; j < (kFp8DsMlaRowBytes / 16 + 7) / 8; ++j)
          if (lsub + 8 * j < nch)
            ptx::cp_async_16(dst + 128 * j, src + (bytes ? 128 * j : 0), bytes, evict_first);
        return;
      }
      static_assert(Tr::kFp8 || R == 1, "16-bit slots are 32 rows");
      const uint32_t dst = slot + ldst;
      // A zero-filled row (past `end`, or a bad page) copies 0 bytes from the cache's first row,
      // so all 9 copies share one base address and take immediate offsets.
      const T* src = kv + lsub * 8;
      int bytes = 0;
      if (pos < end) {
        if (static_cast<unsigned>(next_page[u][0]) < static_cast<unsigned>(p.num_pages)) {
          src += static_cast<int64_t>(next_page[u][0]) * p.kv_stride_page +
                 static_cast<int64_t>(pos & page_mask) * kHeadDimQK;
          bytes = 16;
        } else {
          atomicOr(&sm.bad, 1);
        }
      }
#pragma unroll
      for (int j = 0; j < Tr::kChunks / 8; ++j)
        ptx::cp_async_16(dst + 128 * j, src + 64 * j, bytes, evict_first);
    };
    auto load_slot = [&](int j, int u) {
      if (j < nslots) {
#pragma unroll
        for (int i = 0; i < R; ++i) load_row(j, u, i);
      }
      ptx::cp_async_commit();
    };

#pragma unroll
    for (int j = 0; j < SLOTS - U; ++j) {
      if (j < nslots) fetch_slot(j, 0);
      load_slot(j, 0);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) fetch_slot(SLOTS - U + u, u);

    // Softmax state of this thread's query row (m_run identical across the row's TPR threads,
    // l_run this thread's share of the row sum until the epilogue adds the TPR shares), and
    // the row's own end: its token sees positions [begin, row_end) of the piece.
    float m_run = merge::neg_inf<float>(), l_run = 0.f;
    float s_cur = 1.f;  // fp8_ds_mla: the S of this warp's value block the accumulators are in
    const int srow = tid / Tr::TPR, ssub = tid % Tr::TPR;
    // With q_len = 1 the piece is already clipped to the one token's limit: row_end = end,
    // without the limit's load at the head of every piece.
    int row_end = p.q_len == 1 ? end : begin;
    if (p.q_len != 1) {
      const int r = row0 + srow;
      if (r < p.rows) {
        const int lim = p.token_limits[static_cast<int64_t>(b) * p.q_len + r / p.num_heads];
        row_end = lim < end ? lim : end;
      }
    }

    float acc[MT][8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mt][j][e] = 0.f;

    uint32_t qf[Tr::kQInRegs ? Tr::KSTEPS : 1][4];
    for (int t = 0; t < ntiles; ++t) {
      ptx::cp_async_wait<SLOTS - 2 * U>();  // tile t's U slots (and Q) have landed
      __syncthreads();
      SPLITMLA_TRACE_AT(tid == 0 && pi == first && t == 0, r16_trace, 1);
#pragma unroll
      for (int u = 0; u < U; ++u) load_slot(U * t + SLOTS - U + u, u);
#pragma unroll
      for (int u = 0; u < U; ++u) fetch_slot(U * t + SLOTS + u, u);

      // Tile t's slots: a 16-bit tile's rows 32 u .. 32 u + 31 lie in tslot[u].
      uint32_t tslot[U];
#pragma unroll
      for (int u = 0; u < U; ++u) tslot[u] = skv0 + static_cast<uint32_t>((U * t + u) % SLOTS) * kSlotBytes;
      const uint32_t skv = tslot[0];
      if constexpr (Tr::kFp8) {
        if (t == 0) {
          // ---- Q (landed with tile 0) to fp16, scaled by 2^e per row and k-permuted ----
          // Unit (row, k): the row's 16-wide k block k, two swizzled 16-byte chunks.
          constexpr int kUnits = HB * 36;
          if constexpr (std::is_same_v<T, __nv_bfloat16>) {
            for (int u = tid; u < kUnits; u += Tr::kThreads) {
              const int row = u / 36, k = u - row * 36;
              const uint4 c0 = *reinterpret_cast<const uint4*>(sm.q + swz(row, 2 * k));
              const uint4 c1 = *reinterpret_cast<const uint4*>(sm.q + swz(row, 2 * k + 1));
              atomicMax(&sm.qmax[row], __float_as_uint(max_abs16<T>(c0, c1)));
            }
            __syncthreads();
          }
          for (int u = tid; u < kUnits; u += Tr::kThreads) {
            const int row = u / 36, k = u - row * 36;
            int e = 0;
            if constexpr (std::is_same_v<T, __nv_bfloat16>)
              e = q_row_exponent(__uint_as_float(sm.qmax[row]));
            uint4* p0 = reinterpret_cast<uint4*>(sm.q + swz(row, 2 * k));
            uint4* p1 = reinterpret_cast<uint4*>(sm.q + swz(row, 2 * k + 1));
            const uint4 c0 = *p0, c1 = *p1;
            const uint32_t w[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
            uint32_t o[8];
            if (ds && k >= 32) {  // the bf16 rope part: T, unpermuted, times 2^e
#pragma unroll
              for (int j = 0; j < 8; ++j) {
                const float2 f = ptx::unpack2<T>(w[j]);
                o[j] = e == 0 ? w[j] : ptx::pack2<T>(ldexpf(f.x, e), ldexpf(f.y, e));
              }
            } else {
              uint32_t h[8];
#pragma unroll
              for (int j = 0; j < 8; ++j) {
                const float2 f = ptx::unpack2<T>(w[j]);
                h[j] = ptx::pack2<__half>(ldexpf(f.x, e), ldexpf(f.y, e));
              }
#pragma unroll
              for (int c = 0; c < 4; ++c) {
                o[c] = h[2 * c];
                o[c + 4] = h[2 * c + 1];
              }
            }
            *p0 = make_uint4(o[0], o[1], o[2], o[3]);
            *p1 = make_uint4(o[4], o[5], o[6], o[7]);
            if (k == 0) sm.qs[row] = ldexpf(1.f, -e);
          }
          __syncthreads();
        }
      }

      // ---- S = Q K^T (raw dot products) ----
      {
        constexpr int kGroups = Tr::kWarps / Tr::KSPLIT;  // warps sharing one k range
        const int ks = warp / kGroups;
        const int pair0 = (warp % kGroups) * Tr::NT_PER_WARP;
        const int mt = pair0 / (BN / 8);
        float sacc[Tr::NT_PER_WARP][4];
#pragma unroll
        for (int n = 0; n < Tr::NT_PER_WARP; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) sacc[n][e] = 0.f;
        float sodd[4] = {0.f, 0.f, 0.f, 0.f};
        const int arow = mt * 16 + (lane & 15);
        if constexpr (Tr::kFp8) {
          // k range of this warp: LB whole 128-value latent blocks (k16 steps ks*8*LB ..), then
          // RS rope steps (32 + ks*RS ..). Each block sums into its own accumulators, which join
          // the running sum times the block's scale of each key row (fp8_ds_mla; fp8_e4m3's scale
          // is folded into scale_log2): exact dequantization for 4 FMAs per block.
          constexpr int NT = Tr::NT_PER_WARP;
          constexpr int LB = 4 / Tr::KSPLIT, RS = 4 / Tr::KSPLIT;
          static_assert(LB * 8 + RS == Tr::KSTEPS, "fp8 QK: blocks and rope steps cover the k range");
          const int nt0 = pair0 % (BN / 8);
          auto kstep_of = [&](int kk) {
            return kk < 8 * LB ? ks * 8 * LB + kk : 32 + ks * RS + (kk - 8 * LB);
          };
          if constexpr (Tr::kQInRegs) {
            if (t == 0) {  // Q converted above
#pragma unroll
              for (int kk = 0; kk < Tr::KSTEPS; ++kk)
                ptx::ldmatrix_x4(sq + swz(arow, kstep_of(kk) * 2 + (lane >> 4)), qf[kk][0],
                                 qf[kk][1], qf[kk][2], qf[kk][3]);
            }
          }
          auto a_frag = [&](int kk, uint32_t (&a)[4]) {
            if constexpr (Tr::kQInRegs) {
              a[0] = qf[kk][0];
              a[1] = qf[kk][1];
              a[2] = qf[kk][2];
              a[3] = qf[kk][3];
            } else {
              ptx::ldmatrix_x4(sq + swz(arow, kstep_of(kk) * 2 + (lane >> 4)), a[0], a[1], a[2], a[3]);
            }
          };
          // Lanes 8i..8i+7 address key row (n tile)*8 + (lane & 7), 16-byte k block i of a group.
          const uint32_t krow = skv + static_cast<uint32_t>((nt0 * 8 + (lane & 7)) * Tr::kStageRowBytes);
          constexpr uint32_t kTileRows8 = 8 * Tr::kStageRowBytes;
          // Key row r's 4 block scales: floats at r * kStageRowBytes + 512 of the staged tile.
          const float* sc_rows =
              reinterpret_cast<const float*>(sm.kv[t % SLOTS] + kFp8DsMlaScaleOffset);
#pragma unroll
          for (int lb = 0; lb < LB; ++lb) {
            float be[NT][4], bo[NT][4];  // two independent MMA chains: even and odd k steps
#pragma unroll
            for (int n = 0; n < NT; ++n)
#pragma unroll
              for (int e = 0; e < 4; ++e) be[n][e] = bo[n][e] = 0.f;
#pragma unroll
            for (int g = 0; g < 2; ++g) {
              const int kk0 = lb * 8 + g * 4;
              uint32_t r[NT][4];
#pragma unroll
              for (int n = 0; n < NT; ++n)
                ptx::ldmatrix_x4(krow + n * kTileRows8 + (kstep_of(kk0) + (lane >> 3)) * 16, r[n][0],
                                 r[n][1], r[n][2], r[n][3]);
#pragma unroll
              for (int i = 0; i < 4; ++i) {
                uint32_t a[4];
                a_frag(kk0 + i, a);
#pragma unroll
                for (int n = 0; n < NT; ++n)
                  ptx::mma_16816<__half>((i & 1) ? bo[n] : be[n], a, e4m3x2_to_f16x2(r[n][i]),
                                         e4m3x2_to_f16x2(r[n][i] >> 16));
              }
            }
            const int blk = ks * LB + lb;
#pragma unroll
            for (int n = 0; n < NT; ++n) {
              const int col = (nt0 + n) * 8 + 2 * (lane & 3);
              const float s0 = ds ? sc_rows[col * (Tr::kStageRowBytes / 4) + blk] : 1.f;
              const float s1 = ds ? sc_rows[(col + 1) * (Tr::kStageRowBytes / 4) + blk] : 1.f;
              sacc[n][0] += (be[n][0] + bo[n][0]) * s0;
              sacc[n][1] += (be[n][1] + bo[n][1]) * s1;
              sacc[n][2] += (be[n][2] + bo[n][2]) * s0;
              sacc[n][3] += (be[n][3] + bo[n][3]) * s1;
            }
          }
          if (ds) {
            // bf16 rope keys (bytes 528 + 32j of the row), standard fragments, products in T.
#pragma unroll
            for (int i = 0; i < RS; ++i) {
              const int kstep = 32 + ks * RS + i;
              uint32_t a[4];
              a_frag(8 * LB + i, a);
#pragma unroll
              for (int n = 0; n < NT; ++n) {
                uint32_t b0, b1;
                ptx::ldmatrix_x2(krow + n * kTileRows8 + kFp8DsMlaRopeOffset + 32 * (kstep - 32) +
                                     ((lane >> 3) & 1) * 16,
                                 b0, b1);
                if constexpr (std::is_same_v<T, __half>) {
                  const float2 f0 = ptx::unpack2<__nv_bfloat16>(b0), f1 = ptx::unpack2<__nv_bfloat16>(b1);
                  b0 = ptx::pack2<__half>(f0.x, f0.y);
                  b1 = ptx::pack2<__half>(f1.x, f1.y);
                }
                ptx::mma_16816<T>(sacc[n], a, b0, b1);
              }
            }
          } else {
            // fp8_e4m3 rope bytes (k blocks 32..35), as the latent part.
            uint32_t r[NT][4];
#pragma unroll
            for (int n = 0; n < NT; ++n) {
              const uint32_t a0 = krow + n * kTileRows8 + (32 + ks * RS + (lane >> 3)) * 16;
              if constexpr (RS == 4) {
                ptx::ldmatrix_x4(a0, r[n][0], r[n][1], r[n][2], r[n][3]);
              } else {
                ptx::ldmatrix_x2(a0, r[n][0], r[n][1]);
              }
            }
#pragma unroll
            for (int i = 0; i < RS; ++i) {
              uint32_t a[4];
              a_frag(8 * LB + i, a);
#pragma unroll
              for (int n = 0; n < NT; ++n)
                ptx::mma_16816<__half>(sacc[n], a, e4m3x2_to_f16x2(r[n][i]),
                                       e4m3x2_to_f16x2(r[n][i] >> 16));
            }
          }
          if (ds && warp < 4) {
            // Warp v: S_v of this tile (the largest scale of block v over its rows; rows past the
            // piece are zero-filled) and its reciprocal, and the bad-scale check of block v in
            // every visible row (lane = row mod 32).
            const int valid = end - (begin + t * BN);
            float mx = 0.f;
            bool badl = false;
#pragma unroll
            for (int i = 0; i < BN / 32; ++i) {
              const int row = lane + 32 * i;
              const float x = sc_rows[row * (Tr::kStageRowBytes / 4) + warp];
              const bool okx = x > 0.f && x <= FLT_MAX;
              if (okx) mx = fmaxf(mx, x);
              if (row < valid && !okx) badl = true;
            }
#pragma unroll
            for (int off = 16; off >= 1; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            if (lane == 0) {
              sm.sref[warp] = mx > 0.f ? mx : 1.f;
              sm.sinv[warp] = mx > 0.f ? 1.f / mx : 1.f;
            }
            if (__any_sync(0xffffffffu, badl) && lane == 0) atomicOr(&sm.bad, 2);
          }
        } else if constexpr (Tr::kQInRegs) {
          if (t == 0) {  // Q landed with tile 0
#pragma unroll
            for (int kk = 0; kk < Tr::KSTEPS; ++kk)
              ptx::ldmatrix_x4(sq + swz(arow, (ks * Tr::KSTEPS + kk) * 2 + (lane >> 4)), qf[kk][0],
                               qf[kk][1], qf[kk][2], qf[kk][3]);
          }
          // The warp's two n tiles (keys 8 nt0 .. 8 nt0 + 15) lie in one 32-row slot; one
          // ldmatrix_x4 a k step gives both B fragments (lanes 16..31 address the second tile),
          // and even and odd k steps sum in separate accumulators: four independent chains.
          const int nt0 = pair0 % (BN / 8);
          const int brow = (nt0 * 8) % Tr::kSlotRows + (lane >> 4) * 8 + (lane & 7);
          const uint32_t bbase = (nt0 * 8 < Tr::kSlotRows ? tslot[0] : tslot[U - 1]) + static_cast<uint32_t>(brow * Tr::kRowBytes);
          const int bsw = brow & 7;
          float sodd1[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
          for (int kk = 0; kk < Tr::KSTEPS; ++kk) {
            const int chunk = (ks * Tr::KSTEPS + kk) * 2 + ((lane >> 3) & 1);
            uint32_t b0, b1, b2, b3;
            ptx::ldmatrix_x4(bbase + ((chunk ^ bsw) << 4), b0, b1, b2, b3);
            ptx::mma_16816<T>((kk & 1) ? sodd : sacc[0], qf[kk], b0, b1);
            ptx::mma_16816<T>((kk & 1) ? sodd1 : sacc[1], qf[kk], b2, b3);
          }
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            sacc[0][e] += sodd[e];
            sacc[1][e] += sodd1[e];
          }
        } else {
#pragma unroll 6
        for (int kk = 0; kk < Tr::KSTEPS; ++kk) {
          const int kstep = ks * Tr::KSTEPS + kk;
          uint32_t a[4];
          ptx::ldmatrix_x4(sq + swz(arow, kstep * 2 + (lane >> 4)), a[0], a[1], a[2], a[3]);
          if constexpr (Tr::NT_PER_WARP == 2) {
            const int nt0 = pair0 % (BN / 8);
            const int brow = (nt0 + (lane >> 4)) * 8 + (lane & 7);
            uint32_t b0, b1, b2, b3;
            ptx::ldmatrix_x4(skv + swz(brow, kstep * 2 + ((lane >> 3) & 1)), b0, b1, b2, b3);
            ptx::mma_16816<T>(sacc[0], a, b0, b1);
            ptx::mma_16816<T>(sacc[1], a, b2, b3);
          } else {
            const int nt0 = pair0 % (BN / 8);
            const int brow = nt0 * 8 + (lane & 7);
            uint32_t b0, b1;
            ptx::ldmatrix_x2(skv + swz(brow, kstep * 2 + ((lane >> 3) & 1)), b0, b1);
            ptx::mma_16816<T>((kk & 1) ? sodd : sacc[0], a, b0, b1);
          }
        }
        if constexpr (Tr::NT_PER_WARP == 1) {
#pragma unroll
          for (int e = 0; e < 4; ++e) sacc[0][e] += sodd[e];
        }
        }
#pragma unroll
        for (int n = 0; n < Tr::NT_PER_WARP; ++n) {
          const int col = ((pair0 + n) % (BN / 8)) * 8 + 2 * (lane & 3);
          const int r = mt * 16 + (lane >> 2);
          *reinterpret_cast<float2*>(&sm.s[ks][r][col]) = make_float2(sacc[n][0], sacc[n][1]);
          *reinterpret_cast<float2*>(&sm.s[ks][r + 8][col]) = make_float2(sacc[n][2], sacc[n][3]);
        }
      }
      __syncthreads();

      // ---- online softmax (base 2) ----
      {
        const int pos0 = begin + t * BN;
        // fp8: the row's q was scaled by 2^e (sm.qs = 2^-e).
        const float row_scale = Tr::kFp8 ? scale_log2 * sm.qs[srow] : scale_log2;
        float sv[Tr::CPT];
        float mx = merge::neg_inf<float>();
        // This thread's CPT scores, summed over the k split in order, read 16 or 8 bytes at a time.
        float raw[Tr::CPT];
#pragma unroll
        for (int c = 0; c < Tr::CPT; ++c) raw[c] = 0.f;
#pragma unroll
        for (int k = 0; k < Tr::KSPLIT; ++k) {
          const float* row = &sm.s[k][srow][ssub * Tr::CPT];
          if constexpr (Tr::CPT % 4 == 0) {
#pragma unroll
            for (int c = 0; c < Tr::CPT; c += 4) {
              const float4 v = *reinterpret_cast<const float4*>(row + c);
              raw[c] += v.x;
              raw[c + 1] += v.y;
              raw[c + 2] += v.z;
              raw[c + 3] += v.w;
            }
          } else {
#pragma unroll
            for (int c = 0; c < Tr::CPT; c += 2) {
              const float2 v = *reinterpret_cast<const float2*>(row + c);
              raw[c] += v.x;
              raw[c + 1] += v.y;
            }
          }
        }
#pragma unroll
        for (int c = 0; c < Tr::CPT; ++c) {
          const int col = ssub * Tr::CPT + c;
          sv[c] = (pos0 + col < row_end) ? raw[c] * row_scale : merge::neg_inf<float>();
        }
        // This thread's max as a tree (log2 CPT dependent steps, not CPT).
        float tm[Tr::CPT];
#pragma unroll
        for (int c = 0; c < Tr::CPT; ++c) tm[c] = sv[c];
#pragma unroll
        for (int w = Tr::CPT / 2; w >= 1; w >>= 1)
#pragma unroll
          for (int c = 0; c < w; ++c) tm[c] = fmaxf(tm[c], tm[c + w]);
        mx = tm[0];
        // Lazy max (merge::kLazyMaxStep): the row's reference max moves only when a score passes
        // it by more than the step. One warp vote finds whether any row of the warp must move;
        // only then is the row max reduced over its TPR threads (most tiles skip the shuffles and
        // keep alpha = 1 exactly). Uniform over a row's threads: m_run and the reduced mx are.
        float alpha = 1.f;
        if (__any_sync(0xffffffffu, mx > m_run + merge::kLazyMaxStep)) {
#pragma unroll
          for (int off = Tr::TPR / 2; off >= 1; off >>= 1)
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
          if (mx > m_run + merge::kLazyMaxStep) {
            alpha = merge::rescale_exp2(m_run, mx);
            m_run = mx;
          }
        }
        const float m_new = m_run;
        float sum = 0.f;
#pragma unroll
        for (int c = 0; c < Tr::CPT; c += 2) {
          const float p0 = merge::prob_exp2(sv[c], m_new);
          const float p1 = Tr::CPT > 1 ? merge::prob_exp2(sv[c + 1], m_new) : 0.f;
          sum += p0 + p1;
          const int pc = srow * Tr::P_STRIDE + ssub * Tr::CPT + c;
          if (Tr::kFp8 && ds) {
            // fp8_ds_mla: P times (each key row's scale of value block v / S_v), one copy per
            // block; the PV warps of block v read copy v (the denominator keeps the plain P).
            const int col = ssub * Tr::CPT + c;
            const uint8_t* row0 = sm.kv[t % SLOTS] + col * Tr::kStageRowBytes + kFp8DsMlaScaleOffset;
            const float* sc0 = reinterpret_cast<const float*>(row0);
            const float* sc1 = reinterpret_cast<const float*>(row0 + Tr::kStageRowBytes);
#pragma unroll
            for (int v = 0; v < 4; ++v) {
              const float inv_s = sm.sinv[v];
              *reinterpret_cast<uint32_t*>(&sm.p[v * HB * Tr::P_STRIDE + pc]) = ptx::pack2<typename Tr::PT>(
                  p0 * (sc0[v] * inv_s), Tr::CPT > 1 ? p1 * (sc1[v] * inv_s) : 0.f);
            }
          } else {
            *reinterpret_cast<uint32_t*>(&sm.p[pc]) = ptx::pack2<typename Tr::PT>(p0, p1);
          }
        }
        // This thread's share of the row sum (added over the row's threads once, at the end).
        l_run = l_run * alpha + sum;
        if (ssub == 0) sm.alpha[srow] = alpha;
      }
      __syncthreads();

      // ---- O = alpha * O + P V ----
      {
        // fp8_ds_mla: this warp's accumulators are in units of its block's S; move them to the
        // new tile's S with the softmax's rescale.
        float f = 1.f;
        if constexpr (Tr::kFp8) {
          if (ds) {
            const float s_new = sm.sref[warp >> 1];
            f = s_cur / s_new;
            s_cur = s_new;
          }
        }
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          const float a0 = sm.alpha[mt * 16 + (lane >> 2)] * f;
          const float a1 = sm.alpha[mt * 16 + (lane >> 2) + 8] * f;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            acc[mt][j][0] *= a0;
            acc[mt][j][1] *= a0;
            acc[mt][j][2] *= a1;
            acc[mt][j][3] *= a1;
          }
        }
        using PT = typename Tr::PT;
        const uint32_t sp =
            ptx::smem_addr(sm.p) + ((Tr::kFp8 && ds) ? static_cast<uint32_t>(
                                                           (warp >> 1) * HB * Tr::P_STRIDE * sizeof(PT))
                                                     : 0u);
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          uint32_t a[MT][4];
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            const int r = mt * 16 + (lane & 15);
            const int c = kk * 16 + (lane >> 4) * 8;
            ptx::ldmatrix_x4(sp + static_cast<uint32_t>((r * Tr::P_STRIDE + c) * sizeof(PT)),
                             a[mt][0], a[mt][1], a[mt][2], a[mt][3]);
          }
          const int vrow = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          if constexpr (Tr::kFp8) {
            // Two loads of 16 keys x 32 fp8 columns: matrices (keys 0-7 | 8-15) x (columns
            // 0-15 | 16-31); each register holds keys 2c, 2c+1 x columns 2g, 2g+1 (g = lane/4),
            // and one byte permute puts the even-column pair low and the odd-column pair high.
#pragma unroll
            for (int q = 0; q < 2; ++q) {
              uint32_t r0, r1, r2, r3;
              ptx::ldmatrix_x4_trans(skv + static_cast<uint32_t>(vrow * Tr::kStageRowBytes +
                                                                 warp * 64 + q * 32 + (lane >> 4) * 16),
                                     r0, r1, r2, r3);
              const uint32_t p0 = __byte_perm(r0, 0, 0x3120), p1 = __byte_perm(r1, 0, 0x3120);
              const uint32_t p2 = __byte_perm(r2, 0, 0x3120), p3 = __byte_perm(r3, 0, 0x3120);
              const uint32_t e0 = e4m3x2_to_f16x2(p0), e1 = e4m3x2_to_f16x2(p1);
              const uint32_t o0 = e4m3x2_to_f16x2(p0 >> 16), o1 = e4m3x2_to_f16x2(p1 >> 16);
              const uint32_t e2 = e4m3x2_to_f16x2(p2), e3 = e4m3x2_to_f16x2(p3);
              const uint32_t o2 = e4m3x2_to_f16x2(p2 >> 16), o3 = e4m3x2_to_f16x2(p3 >> 16);
#pragma unroll
              for (int mt = 0; mt < MT; ++mt) {
                ptx::mma_16816<__half>(acc[mt][4 * q + 0], a[mt], e0, e1);
                ptx::mma_16816<__half>(acc[mt][4 * q + 1], a[mt], o0, o1);
                ptx::mma_16816<__half>(acc[mt][4 * q + 2], a[mt], e2, e3);
                ptx::mma_16816<__half>(acc[mt][4 * q + 3], a[mt], o2, o3);
              }
            }
          } else {
#pragma unroll
            for (int jp = 0; jp < 4; ++jp) {
              const int chunk = warp * 8 + jp * 2 + (lane >> 4);
              uint32_t b0, b1, b2, b3;
              ptx::ldmatrix_x4_trans(tslot[kk * 16 / Tr::kSlotRows] + swz(vrow % Tr::kSlotRows, chunk), b0, b1,
                                     b2, b3);
#pragma unroll
              for (int mt = 0; mt < MT; ++mt) {
                ptx::mma_16816<T>(acc[mt][2 * jp], a[mt], b0, b1);
                ptx::mma_16816<T>(acc[mt][2 * jp + 1], a[mt], b2, b3);
              }
            }
          }
        }
      }
    }
    ptx::cp_async_wait<0>();
    SPLITMLA_TRACE_AT(tid == 0 && pi + 1 == last, r16_trace, 2);
    traced_tiles.add(ntiles);

    // ---- epilogue ----
#pragma unroll
    for (int off = Tr::TPR / 2; off >= 1; off >>= 1) l_run += __shfl_xor_sync(0xffffffffu, l_run, off);
    if (ssub == 0) {
      sm.inv_l[srow] = merge::inv_sum(l_run);
      sm.lse[srow] = merge::split_lse_from_exp2(m_run, l_run);
    }
    __syncthreads();
    const int sbad = sm.bad;
    const bool bad = sbad != 0 || (p.req_error[b] & kErrBadSeqLen) != 0;
    if (tid == 0 && sbad != 0)
      atomicOr(&p.req_error[b], ((sbad & 1) ? kErrBadPageId : 0u) | ((sbad & 2) ? kErrBadScale : 0u));
    const float nan = merge::quiet_nan<float>();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = mt * 16 + (lane >> 2) + half * 8;
        const int row = row0 + r;
        if (row >= p.rows) continue;
        const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
        // fp8_e4m3: the scale of V; fp8_ds_mla: the S the accumulators are in.
        const float il = sm.inv_l[r] * kv_scale * s_cur;
        if constexpr (Tr::kFp8) {
          // Tiles 4q + 2i (even) and 4q + 2i + 1 (odd) hold columns 32q + 16i + 4(lane & 3) + 0..3
          // of this warp's 64 as (even c0, odd c0, even c1, odd c1).
          T* o = static_cast<T*>(p.out) + static_cast<int64_t>(b) * p.out_stride_batch +
                 static_cast<int64_t>(t) * p.out_stride_token +
                 static_cast<int64_t>(h) * p.out_stride_head;
#pragma unroll
          for (int j = 0; j < 8; j += 2) {
            const int col = warp * 64 + (j >> 1) * 16 + 4 * (lane & 3);
            float v[4] = {acc[mt][j][half * 2], acc[mt][j + 1][half * 2], acc[mt][j][half * 2 + 1],
                          acc[mt][j + 1][half * 2 + 1]};
#pragma unroll
            for (int e = 0; e < 4; ++e) v[e] = bad ? nan : v[e] * il;
            if (pc.slot < 0) {
              *reinterpret_cast<uint32_t*>(o + col) = ptx::pack2<T>(v[0], v[1]);
              *reinterpret_cast<uint32_t*>(o + col + 2) = ptx::pack2<T>(v[2], v[3]);
            } else {
              float* po = p.part_out + (static_cast<int64_t>(pc.slot) * p.rows + row) * kHeadDimV;
              *reinterpret_cast<float4*>(po + col) = make_float4(v[0], v[1], v[2], v[3]);
            }
          }
          continue;
        }
        if (pc.slot < 0) {
          T* o = static_cast<T*>(p.out) + static_cast<int64_t>(b) * p.out_stride_batch +
                 static_cast<int64_t>(t) * p.out_stride_token +
                 static_cast<int64_t>(h) * p.out_stride_head;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int col = warp * 64 + j * 8 + 2 * (lane & 3);
            const float v0 = bad ? nan : acc[mt][j][half * 2] * il;
            const float v1 = bad ? nan : acc[mt][j][half * 2 + 1] * il;
            *reinterpret_cast<uint32_t*>(o + col) = ptx::pack2<T>(v0, v1);
          }
        } else {
          float* o = p.part_out + (static_cast<int64_t>(pc.slot) * p.rows + row) * kHeadDimV;
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int col = warp * 64 + j * 8 + 2 * (lane & 3);
            float2 v;
            v.x = bad ? nan : acc[mt][j][half * 2] * il;
            v.y = bad ? nan : acc[mt][j][half * 2 + 1] * il;
            *reinterpret_cast<float2*>(o + col) = v;
          }
        }
      }
    }
    if (tid < HB && row0 + tid < p.rows) store_row_lse(p, pc, b, row0 + tid, bad ? nan : sm.lse[tid]);
    __syncthreads();  // shared memory is reused by the next piece
  }
  SPLITMLA_TRACE_AT(tid == 0, r16_trace, 3);
  SPLITMLA_TRACE_AT(tid == 0, r16_trace_tiles, traced_tiles.n);
}

template <class T, int MT, int KV>
cudaError_t launch_part1_instance(const Part1Params& p, int grid, cudaStream_t stream) {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT, KV>::Shared);
  part1_kernel<T, MT, KV><<<grid, 256, smem, stream>>>(p);
  return cudaGetLastError();
}

template <class T, int MT, int KV>
cudaError_t prepare_part1_instance() {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT, KV>::Shared);
  return cudaFuncSetAttribute(part1_kernel<T, MT, KV>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
}

template <class T, int MT, int KV>
cudaError_t occupancy_part1_instance(int* blocks) {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT, KV>::Shared);
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, part1_kernel<T, MT, KV>, 256,
                                                       smem);
}

#define SPLITMLA_PART1_INSTANCE_KV(T, MT, KV)                                                  \
  template cudaError_t launch_part1_instance<T, MT, KV>(const Part1Params&, int, cudaStream_t); \
  template cudaError_t prepare_part1_instance<T, MT, KV>();                                      \
  template cudaError_t occupancy_part1_instance<T, MT, KV>(int*);
#define SPLITMLA_PART1_INSTANCE(T, MT) SPLITMLA_PART1_INSTANCE_KV(T, MT, kKvNative)

}  // namespace splitmla::kernels
