// The per-tile math both wgmma part1 kernels (16-bit caches: part1_wgmma.cuh; fp8_e4m3 caches
// converted to fp16 tiles: part1_wgmma_fp8.cuh) run on a 64-key tile in the planar
// 128B-swizzled layout: S = Q K^T, the online softmax of S in registers, and P into the tile's
// rope group for the other warpgroup.
#pragma once

#include <cstdint>

#include "core/merge.hpp"
#include "kernels/common/epilogue.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/sm90_desc.hpp"

namespace splitmla::kernels {

// The descriptor templates of the wgmma kernels' planar 128B-swizzled 64-row tiles (K-major for
// Q, K and P; MN-major for V; sm90_desc.hpp) and a template's descriptor at a shared address.
inline constexpr uint64_t kDescK = sm90::kDescKMajor;
inline constexpr uint64_t kDescV = sm90::kDescVMajor;
__device__ __forceinline__ uint64_t desc(uint64_t tmpl, uint32_t addr) { return sm90::desc_at(tmpl, addr); }
static_assert(kWgmmaKeyTile == 64, "kDescV's column groups are 64 rows of 128 bytes");

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

// Zeroes the V part (column groups 0..7) of the rows outside [lo, vend) of a planar 64-key tile:
// they hold other positions' bytes (NaN allowed), where P is 0 and 0 x NaN would poison O.
// The 128 threads of a warpgroup share the rows (wt: this thread's index among them).
__device__ __forceinline__ void zero_masked_v_rows(uint8_t* tile, int lo, int vend, int wt) {
  constexpr int BN = kWgmmaKeyTile;
  for (int i = wt; i < 8 * BN; i += 128) {
    const int grp = i / BN, r = i % BN;
    if (r < lo || r >= vend) {
      uint4* row = reinterpret_cast<uint4*>(tile + grp * BN * 128 + r * 128);
#pragma unroll
      for (int c = 0; c < 8; ++c) row[c] = make_uint4(0u, 0u, 0u, 0u);
    }
  }
}

// A thread's place in a wgmma part1 CTA: its warpgroup (through a shuffle, so the compiler knows
// it is warp-uniform, as wgmma needs), thread and warp within the warpgroup, and lane.
struct WgmmaThread {
  int tid, wg, wt, wwarp, lane;
};
__device__ __forceinline__ WgmmaThread wgmma_thread() {
  WgmmaThread t;
  t.tid = threadIdx.x;
  t.wg = __shfl_sync(0xffffffffu, t.tid >> 7, 0);
  t.wt = t.tid & 127;
  t.wwarp = t.wt >> 5;
  t.lane = t.tid & 31;
  return t;
}

// The CTA's place: its row block (hblk; first query row row0 = hblk x HB, row r = token x
// num_heads + head), its work CTA, and that work CTA's pieces [first, last).
struct WgmmaCta {
  int hblk, wcta, row0, first, last;
};
template <int HB>
__device__ __forceinline__ WgmmaCta wgmma_cta(const Part1Params& p) {
  WgmmaCta c;
  c.hblk = blockIdx.x % p.head_blocks;
  c.wcta = blockIdx.x / p.head_blocks;
  c.row0 = c.hblk * HB;
  cta_piece_range(p, c.wcta, &c.first, &c.last);
  return c;
}

// The token of query row r (rows are token x num_heads + head; q_len 1: no division).
__device__ __forceinline__ int query_token(const Part1Params& p, int r) {
  return p.q_len == 1 ? 0 : r / p.num_heads;
}

// A row's own end in request b's piece ending at `end`: with q_len > 1 each token sees the cache up
// to its limit (q_len 1: the piece is already clipped). Rows past the last keep `end`: their Q is
// zero and they are never written.
__device__ __forceinline__ int row_end(const Part1Params& p, int b, int row, int end) {
  if (p.q_len == 1 || row >= p.rows) return end;
  return min(end, __ldg(p.token_limits + static_cast<int64_t>(b) * p.q_len + query_token(p, row)));
}

// A piece as the three-warpgroup kernels walk it (v2 and the fp8 kernel v1): its tiles cover
// [w0, w0 + 64 ntiles), w0 = begin rounded down to a page run of 2^run_shift rows, so each run of
// a tile lies in one page; rows before begin (lo of them) and from end on are masked in S and
// zeros in V. The fields read warp-uniformly (lane 0's load, shuffled).
struct WgmmaPiece {
  Piece pc;
  int b, begin, end, w0, lo, ntiles;
};
__device__ __forceinline__ WgmmaPiece wgmma_piece(const Part1Params& p, int pi, int run_shift) {
  WgmmaPiece in;
  in.pc = p.pieces[pi];
  in.b = __shfl_sync(0xffffffffu, in.pc.b, 0);
  in.begin = __shfl_sync(0xffffffffu, in.pc.begin, 0);
  in.end = __shfl_sync(0xffffffffu, in.pc.end, 0);
  in.w0 = in.begin & ~((1 << run_shift) - 1);
  in.lo = in.begin - in.w0;
  in.ntiles = in.end > in.begin ? (in.end - in.w0 + kWgmmaKeyTile - 1) / kWgmmaKeyTile : 0;
  return in;
}

// The per-piece barriers (A) and (B) of all the threads of a three-warpgroup kernel, which WG0
// and the PV warpgroups reach from their own code: an mbarrier (arrive with release, wait with
// acquire, CTA scope), not bar.sync. compute-sanitizer's synccheck reports __syncthreads, and
// bar.sync 1, 384 alike, reached from two code paths as divergent threads at a barrier (H200,
// CUDA 13.0).
struct PieceBarrier {
  uint32_t bar;  // shared-window address of the mbarrier (initialized with all the threads)
  uint32_t phase;
  __device__ __forceinline__ void sync() {
    sm90::mbar_arrive(bar);
    sm90::mbar_wait(bar, phase);
    phase ^= 1u;
  }
};

// k16 steps of Q's latent part (of 32) that the v2 kernel holds as register fragments. The last
// one, columns 496..511, is read from a 2-KB 32B-swizzled buffer (qlast, store_q_last): with all
// 32 in registers WG0 needs more than the 184 registers the CTA's pool leaves it beside two
// 160-register PV warpgroups (ptxas: spills and serialized wgmmas).
constexpr int kQkRsSteps = 31;

// Q's latent part (columns 0..495) of rows ra and rb (row pointers; null = a zero row) as the A
// fragments of kQkRsSteps RS k steps: qa[ks][0] = row ra, columns 16 ks + 2 q4 and + 1;
// qa[ks][1] = row rb, the same columns; qa[ks][2], qa[ks][3] = the same 8 columns further.
template <class T>
__device__ __forceinline__ void load_q_fragments(const T* qra, const T* qrb, int q4,
                                                 uint32_t (&qa)[kQkRsSteps][4]) {
  // 16-byte loads, then a quad transpose: lane q4 of a quad loads words 16 p + 4 q4 .. + 3 of its
  // row (k steps 2p and 2p + 1); after ptx::quad_transpose4 it holds words 16 p + q4, + 4, + 8 and
  // + 12, its A fragment words of both k steps. A warp's load then covers 64 bytes of each of its
  // 8 rows instead of 16: a quarter of the loads and L1 wavefronts of one 4-byte load a fragment
  // word (the first tile of every piece waits for Q). Rows are 16-byte aligned (as load_q_last's
  // loads need too). Every lane of the warp calls it (quad shuffles).
  const uint4* pa = qra ? reinterpret_cast<const uint4*>(qra) + q4 : nullptr;
  const uint4* pb = qrb ? reinterpret_cast<const uint4*>(qrb) + q4 : nullptr;
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  constexpr int kPairs = (kQkRsSteps + 1) / 2;
#pragma unroll
  for (int p2 = 0; p2 < kPairs; ++p2) {
    const uint4 va = pa ? __ldg(pa + 4 * p2) : zero;
    const uint4 vb = pb ? __ldg(pb + 4 * p2) : zero;
    uint32_t xa[4] = {va.x, va.y, va.z, va.w};
    uint32_t xb[4] = {vb.x, vb.y, vb.z, vb.w};
    ptx::quad_transpose4(xa, q4);
    ptx::quad_transpose4(xb, q4);
    qa[2 * p2][0] = xa[0];
    qa[2 * p2][1] = xb[0];
    qa[2 * p2][2] = xa[1];
    qa[2 * p2][3] = xb[1];
    if (2 * p2 + 1 < kQkRsSteps) {  // k step 31 (columns 496..511) goes through shared memory
      qa[2 * p2 + 1][0] = xa[2];
      qa[2 * p2 + 1][1] = xb[2];
      qa[2 * p2 + 1][2] = xa[3];
      qa[2 * p2 + 1][3] = xb[3];
    }
  }
}

// Columns 496..511 of Q row r (null = zeros) into qlast (generic pointer, 32B-swizzled [64, 16]
// block, k16_offset_32b): 16-byte chunk c16 (0 or 1) of the row; two threads a row. In two halves
// for a caller that reads Q before the shared block is its own: load_q_last, then put_q_last.
template <class T>
__device__ __forceinline__ uint4 load_q_last(const T* row, int c16) {
  static_assert(kQkRsSteps == 31, "store_q_last stores one k16 step");
  return row ? __ldg(reinterpret_cast<const uint4*>(row + 16 * kQkRsSteps + 8 * c16))
             : make_uint4(0u, 0u, 0u, 0u);
}
__device__ __forceinline__ void put_q_last(uint4 v, int r, int c16, uint8_t* qlast) {
  *reinterpret_cast<uint4*>(qlast + sm90::k16_offset_32b(r, 8 * c16)) = v;
}
template <class T>
__device__ __forceinline__ void store_q_last(const T* row, int r, int c16, uint8_t* qlast) {
  put_q_last(load_q_last<T>(row, c16), r, c16, qlast);
}

// S = Q K^T of one 64-key tile with Q's latent part in registers (qa, load_q_fragments) but its
// last k16 step at sqlast (store_q_last) and its rope group at sqrope (one 64-column group, the
// planar swizzled layout): kQkRsSteps RS k steps over the tile's groups 0..7, one SS step for
// columns 496..511, then 4 SS steps over group 8. Issues and commits one wgmma group.
template <class T>
__device__ __forceinline__ void qk_tile_rs(float (&s)[32], const uint32_t (&qa)[kQkRsSteps][4],
                                           uint32_t sqlast, uint32_t sqrope, uint32_t skv,
                                           uint32_t group_bytes) {
  constexpr uint64_t kDescQ32 = sm90::make_smem_desc(0, 16, 256, sm90::kSwizzle32B);
  auto koff = [&](int ks) { return (ks >> 2) * group_bytes + (ks & 3) * 32; };
  sm90::wgmma_fence();
  sm90::qk_rs0<T>(s, qa[0], desc(kDescK, skv));
#pragma unroll
  for (int ks = 1; ks < kQkRsSteps; ++ks) sm90::qk_rs<T>(s, qa[ks], desc(kDescK, skv + koff(ks)), 1);
#pragma unroll
  for (int ks = kQkRsSteps; ks < 32; ++ks)
    sm90::qk_ss<T>(s, desc(kDescQ32, sqlast + (ks - kQkRsSteps) * 2048), desc(kDescK, skv + koff(ks)), 1);
#pragma unroll
  for (int ks = 0; ks < 4; ++ks)
    sm90::qk_ss<T>(s, desc(kDescK, sqrope + ks * 32), desc(kDescK, skv + 8 * group_bytes + ks * 32), 1);
  sm90::wgmma_commit();
}

// softmax_tile's lazy maximum: merge::kLazyMaxStep.
using merge::kLazyMaxStep;

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

// store_p_tile with four stmatrix .x4 a warp instead of sixteen 4-byte stores a thread (fewer
// instructions and address registers). Matrices of one call: rows of the warp's top and bottom
// eight (ra, rb) for column blocks j and j + 1; lane l addresses row 16 w + 8 ((l >> 3) & 1) +
// (l & 7) of block j + (l >> 4), which the 128-byte swizzle puts at 16-byte chunk
// (j + (l >> 4)) ^ (l & 7) = j ^ c0 of the row (j even), c0 = (l >> 4) ^ (l & 7). `tile`: the
// shared-window address of a 1024-byte aligned 64-key tile.
__device__ __forceinline__ void store_p_tile_stsm(uint32_t tile, int warp, int lane,
                                                  const uint32_t (&pr)[8][2]) {
  const int r = 16 * warp + 8 * ((lane >> 3) & 1) + (lane & 7);
  // Group kHeadDimV / 64 of the tile (1024-byte aligned), row r, chunk c0: bits 4..6 hold c0.
  const uint32_t a0 = tile + static_cast<uint32_t>((kHeadDimV / 64) * 64 * 128 + r * 128) +
                      static_cast<uint32_t>(((lane >> 4) ^ (lane & 7)) << 4);
#pragma unroll
  for (int j = 0; j < 8; j += 2)
    sm90::stmatrix_x4(a0 ^ static_cast<uint32_t>(j << 4), pr[j][0], pr[j][1], pr[j + 1][0],
                      pr[j + 1][1]);
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
