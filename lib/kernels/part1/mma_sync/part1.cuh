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
// CTA: 8 warps, HB = 16*MT query rows, KV tiles of BN = 32 rows in a STAGES-deep cp.async ring
// (16-byte copies, L2 evict-first hint). Each KV row lands in shared memory once and serves both
// products (K = all 576 columns, V = the first 512). Shared rows are 1152 bytes; 16-byte chunks
// are XOR-swizzled by (row & 7) so ldmatrix reads are conflict-free.
//
// QK^T: the MT*4 (m16 x n8) score tiles are spread over the 8 warps; when there are fewer tiles
// than warps, the 576-long reduction is split in KSPLIT parts whose sums meet in shared memory.
// Softmax: 256/HB threads per query row. PV: warp w owns output columns [64w, 64w+64) for all HB
// rows (MT*32 fp32 accumulators per thread).
//
// fp8 caches (KV = kKvFp8; fp8_e4m3 or fp8_ds_mla chosen at run time by p.kv_format): the ring
// stages the raw row bytes (656-byte slots), and after each tile lands all 256 threads convert it
// into one 1152-byte-row tile of T in the same swizzled layout, which QK^T and PV then read as in
// the 16-bit path. e4m3 -> T is exact (cvt.rn.f16x2.e4m3x2, NaN kept); no element is scaled.
// fp8_e4m3's per-call scale multiplies the log2 score scale and the normalized output.
// fp8_ds_mla's per-128 scales are folded too: QK^T sums each 128-wide block separately and adds
// it times the key row's block scale (fp32, so the dequantization is exact); the softmax writes
// P times the row's scale of value block v as copy v of P, and warp w's PV reads copy w / 2 (its
// 64 output columns lie in block w / 2). The bf16 rope values are copied (bf16 q) or converted
// (fp16 q). A visible row whose scale is NaN, inf, zero or negative (or a bad fp8_e4m3 scale)
// makes the piece NaN and flags kErrBadScale.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdint>
#include <type_traits>

#include "core/merge.hpp"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"

namespace splitmla::kernels {

template <class T, int MT, int KV = kKvNative>
struct Part1Traits {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = 8;
  static constexpr int HB = 16 * MT;            // query rows per CTA
  static constexpr int BN = 32;                 // KV rows per tile
  static constexpr int kChunks = kRowChunks16;  // 16-byte chunks per 576-element row (72)
  static constexpr int kRowBytes = kRowBytes16;  // 1152
  static constexpr bool kFp8 = KV == kKvFp8;
  // One staged row: the 16-bit row, or a slot as wide as the widest fp8 row (656 = 41 x 16).
  static constexpr int kStageRowBytes = kFp8 ? kFp8DsMlaRowBytes : kRowBytes;
  static constexpr int STAGES = kFp8 ? (MT == 1 ? 7 : (MT == 2 ? 6 : 4))
                                     : (MT == 1 ? 5 : (MT == 2 ? 4 : 3));
  static constexpr int kUnitsPerRow = 36;       // fp8 conversion: 16 values (two T chunks) a unit
  static constexpr int PAIRS = MT * (BN / 8);   // (m16, n8) score tiles
  static constexpr int KSPLIT = PAIRS >= kWarps ? 1 : kWarps / PAIRS;
  static constexpr int NT_PER_WARP = PAIRS >= kWarps ? PAIRS / kWarps : 1;
  static constexpr int KSTEPS = 36 / KSPLIT;    // k16 steps per warp in QK^T
  static constexpr int TPR = kThreads / HB;     // softmax threads per query row
  static constexpr int CPT = BN / TPR;          // softmax columns per thread
  static constexpr int P_STRIDE = BN + 8;       // sP row stride in elements (conflict-free)
  static_assert(BN * 8 == kThreads, "tile copy: one thread per (row, 8-chunk lane)");
  // 16 rows: the warp's Q fragments (KSTEPS x 4 registers) stay in registers across tiles.
  static constexpr bool kQInRegs = MT == 1;

  struct Shared {
    alignas(128) uint8_t q[HB * kRowBytes];
    alignas(128) uint8_t kv[STAGES][BN * kStageRowBytes];
    alignas(128) uint8_t kvc[kFp8 ? BN * kRowBytes : 16];  // fp8: the current tile as T
    float s[KSPLIT][HB][BN];
    alignas(16) T p[(kFp8 ? 4 : 1) * HB * P_STRIDE];  // fp8_ds_mla: one copy per value block
    float alpha[HB];
    float inv_l[HB];
    float lse[HB];
    int bad;
  };

  static_assert(PAIRS % kWarps == 0 || kWarps % PAIRS == 0, "score tiles must tile the warps");
  static_assert(36 % KSPLIT == 0, "k split must divide the 36 k16 steps");
  static_assert(CPT >= 1 && TPR <= 32, "softmax row group must fit in a warp");
  static_assert(sizeof(Shared) <= 227 * 1024, "part1 shared memory exceeds the 227 KB limit");
};

__device__ __forceinline__ uint32_t swz(int row, int chunk) {
  return static_cast<uint32_t>(row * kRowBytes16 + ((chunk ^ (row & 7)) << 4));
}

// Two e4m3 values (low byte first) -> a packed pair of T, exactly: e4m3 -> fp16 is exact (and
// keeps NaN), and every e4m3 value is a bf16 value too.
template <class T>
__device__ __forceinline__ uint32_t e4m3x2_to(uint32_t two) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two & 0xFFFFu), __NV_E4M3);
  if constexpr (std::is_same_v<T, __half>) {
    return static_cast<uint32_t>(h.x) | (static_cast<uint32_t>(h.y) << 16);
  } else {
    const float2 f = __half22float2(__half2(h));
    return ptx::pack2<T>(f.x, f.y);
  }
}

// 16 e4m3 values (one 16-byte chunk) -> two 16-byte chunks of T.
template <class T>
__device__ __forceinline__ void e4m3x16_to(const uint4& raw, uint4& lo, uint4& hi) {
  lo.x = e4m3x2_to<T>(raw.x);
  lo.y = e4m3x2_to<T>(raw.x >> 16);
  lo.z = e4m3x2_to<T>(raw.y);
  lo.w = e4m3x2_to<T>(raw.y >> 16);
  hi.x = e4m3x2_to<T>(raw.z);
  hi.y = e4m3x2_to<T>(raw.z >> 16);
  hi.z = e4m3x2_to<T>(raw.w);
  hi.w = e4m3x2_to<T>(raw.w >> 16);
}

// 8 bf16 values (fp8_ds_mla rope) -> 8 values of T.
template <class T>
__device__ __forceinline__ uint4 bf16x8_to(const uint4& raw) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return raw;
  } else {
    auto one = [](uint32_t two) {
      __nv_bfloat162 b;
      *reinterpret_cast<uint32_t*>(&b) = two;
      const float2 f = __bfloat1622float2(b);
      return ptx::pack2<T>(f.x, f.y);
    };
    return make_uint4(one(raw.x), one(raw.y), one(raw.z), one(raw.w));
  }
}

template <class T, int MT, int KV>
__global__ void __launch_bounds__(256, 1) part1_kernel(const __grid_constant__ Part1Params p) {
  using Tr = Part1Traits<T, MT, KV>;
  constexpr int HB = Tr::HB, BN = Tr::BN, STAGES = Tr::STAGES;
  extern __shared__ __align__(128) uint8_t smem_raw[];
  auto& sm = *reinterpret_cast<typename Tr::Shared*>(smem_raw);

  const int tid = threadIdx.x;
  const int warp = tid >> 5, lane = tid & 31;
  const int hblk = blockIdx.x % p.head_blocks;
  const int wcta = blockIdx.x / p.head_blocks;
  const int row0 = hblk * HB;

  int first, last;
  if (p.one_piece_per_cta) {
    first = wcta;
    last = wcta < p.header->num_pieces ? wcta + 1 : wcta;
  } else {
    first = p.cta_begin[wcta];
    last = p.cta_begin[wcta + 1];
  }

  const uint64_t evict_first = ptx::policy_evict_first();
  const T* __restrict__ kv = static_cast<const T*>(p.kv);
  const uint8_t* __restrict__ kv8 = static_cast<const uint8_t*>(p.kv);
  const uint32_t sq = ptx::smem_addr(sm.q);
  const uint32_t skv0 = ptx::smem_addr(sm.kv[0]);
  constexpr uint32_t kStageBytes = BN * Tr::kStageRowBytes;
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

    // Tile copies run STAGES-1 tiles ahead; the block-table entry they need is fetched one more
    // tile ahead into a register, so the lookup latency stays out of the copy-issue path.
    // Thread -> (row lrow, chunks lsub + 8j): one lookup and one base address per tile; the
    // swizzle commutes with the +8-chunk stride, so the 9 copies use immediate offsets.
    // Rows past `end` are zero-filled and neither their table entry nor their KV row is read.
    const int lrow = tid >> 3, lsub = tid & 7;
    const uint32_t ldst = swz(lrow, lsub);
    int next_page = 0;
    auto fetch_page = [&](int t) {
      const int pos = begin + t * BN + lrow;
      next_page = (t < ntiles && pos < end) ? __ldg(bt + (pos >> p.page_shift)) : 0;
    };
    auto load_tile = [&](int t) {
      const int pos = begin + t * BN + lrow;
      if constexpr (Tr::kFp8) {
        // Raw row bytes into the row's 656-byte slot, unswizzled: lane lsub copies chunks
        // lsub, lsub + 8, ... of the row's 36 (e4m3) or 41 (ds_mla) 16-byte chunks.
        const uint32_t dst = skv0 + static_cast<uint32_t>(t % STAGES) * kStageBytes +
                             static_cast<uint32_t>(lrow * Tr::kStageRowBytes + lsub * 16);
        const uint8_t* src = kv8;
        int bytes = 0;
        if (pos < end) {
          if (static_cast<unsigned>(next_page) < static_cast<unsigned>(p.num_pages)) {
            src = kv8 + static_cast<int64_t>(next_page) * p.kv_stride_page +
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
      const uint32_t dst = skv0 + static_cast<uint32_t>(t % STAGES) * kStageBytes + ldst;
      const T* src = kv;
      int bytes = 0;
      if (pos < end) {
        if (static_cast<unsigned>(next_page) < static_cast<unsigned>(p.num_pages)) {
          src = kv + static_cast<int64_t>(next_page) * p.kv_stride_page +
                static_cast<int64_t>(pos & page_mask) * kHeadDimQK + lsub * 8;
          bytes = 16;
        } else {
          atomicOr(&sm.bad, 1);
        }
      }
#pragma unroll
      for (int j = 0; j < Tr::kChunks / 8; ++j)
        ptx::cp_async_16(dst + 128 * j, src + (bytes ? 64 * j : 0), bytes, evict_first);
    };

#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
      if (s < ntiles) {
        fetch_page(s);
        load_tile(s);
      }
      ptx::cp_async_commit();
    }
    fetch_page(STAGES - 1);

    // Softmax state of this thread's query row (identical across the row's TPR threads), and
    // the row's own end: its token sees positions [begin, row_end) of the piece.
    float m_run = merge::neg_inf<float>(), l_run = 0.f;
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
      ptx::cp_async_wait<STAGES - 2>();
      __syncthreads();
      if (t + STAGES - 1 < ntiles) load_tile(t + STAGES - 1);
      ptx::cp_async_commit();
      fetch_page(t + STAGES);

      uint32_t skv = skv0 + static_cast<uint32_t>(t % STAGES) * kStageBytes;
      if constexpr (Tr::kFp8) {
        // ---- convert the landed fp8 tile into sm.kvc (T, swizzled) ----
        // Unit u = (row, k): 16 values (two chunks) of one row; k < 32 are latent bytes
        // [16k, 16k + 16) (one 128-value block, k / 8), k >= 32 of ds_mla the rope values.
        // The previous tile's PV finished before this iteration's first barrier, so sm.kvc is free.
        const uint8_t* st = sm.kv[t % STAGES];
        const int valid = end - (begin + t * BN);  // rows below this hold visible positions
        bool bad_scale = false;
        for (int u = tid; u < BN * Tr::kUnitsPerRow; u += Tr::kThreads) {
          const int row = u / Tr::kUnitsPerRow, k = u - row * Tr::kUnitsPerRow;
          const uint8_t* src = st + row * Tr::kStageRowBytes;
          uint4 lo, hi;
          if (ds && k >= 32) {
            const uint8_t* rope = src + kFp8DsMlaRopeOffset + 32 * (k - 32);
            lo = bf16x8_to<T>(*reinterpret_cast<const uint4*>(rope));
            hi = bf16x8_to<T>(*reinterpret_cast<const uint4*>(rope + 16));
          } else {
            if (ds && (k & 7) == 0 && row < valid) {  // one check per (row, block)
              const float sc = reinterpret_cast<const float*>(src + kFp8DsMlaScaleOffset)[k >> 3];
              if (!(sc > 0.f && sc <= FLT_MAX)) bad_scale = true;
            }
            e4m3x16_to<T>(*reinterpret_cast<const uint4*>(src + 16 * k), lo, hi);
          }
          *reinterpret_cast<uint4*>(sm.kvc + swz(row, 2 * k)) = lo;
          *reinterpret_cast<uint4*>(sm.kvc + swz(row, 2 * k + 1)) = hi;
        }
        if (bad_scale) atomicOr(&sm.bad, 2);
        __syncthreads();
        skv = ptx::smem_addr(sm.kvc);
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
          // The tile holds raw e4m3 values (exact in T). k range of this warp: LB whole
          // 128-value latent blocks (k16 steps ks*8*LB ..), then RS rope steps (32 + ks*RS ..).
          // Each block sums into its own accumulators, which join the running sum multiplied by
          // the block's scale of each key row (fp8_ds_mla; 1 for fp8_e4m3, whose scale is folded
          // into scale_log2): exact dequantization for 4 FMAs per block.
          constexpr int NT = Tr::NT_PER_WARP;
          constexpr int LB = 4 / Tr::KSPLIT, RS = 4 / Tr::KSPLIT;
          static_assert(LB * 8 + RS == Tr::KSTEPS, "fp8 QK: blocks and rope steps cover the k range");
          const int nt0 = pair0 % (BN / 8);
          const int brow = NT == 2 ? (nt0 + (lane >> 4)) * 8 + (lane & 7) : nt0 * 8 + (lane & 7);
          auto kstep_of = [&](int kk) {
            return kk < 8 * LB ? ks * 8 * LB + kk : 32 + ks * RS + (kk - 8 * LB);
          };
          if constexpr (Tr::kQInRegs) {
            if (t == 0) {  // Q landed with tile 0
#pragma unroll
              for (int kk = 0; kk < Tr::KSTEPS; ++kk)
                ptx::ldmatrix_x4(sq + swz(arow, kstep_of(kk) * 2 + (lane >> 4)), qf[kk][0],
                                 qf[kk][1], qf[kk][2], qf[kk][3]);
            }
          }
          auto mma_step = [&](int kk, float (&acc)[NT][4]) {
            const int kstep = kstep_of(kk);
            uint32_t a[4];
            if constexpr (Tr::kQInRegs) {
              a[0] = qf[kk][0];
              a[1] = qf[kk][1];
              a[2] = qf[kk][2];
              a[3] = qf[kk][3];
            } else {
              ptx::ldmatrix_x4(sq + swz(arow, kstep * 2 + (lane >> 4)), a[0], a[1], a[2], a[3]);
            }
            if constexpr (NT == 2) {
              uint32_t b0, b1, b2, b3;
              ptx::ldmatrix_x4(skv + swz(brow, kstep * 2 + ((lane >> 3) & 1)), b0, b1, b2, b3);
              ptx::mma_16816<T>(acc[0], a, b0, b1);
              ptx::mma_16816<T>(acc[1], a, b2, b3);
            } else {
              uint32_t b0, b1;
              ptx::ldmatrix_x2(skv + swz(brow, kstep * 2 + ((lane >> 3) & 1)), b0, b1);
              ptx::mma_16816<T>(acc[0], a, b0, b1);
            }
          };
          // Key row r's 4 block scales: floats at r * kStageRowBytes + 512 of the staged tile.
          const float* sc_rows =
              reinterpret_cast<const float*>(sm.kv[t % STAGES] + kFp8DsMlaScaleOffset);
#pragma unroll
          for (int lb = 0; lb < LB; ++lb) {
            // Two independent MMA chains: the two n tiles, or (one n tile) even and odd k steps.
            constexpr int NB = NT == 1 ? 2 : 1;
            float be[NT][4], bo[NT][4];
#pragma unroll
            for (int n = 0; n < NT; ++n)
#pragma unroll
              for (int e = 0; e < 4; ++e) be[n][e] = bo[n][e] = 0.f;
#pragma unroll
            for (int i = 0; i < 8; i += NB) {
              mma_step(lb * 8 + i, be);
              if constexpr (NB == 2) mma_step(lb * 8 + i + 1, bo);
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
#pragma unroll
          for (int i = 0; i < RS; ++i) mma_step(8 * LB + i, sacc);
          (void)sodd;
        } else if constexpr (Tr::kQInRegs) {
          if (t == 0) {  // Q landed with tile 0
#pragma unroll
            for (int kk = 0; kk < Tr::KSTEPS; ++kk)
              ptx::ldmatrix_x4(sq + swz(arow, (ks * Tr::KSTEPS + kk) * 2 + (lane >> 4)), qf[kk][0],
                               qf[kk][1], qf[kk][2], qf[kk][3]);
          }
          const int brow = (pair0 % (BN / 8)) * 8 + (lane & 7);
          const uint32_t bbase = skv + static_cast<uint32_t>(brow * Tr::kRowBytes);
          const int bsw = brow & 7;
#pragma unroll
          for (int kk = 0; kk < Tr::KSTEPS; ++kk) {
            const int chunk = (ks * Tr::KSTEPS + kk) * 2 + ((lane >> 3) & 1);
            uint32_t b0, b1;
            ptx::ldmatrix_x2(bbase + ((chunk ^ bsw) << 4), b0, b1);
            ptx::mma_16816<T>((kk & 1) ? sodd : sacc[0], qf[kk], b0, b1);
          }
          sacc[0][0] += sodd[0];
          sacc[0][1] += sodd[1];
          sacc[0][2] += sodd[2];
          sacc[0][3] += sodd[3];
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
          sm.s[ks][r][col] = sacc[n][0];
          sm.s[ks][r][col + 1] = sacc[n][1];
          sm.s[ks][r + 8][col] = sacc[n][2];
          sm.s[ks][r + 8][col + 1] = sacc[n][3];
        }
      }
      __syncthreads();

      // ---- online softmax (base 2) ----
      {
        const int pos0 = begin + t * BN;
        float sv[Tr::CPT];
        float mx = merge::neg_inf<float>();
#pragma unroll
        for (int c = 0; c < Tr::CPT; ++c) {
          const int col = ssub * Tr::CPT + c;
          float s = 0.f;
#pragma unroll
          for (int k = 0; k < Tr::KSPLIT; ++k) s += sm.s[k][srow][col];
          s = (pos0 + col < row_end) ? s * scale_log2 : merge::neg_inf<float>();
          sv[c] = s;
          mx = fmaxf(mx, s);
        }
#pragma unroll
        for (int off = Tr::TPR / 2; off >= 1; off >>= 1)
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const float m_new = fmaxf(m_run, mx);
        const float alpha = merge::rescale_exp2(m_run, m_new);
        float sum = 0.f;
#pragma unroll
        for (int c = 0; c < Tr::CPT; c += 2) {
          const float p0 = merge::prob_exp2(sv[c], m_new);
          const float p1 = Tr::CPT > 1 ? merge::prob_exp2(sv[c + 1], m_new) : 0.f;
          sum += p0 + p1;
          const int pc = srow * Tr::P_STRIDE + ssub * Tr::CPT + c;
          if (Tr::kFp8 && ds) {
            // fp8_ds_mla: P times each key row's scale of value block v, one copy per block;
            // the PV warps of block v read copy v (the denominator keeps the plain P).
            const int col = ssub * Tr::CPT + c;
            const uint8_t* row0 = sm.kv[t % STAGES] + col * Tr::kStageRowBytes + kFp8DsMlaScaleOffset;
            const float* sc0 = reinterpret_cast<const float*>(row0);
            const float* sc1 = reinterpret_cast<const float*>(row0 + Tr::kStageRowBytes);
#pragma unroll
            for (int v = 0; v < 4; ++v)
              *reinterpret_cast<uint32_t*>(&sm.p[v * HB * Tr::P_STRIDE + pc]) =
                  ptx::pack2<T>(p0 * sc0[v], Tr::CPT > 1 ? p1 * sc1[v] : 0.f);
          } else {
            *reinterpret_cast<uint32_t*>(&sm.p[pc]) = ptx::pack2<T>(p0, p1);
          }
        }
#pragma unroll
        for (int off = Tr::TPR / 2; off >= 1; off >>= 1)
          sum += __shfl_xor_sync(0xffffffffu, sum, off);
        l_run = l_run * alpha + sum;
        m_run = m_new;
        if (ssub == 0) sm.alpha[srow] = alpha;
      }
      __syncthreads();

      // ---- O = alpha * O + P V ----
      {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          const float a0 = sm.alpha[mt * 16 + (lane >> 2)];
          const float a1 = sm.alpha[mt * 16 + (lane >> 2) + 8];
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            acc[mt][j][0] *= a0;
            acc[mt][j][1] *= a0;
            acc[mt][j][2] *= a1;
            acc[mt][j][3] *= a1;
          }
        }
        const uint32_t sp =
            ptx::smem_addr(sm.p) + ((Tr::kFp8 && ds) ? static_cast<uint32_t>(
                                                           (warp >> 1) * HB * Tr::P_STRIDE * sizeof(T))
                                                     : 0u);
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          uint32_t a[MT][4];
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            const int r = mt * 16 + (lane & 15);
            const int c = kk * 16 + (lane >> 4) * 8;
            ptx::ldmatrix_x4(sp + static_cast<uint32_t>((r * Tr::P_STRIDE + c) * sizeof(T)),
                             a[mt][0], a[mt][1], a[mt][2], a[mt][3]);
          }
          const int vrow = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
#pragma unroll
          for (int jp = 0; jp < 4; ++jp) {
            const int chunk = warp * 8 + jp * 2 + (lane >> 4);
            uint32_t b0, b1, b2, b3;
            ptx::ldmatrix_x4_trans(skv + swz(vrow, chunk), b0, b1, b2, b3);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
              ptx::mma_16816<T>(acc[mt][2 * jp], a[mt], b0, b1);
              ptx::mma_16816<T>(acc[mt][2 * jp + 1], a[mt], b2, b3);
            }
          }
        }
      }
    }
    ptx::cp_async_wait<0>();

    // ---- epilogue ----
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
        const float il = sm.inv_l[r] * kv_scale;  // fp8_e4m3: the scale of V, folded
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
    if (tid < HB && row0 + tid < p.rows) {
      const int row = row0 + tid;
      const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
      const float l = bad ? nan : sm.lse[tid];
      if (pc.slot < 0) {
        if (p.lse != nullptr)
          p.lse[static_cast<int64_t>(b) * p.lse_stride_batch +
                static_cast<int64_t>(t) * p.lse_stride_token +
                static_cast<int64_t>(h) * p.lse_stride_head] = l;
      } else {
        p.part_lse[static_cast<int64_t>(pc.slot) * p.rows + row] = l;
      }
    }
    __syncthreads();  // shared memory is reused by the next piece
  }
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
