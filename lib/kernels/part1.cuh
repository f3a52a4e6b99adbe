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
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/merge.hpp"
#include "kernels/params.hpp"
#include "kernels/ptx.cuh"

namespace splitmla::kernels {

template <class T, int MT>
struct Part1Traits {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = 8;
  static constexpr int HB = 16 * MT;            // query rows per CTA
  static constexpr int BN = 32;                 // KV rows per tile
  static constexpr int kChunks = 72;            // 16-byte chunks per 576-element row
  static constexpr int kRowBytes = 1152;
  static constexpr int STAGES = MT == 1 ? 5 : (MT == 2 ? 4 : 3);
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
    alignas(128) uint8_t kv[STAGES][BN * kRowBytes];
    float s[KSPLIT][HB][BN];
    alignas(16) T p[HB * P_STRIDE];
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
  return static_cast<uint32_t>(row * 1152 + ((chunk ^ (row & 7)) << 4));
}

template <class T, int MT>
__global__ void __launch_bounds__(256, 1) part1_kernel(const __grid_constant__ Part1Params p) {
  using Tr = Part1Traits<T, MT>;
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
  const uint32_t sq = ptx::smem_addr(sm.q);
  const uint32_t skv0 = ptx::smem_addr(sm.kv[0]);
  constexpr uint32_t kStageBytes = BN * Tr::kRowBytes;
  const int page_mask = (1 << p.page_shift) - 1;

  for (int pi = first; pi < last; ++pi) {
    const Piece pc = p.pieces[pi];
    const int b = pc.b;
    const int begin = pc.begin, end = pc.end;
    const int ntiles = (end - begin + BN - 1) / BN;
    const int32_t* bt = p.block_table + static_cast<int64_t>(b) * p.bt_stride;
    if (tid == 0) sm.bad = 0;

    // Q of this row block (zeros for rows past q_len * num_heads).
    {
      const T* qb = static_cast<const T*>(p.q) + static_cast<int64_t>(b) * p.q_stride_batch;
      for (int c = tid; c < HB * Tr::kChunks; c += Tr::kThreads) {
        const int row = c / Tr::kChunks, ch = c % Tr::kChunks;
        const int r = row0 + row;
        const bool ok = r < p.rows;
        const int t = r / p.num_heads, h = r - t * p.num_heads;
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
      const uint32_t dst = skv0 + static_cast<uint32_t>(t % STAGES) * kStageBytes + ldst;
      const T* src = kv;
      int bytes = 0;
      if (pos < end) {
        if (static_cast<unsigned>(next_page) < static_cast<unsigned>(p.num_pages)) {
          src = kv + static_cast<int64_t>(next_page) * p.kv_stride_page +
                static_cast<int64_t>(pos & page_mask) * 576 + lsub * 8;
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
    int row_end = begin;
    {
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

      const uint32_t skv = skv0 + static_cast<uint32_t>(t % STAGES) * kStageBytes;

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
        if constexpr (Tr::kQInRegs) {
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
          s = (pos0 + col < row_end) ? s * p.scale_log2 : merge::neg_inf<float>();
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
          *reinterpret_cast<uint32_t*>(&sm.p[srow * Tr::P_STRIDE + ssub * Tr::CPT + c]) =
              ptx::pack2<T>(p0, p1);
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
        const uint32_t sp = ptx::smem_addr(sm.p);
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
    const bool bad = sm.bad != 0 || (p.req_error[b] & kErrBadSeqLen) != 0;
    if (bad && tid == 0 && sm.bad != 0) atomicOr(&p.req_error[b], kErrBadPageId);
    const float nan = merge::quiet_nan<float>();
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = mt * 16 + (lane >> 2) + half * 8;
        const int row = row0 + r;
        if (row >= p.rows) continue;
        const int t = row / p.num_heads, h = row - t * p.num_heads;
        const float il = sm.inv_l[r];
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
          float* o = p.part_out + (static_cast<int64_t>(pc.slot) * p.rows + row) * 512;
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
      const int t = row / p.num_heads, h = row - t * p.num_heads;
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

template <class T, int MT>
cudaError_t launch_part1_instance(const Part1Params& p, int grid, cudaStream_t stream) {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT>::Shared);
  part1_kernel<T, MT><<<grid, 256, smem, stream>>>(p);
  return cudaGetLastError();
}

template <class T, int MT>
cudaError_t prepare_part1_instance() {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT>::Shared);
  return cudaFuncSetAttribute(part1_kernel<T, MT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(smem));
}

template <class T, int MT>
cudaError_t occupancy_part1_instance(int* blocks) {
  constexpr size_t smem = sizeof(typename Part1Traits<T, MT>::Shared);
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, part1_kernel<T, MT>, 256, smem);
}

#define SPLITMLA_PART1_INSTANCE(T, MT)                                                       \
  template cudaError_t launch_part1_instance<T, MT>(const Part1Params&, int, cudaStream_t); \
  template cudaError_t prepare_part1_instance<T, MT>();                                      \
  template cudaError_t occupancy_part1_instance<T, MT>(int*);

}  // namespace splitmla::kernels
