// part2: merge the partial outputs of each (multi-split request, query row) with the shared merge
// algebra (lib/core/merge.hpp): empty splits (lse = -inf) weigh nothing, all-empty gives out = 0
// and lse = -inf, any NaN split makes the row NaN. Deterministic: fixed order, no atomics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/merge.hpp"
#include "core/pair_walk.hpp"
#include "kernels/common/launch.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"

namespace splitmla::kernels {
namespace {

// Two layouts, chosen on the host from static bounds (never from device data):
//  narrow: one warp per (request, row), each lane 16 of the 512 columns (4 lane + 128 c, c < 4:
//          every warp load or store covers 512 contiguous bytes of floats); for when (request,
//          row) pairs alone fill the GPU. A warp's pairs need no barrier and no shared memory.
//  wide:   one 256-thread block per (request, row, 128-column quarter), 8 groups of 32 threads
//          each merging splits g, g+8, ...; for few pairs with many splits (small batch). Group
//          partial sums meet in shared memory and are added in group order.
// Both add each column's splits in a fixed order, independent of the other requests.
//
// Why a warp a pair (lib/kernels/NOTES.md, "Eighteenth session"): with 128 threads of 4 columns a
// pair, what a pair costs beyond its 8-32 bytes a thread of loads (the pair's index arithmetic,
// the max over its lse values and its team barrier, the weights, the final divisions and the lse)
// came once per 4 columns, and at 4,096 pairs of 2 splits (H128_B32_L32k) part2 took 15.5 us for
// 21 MB of traffic. A warp spreads that work over 16 columns a lane.
constexpr int kNarrowWarps = 8;  // warps (pairs at once) of a narrow block
constexpr int kNarrowThreads = 32 * kNarrowWarps;
constexpr int kNarrowCols = kHeadDimV / 128;  // float4 column groups of a lane: 4

struct WideLayout {
  static constexpr int kGroups = 8;
  static constexpr int kGroupThreads = 32;
  static constexpr int kColsPerBlock = kGroupThreads * 4;
  static constexpr int kQuarters = kHeadDimV / kColsPerBlock;
  static constexpr int kThreads = kGroups * kGroupThreads;
};

// The request row `row` = t * num_heads + h of request b: where its out and lse go.
struct OutAt {
  int64_t out, lse;
};
__device__ __forceinline__ OutAt out_at(const Part2Params& p, int b, int row) {
  const int t = row / p.num_heads, h = row - t * p.num_heads;
  return {static_cast<int64_t>(b) * p.out_stride_batch + static_cast<int64_t>(t) * p.out_stride_token +
              static_cast<int64_t>(h) * p.out_stride_head,
          static_cast<int64_t>(b) * p.lse_stride_batch + static_cast<int64_t>(t) * p.lse_stride_token +
              static_cast<int64_t>(h) * p.lse_stride_head};
}

// Four merged columns to out (float32 for context-parallel partials, else T), scaled by inv =
// st.inv().
template <class T>
__device__ __forceinline__ void store4(const Part2Params& p, int64_t at, const merge::MergeState<float>& st,
                                       float inv, const float4& acc) {
  const float x = st.out_with(acc.x, inv), y = st.out_with(acc.y, inv), z = st.out_with(acc.z, inv),
              w = st.out_with(acc.w, inv);
  if (p.out_f32) {
    *reinterpret_cast<float4*>(static_cast<float*>(p.out) + at) = make_float4(x, y, z, w);
  } else {
    uint2 packed;
    packed.x = ptx::pack2<T>(x, y);
    packed.y = ptx::pack2<T>(z, w);
    *reinterpret_cast<uint2*>(static_cast<T*>(p.out) + at) = packed;
  }
}

__device__ __forceinline__ void accumulate4(float4& acc, float w, const float4& o) {
  acc.x = merge::MergeState<float>::accumulate(acc.x, w, o.x);
  acc.y = merge::MergeState<float>::accumulate(acc.y, w, o.y);
  acc.z = merge::MergeState<float>::accumulate(acc.z, w, o.z);
  acc.w = merge::MergeState<float>::accumulate(acc.w, w, o.w);
}

// Narrow: the warp merges pair (e, row). Each lane reads the lse of splits lane, lane + 32, ...
// for the max; the first two splits' o are read before it, so those loads overlap it; then the
// splits in order, two at a time, each weight from its lse: the first 32 splits' from the lane
// that read it for the max (a shuffle), any later split's by a warp-wide broadcast load.
template <class T>
__device__ __forceinline__ void merge_pair_warp(const Part2Params& p, const MultiEntry& e, int row) {
  const int lane = static_cast<int>(threadIdx.x & 31u);
  const float* lse = p.part_lse + static_cast<int64_t>(e.first_slot) * p.rows + row;
  const float* po = p.part_out + (static_cast<int64_t>(e.first_slot) * p.rows + row) * kHeadDimV + 4 * lane;
  const int64_t slot_stride = static_cast<int64_t>(p.rows) * kHeadDimV;
  auto load_o = [&](int s, float4 (&o)[kNarrowCols]) {
#pragma unroll
    for (int c = 0; c < kNarrowCols; ++c)
      o[c] = *reinterpret_cast<const float4*>(po + s * slot_stride + 128 * c);
  };
  // An empty split's o is read too (part1 writes every slot a piece owns, zeros when empty); its
  // zero weight keeps it out of the sum (accumulate).
  float4 o0[kNarrowCols], o1[kNarrowCols];
  load_o(0, o0);
  if (e.count > 1) load_o(1, o1);

  merge::MergeState<float> st;
  const float lse_lane = lane < e.count ? lse[static_cast<int64_t>(lane) * p.rows] : merge::neg_inf<float>();
  st.see_lse(lse_lane);  // -inf (no split) changes nothing
  for (int s = lane + 32; s < e.count; s += 32) st.see_lse(lse[static_cast<int64_t>(s) * p.rows]);
  float m = st.m;
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  st.m = m;
  st.nan = __any_sync(0xffffffffu, st.nan) != 0;

  float4 acc[kNarrowCols];
#pragma unroll
  for (int c = 0; c < kNarrowCols; ++c) acc[c] = make_float4(0.f, 0.f, 0.f, 0.f);
  float wsum = 0.f;
  // s is the same in every lane, so the shuffle's source lane is too.
  auto add = [&](int s, const float4 (&o)[kNarrowCols]) {
    const float w = st.weight(s < 32 ? __shfl_sync(0xffffffffu, lse_lane, s)
                                     : lse[static_cast<int64_t>(s) * p.rows]);
    wsum += w;
#pragma unroll
    for (int c = 0; c < kNarrowCols; ++c) accumulate4(acc[c], w, o[c]);
  };
  add(0, o0);
  if (e.count > 1) add(1, o1);
  for (int s = 2; s < e.count; s += 2) {
    load_o(s, o0);
    if (s + 1 < e.count) load_o(s + 1, o1);
    add(s, o0);
    if (s + 1 < e.count) add(s + 1, o1);
  }
  st.add_weight(wsum);

  const OutAt at = out_at(p, e.b, row);
  const float inv = st.inv();
#pragma unroll
  for (int c = 0; c < kNarrowCols; ++c) store4<T>(p, at.out + 4 * lane + 128 * c, st, inv, acc[c]);
  if (lane == 0 && p.lse != nullptr) p.lse[at.lse] = st.lse();
}

// Wide: one pair (e, row), `quarter` of its columns, by the whole block.
template <class T>
__device__ __forceinline__ void merge_pair_wide(const Part2Params& p, const MultiEntry& e, int row,
                                                int quarter) {
  using L = WideLayout;
  constexpr int kGroups = L::kGroups;
  const float* lse = p.part_lse + static_cast<int64_t>(e.first_slot) * p.rows + row;
  const int tid = static_cast<int>(threadIdx.x), g = tid / L::kGroupThreads, lane = tid % L::kGroupThreads;

  // The max over every split's lse (and whether any is NaN), shared by the block.
  constexpr int kWarps = L::kThreads / 32;
  __shared__ float s_m[kWarps];
  __shared__ int s_nan[kWarps];
  merge::MergeState<float> st;
  for (int s = tid; s < e.count; s += L::kThreads) st.see_lse(lse[static_cast<int64_t>(s) * p.rows]);
  float m = st.m;
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
  const int nan = __any_sync(0xffffffffu, st.nan);
  if ((tid & 31) == 0) {
    s_m[tid >> 5] = m;
    s_nan[tid >> 5] = nan;
  }
  __syncthreads();
  st.m = s_m[0];
  st.nan = s_nan[0] != 0;
#pragma unroll
  for (int k = 1; k < kWarps; ++k) {
    st.m = fmaxf(st.m, s_m[k]);
    st.nan = st.nan || s_nan[k] != 0;
  }

  const int col = quarter * L::kColsPerBlock + lane * 4;
  const float* po = p.part_out + (static_cast<int64_t>(e.first_slot) * p.rows + row) * kHeadDimV + col;
  const int64_t slot_stride = static_cast<int64_t>(p.rows) * kHeadDimV;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  float wsum = 0.f;
#pragma unroll 4
  for (int s = g; s < e.count; s += kGroups) {
    const float w = st.weight(lse[static_cast<int64_t>(s) * p.rows]);
    wsum += w;
    if (w == 0.f) continue;  // empty split: its o is not read
    accumulate4(acc, w, *reinterpret_cast<const float4*>(po + s * slot_stride));
  }

  __shared__ float4 s_acc[kGroups][L::kGroupThreads];
  __shared__ float s_w[kGroups];
  s_acc[g][lane] = acc;
  if (lane == 0) s_w[g] = wsum;
  __syncthreads();
  if (g == 0) {
    acc = s_acc[0][lane];
    st.add_weight(s_w[0]);
#pragma unroll
    for (int k = 1; k < kGroups; ++k) {
      const float4 o = s_acc[k][lane];
      acc.x += o.x;
      acc.y += o.y;
      acc.z += o.z;
      acc.w += o.w;
      st.add_weight(s_w[k]);
    }
    const OutAt at = out_at(p, e.b, row);
    store4<T>(p, at.out + col, st, st.inv(), acc);
    if (quarter == 0 && lane == 0 && p.lse != nullptr) p.lse[at.lse] = st.lse();
  }
}

// Walks pairs jh = first, first + stride, ... below num_multi x rows (device data) as (j, row)
// without a 64-bit division a pair, each pair's multi entry read one pair ahead (so its load is
// not a round trip of its own in front of the pair's), calling f(entry, row) for each.
template <class F>
__device__ __forceinline__ void walk_pairs(const Part2Params& p, int64_t first, int64_t stride, F&& f) {
  const int64_t pairs = static_cast<int64_t>(p.header->num_multi) * p.rows;
  if (first >= pairs) return;
  pair_walk::Cursor c = pair_walk::Cursor::at(first, stride, p.rows);
  MultiEntry next = p.multi[c.j];
  for (int64_t jh = first; jh < pairs; jh += stride) {
    const MultiEntry e = next;
    const int row = c.row;
    c.advance();
    if (jh + stride < pairs) next = p.multi[c.j];
    f(e, row);
  }
}

// The grid is sized from static bounds, capped at one wave of resident blocks (launch below); the
// pairs that exist this call are walked with a grid stride, so a run with few or no split
// requests launches at most a wave of blocks, not one per bound pair. Under programmatic
// serialization (launch_part2's `pdl`) part1's header and partials are read only after it ends;
// in a plain launch the wait returns at once.
template <class T>
__global__ void __launch_bounds__(kNarrowThreads) part2_narrow_kernel(const __grid_constant__ Part2Params p) {
  ptx::grid_dependency_wait();
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kNarrowWarps;
  walk_pairs(p, static_cast<int64_t>(blockIdx.x) * kNarrowWarps + (threadIdx.x >> 5), warps,
             [&](const MultiEntry& e, int row) { merge_pair_warp<T>(p, e, row); });
}

template <class T>
__global__ void __launch_bounds__(WideLayout::kThreads) part2_wide_kernel(const __grid_constant__ Part2Params p) {
  ptx::grid_dependency_wait();
  const int quarter = static_cast<int>(blockIdx.x % WideLayout::kQuarters);
  walk_pairs(p, blockIdx.x / WideLayout::kQuarters, gridDim.x / WideLayout::kQuarters,
             [&](const MultiEntry& e, int row) {
               merge_pair_wide<T>(p, e, row, quarter);
               __syncthreads();  // the block's next pair reuses its shared memory
             });
}

// Blocks of a kernel that one SM holds at once (the occupancy calculator; 0 when it fails).
template <class K>
int resident_blocks(K kernel, int threads) {
  int b = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, threads, 0) != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky; the launch reports its own errors
    b = 0;
  }
  return b;
}
// The same for the wide or the narrow kernel of T, asked once a process (a host query, no stream
// work, so safe inside a capture; load_part2 asks it at plan time).
template <class T, bool kWide>
int per_sm() {
  static const int n = kWide ? resident_blocks(part2_wide_kernel<T>, WideLayout::kThreads)
                             : resident_blocks(part2_narrow_kernel<T>, kNarrowThreads);
  return n;
}

// One wave at most: blocks beyond what the SMs hold would start only as the first ones end
// (without the calculator's answer, 16 pairs an SM). `unit` blocks stay together (a wide pair's
// quarters are consecutive blocks).
int64_t cap_blocks(int64_t blocks, int resident, int num_sms, int unit, int64_t fallback) {
  int64_t cap = resident > 0 ? static_cast<int64_t>(resident) * num_sms / unit * unit : fallback;
  if (cap < unit) cap = unit;
  return blocks > cap ? cap : blocks;
}

template <class T>
cudaError_t launch_dtype(const Part2Params& p, int pairs, int num_sms, bool wide, bool pdl,
                         cudaStream_t stream) {
  if (wide) {
    constexpr int kq = WideLayout::kQuarters;
    const int64_t blocks =
        cap_blocks(static_cast<int64_t>(pairs) * kq, per_sm<T, true>(), num_sms, kq, 16LL * num_sms * kq);
    return launch_with_pdl(part2_wide_kernel<T>, dim3(static_cast<unsigned>(blocks)),
                           dim3(WideLayout::kThreads), 0, stream, pdl, p);
  }
  const int64_t blocks = cap_blocks((static_cast<int64_t>(pairs) + kNarrowWarps - 1) / kNarrowWarps,
                                    per_sm<T, false>(), num_sms, 1, 16LL * num_sms / kNarrowWarps);
  return launch_with_pdl(part2_narrow_kernel<T>, dim3(static_cast<unsigned>(blocks)),
                         dim3(kNarrowThreads), 0, stream, pdl, p);
}
// Both kernels' modules loaded and their grid caps' occupancy asked now, not at a first launch.
template <class T>
cudaError_t load_dtype() {
  cudaFuncAttributes a;
  cudaError_t e = cudaFuncGetAttributes(&a, part2_wide_kernel<T>);
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&a, part2_narrow_kernel<T>);
  if (e == cudaSuccess) {
    per_sm<T, true>();
    per_sm<T, false>();
  }
  return e;
}
}  // namespace

cudaError_t load_part2(DType dtype) {
  return dtype == DType::kBFloat16 ? load_dtype<__nv_bfloat16>() : load_dtype<__half>();
}

cudaError_t launch_part2(DType dtype, const Part2Params& p, int pairs, int num_sms, bool wide,
                         bool pdl, cudaStream_t stream) {
  if (pairs <= 0) return cudaSuccess;
  return dtype == DType::kBFloat16 ? launch_dtype<__nv_bfloat16>(p, pairs, num_sms, wide, pdl, stream)
                                   : launch_dtype<__half>(p, pairs, num_sms, wide, pdl, stream);
}

}  // namespace splitmla::kernels
