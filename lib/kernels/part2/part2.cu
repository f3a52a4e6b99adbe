// part2: merge the partial outputs of each (multi-split request, query row) with the shared merge
// algebra (lib/core/merge.hpp): empty splits (lse = -inf) weigh nothing, all-empty gives out = 0
// and lse = -inf, any NaN split makes the row NaN. Deterministic: fixed order, no atomics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/merge.hpp"
#include "kernels/common/env_switch.hpp"
#include "kernels/common/launch.cuh"
#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"

namespace splitmla::kernels {
namespace {

// Two layouts, chosen on the host from static bounds (never from device data):
//  narrow: one 128-thread block per (request, row), one group of 128 threads x 4 columns;
//          for when (request, row) pairs alone fill the GPU;
//  wide:   one 256-thread block per (request, row, 128-column quarter), 8 groups of 32 threads
//          each merging splits g, g+8, ...; for few pairs with many splits (small batch).
// Group partial sums meet in shared memory and are added in group order: deterministic, and
// independent of the other requests.
// The narrow layout's blocks hold kNarrowPairs pairs at once, a 128-thread team each with its own
// named barrier: the same threads as one block a pair in a quarter of the blocks, because a call
// where nothing merges still launches the whole grid (2,048 blocks at 16 heads), and part2 then
// cost 2-3 us of a 16-head step (lib/kernels/NOTES.md, "Fifteenth session").
// SPLITMLA_PART2_TEAMS=0 in the environment launches one pair a block (for the A/B).
constexpr int kNarrowPairs = 4;
template <bool kWide, int kPairs = 1>
struct Part2Layout {
  static_assert(kPairs == 1 || !kWide, "teams of pairs are for the narrow layout");
  static constexpr int kGroups = kWide ? 8 : 1;
  static constexpr int kGroupThreads = kWide ? 32 : 128;
  static constexpr int kColsPerBlock = kGroupThreads * 4;
  static constexpr int kQuarters = kHeadDimV / kColsPerBlock;
  static constexpr int kTeamThreads = kGroups * kGroupThreads;  // the threads of one pair
  static constexpr int kPairsPerBlock = kPairs;
  static constexpr int kThreads = kTeamThreads * kPairs;
};

// A team's barrier: the whole block when it holds one pair, else the team's named barrier.
template <class L>
__device__ __forceinline__ void team_sync(int team) {
  if constexpr (L::kPairsPerBlock == 1) __syncthreads();
  else ptx::bar_sync(1 + team, L::kTeamThreads);
}

// One (multi-split request j, row) pair, `quarter` of its columns: jh = j * rows + row, merged by
// the block's team `team` (threads team * kTeamThreads ...).
template <class T, class L>
__device__ __forceinline__ void merge_pair(const Part2Params& p, int64_t jh, int quarter, int team) {
  constexpr int kGroups = L::kGroups, kColsPerBlock = L::kColsPerBlock;
  const int j = static_cast<int>(jh / p.rows);
  const int row = static_cast<int>(jh % p.rows);  // row = t * num_heads + h
  const MultiEntry e = p.multi[j];
  const float* lse = p.part_lse + static_cast<int64_t>(e.first_slot) * p.rows + row;
  const int tid = threadIdx.x % L::kTeamThreads, g = tid / L::kGroupThreads,
            lane = tid % L::kGroupThreads;

  // The max over every split's lse (and whether any is NaN), shared by the team.
  constexpr int kWarps = L::kTeamThreads / 32;
  __shared__ float s_m_all[L::kPairsPerBlock][kWarps];
  __shared__ int s_nan_all[L::kPairsPerBlock][kWarps];
  float* s_m = s_m_all[team];
  int* s_nan = s_nan_all[team];
  merge::MergeState<float> st;
  for (int s = tid; s < e.count; s += L::kTeamThreads) st.see_lse(lse[static_cast<int64_t>(s) * p.rows]);
  float m = st.m;
  int nan = st.nan;
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) {
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    nan |= __shfl_xor_sync(0xffffffffu, nan, off);
  }
  if ((tid & 31) == 0) {
    s_m[tid >> 5] = m;
    s_nan[tid >> 5] = nan;
  }
  team_sync<L>(team);
  st.m = s_m[0];
  st.nan = s_nan[0] != 0;
#pragma unroll
  for (int k = 1; k < kWarps; ++k) {
    st.m = fmaxf(st.m, s_m[k]);
    st.nan = st.nan || s_nan[k] != 0;
  }

  const int col = quarter * kColsPerBlock + lane * 4;
  const float* po =
      p.part_out + (static_cast<int64_t>(e.first_slot) * p.rows + row) * kHeadDimV + col;
  const int64_t slot_stride = static_cast<int64_t>(p.rows) * kHeadDimV;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  float wsum = 0.f;
#pragma unroll 4
  for (int s = g; s < e.count; s += kGroups) {
    const float w = st.weight(lse[static_cast<int64_t>(s) * p.rows]);
    wsum += w;
    if (w == 0.f) continue;  // empty split: its o may hold anything
    const float4 o = *reinterpret_cast<const float4*>(po + s * slot_stride);
    acc.x = merge::MergeState<float>::accumulate(acc.x, w, o.x);
    acc.y = merge::MergeState<float>::accumulate(acc.y, w, o.y);
    acc.z = merge::MergeState<float>::accumulate(acc.z, w, o.z);
    acc.w = merge::MergeState<float>::accumulate(acc.w, w, o.w);
  }

  if constexpr (kGroups > 1) {
    __shared__ float4 s_acc[kGroups][L::kGroupThreads];
    __shared__ float s_w[kGroups];
    static_assert(L::kPairsPerBlock == 1, "the wide layout holds one pair a block");
    s_acc[g][lane] = acc;
    if (lane == 0) s_w[g] = wsum;
    __syncthreads();
    if (g != 0) return;
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
  } else {
    st.add_weight(wsum);
  }
  const int t = row / p.num_heads, h = row - t * p.num_heads;
  const int64_t out_at = static_cast<int64_t>(e.b) * p.out_stride_batch +
                         static_cast<int64_t>(t) * p.out_stride_token +
                         static_cast<int64_t>(h) * p.out_stride_head + col;
  if (p.out_f32) {
    *reinterpret_cast<float4*>(static_cast<float*>(p.out) + out_at) =
        make_float4(st.out(acc.x), st.out(acc.y), st.out(acc.z), st.out(acc.w));
  } else {
    T* out = static_cast<T*>(p.out) + out_at;
    uint2 packed;
    packed.x = ptx::pack2<T>(st.out(acc.x), st.out(acc.y));
    packed.y = ptx::pack2<T>(st.out(acc.z), st.out(acc.w));
    *reinterpret_cast<uint2*>(out) = packed;
  }
  if (quarter == 0 && lane == 0 && p.lse != nullptr)
    p.lse[static_cast<int64_t>(e.b) * p.lse_stride_batch +
          static_cast<int64_t>(t) * p.lse_stride_token +
          static_cast<int64_t>(h) * p.lse_stride_head] = st.lse();
}

// The grid is sized from static bounds, capped near one wave (launch_part2); the pairs that
// exist this call (num_multi x rows, device data) are walked with a grid stride, so a run with
// few or no split requests launches a few hundred blocks, not one per bound pair.
template <class T, bool kWide, int kPairs>
__global__ void __launch_bounds__(Part2Layout<kWide, kPairs>::kThreads)
    part2_kernel(const __grid_constant__ Part2Params p) {
  using L = Part2Layout<kWide, kPairs>;
  // Under programmatic serialization (launch_part2's `pdl`) part1's header and partials are read
  // only after it ends; in a plain launch the wait returns at once.
  ptx::grid_dependency_wait();
  const int quarter = blockIdx.x % L::kQuarters;
  const int team = threadIdx.x / L::kTeamThreads;
  const int64_t pairs = static_cast<int64_t>(p.header->num_multi) * p.rows;
  const int64_t stride = static_cast<int64_t>(gridDim.x / L::kQuarters) * kPairs;
  for (int64_t jh = static_cast<int64_t>(blockIdx.x / L::kQuarters) * kPairs + team; jh < pairs;
       jh += stride) {
    merge_pair<T, L>(p, jh, quarter, team);
    team_sync<L>(team);  // the team's next pair reuses its shared memory
  }
}

}  // namespace

namespace {
template <class T, bool kWide, int kPairs = 1>
cudaError_t launch(const Part2Params& p, int pairs, bool pdl, cudaStream_t stream) {
  using L = Part2Layout<kWide, kPairs>;
  const int blocks = (pairs + kPairs - 1) / kPairs;
  return launch_with_pdl(part2_kernel<T, kWide, kPairs>, dim3(blocks * L::kQuarters),
                         dim3(L::kThreads), 0, stream, pdl, p);
}

bool part2_teams() {
  static const bool on = env_switch_on("SPLITMLA_PART2_TEAMS");
  return on;
}

template <class T>
cudaError_t launch_dtype(const Part2Params& p, int pairs, bool wide, bool pdl, cudaStream_t stream) {
  if (wide) return launch<T, true>(p, pairs, pdl, stream);
  if (part2_teams()) return launch<T, false, kNarrowPairs>(p, pairs, pdl, stream);
  return launch<T, false>(p, pairs, pdl, stream);
}
}  // namespace

cudaError_t load_part2(DType dtype) {
  cudaFuncAttributes a;
  const bool bf = dtype == DType::kBFloat16;
  cudaError_t e = cudaFuncGetAttributes(&a, bf ? part2_kernel<__nv_bfloat16, true, 1>
                                               : part2_kernel<__half, true, 1>);
  if (e == cudaSuccess)
    e = cudaFuncGetAttributes(&a, bf ? part2_kernel<__nv_bfloat16, false, 1>
                                     : part2_kernel<__half, false, 1>);
  if (e == cudaSuccess)
    e = cudaFuncGetAttributes(&a, bf ? part2_kernel<__nv_bfloat16, false, kNarrowPairs>
                                     : part2_kernel<__half, false, kNarrowPairs>);
  return e;
}

cudaError_t launch_part2(DType dtype, const Part2Params& p, int pairs, bool wide, bool pdl,
                         cudaStream_t stream) {
  if (pairs <= 0) return cudaSuccess;
  return dtype == DType::kBFloat16 ? launch_dtype<__nv_bfloat16>(p, pairs, wide, pdl, stream)
                                   : launch_dtype<__half>(p, pairs, wide, pdl, stream);
}

}  // namespace splitmla::kernels
