// part2: merge the partial outputs of each (multi-split request, head) with the shared merge
// algebra (lib/core/merge.hpp): empty splits (lse = -inf) weigh nothing, all-empty gives out = 0
// and lse = -inf, any NaN split makes the row NaN. One 128-thread block per (request, head), each
// thread owning 4 of the 512 output columns. Deterministic: fixed split order, no atomics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/merge.hpp"
#include "kernels/params.hpp"
#include "kernels/ptx.cuh"

namespace splitmla::kernels {
namespace {

template <class T>
__global__ void __launch_bounds__(128) part2_kernel(const __grid_constant__ Part2Params p) {
  const int j = blockIdx.x / p.num_heads;
  const int h = blockIdx.x % p.num_heads;
  if (j >= p.header->num_multi) return;
  const MultiEntry e = p.multi[j];
  const float* lse = p.part_lse + static_cast<int64_t>(e.first_slot) * p.num_heads + h;

  merge::MergeState<float> st;
  for (int s = 0; s < e.count; ++s) st.see_lse(lse[static_cast<int64_t>(s) * p.num_heads]);

  const int col = threadIdx.x * 4;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int s = 0; s < e.count; ++s) {
    const float l = lse[static_cast<int64_t>(s) * p.num_heads];
    const float w = st.weight(l);
    st.add_weight(w);
    if (w == 0.f) continue;  // empty split: its o may hold anything
    const float4 o = *reinterpret_cast<const float4*>(
        p.part_out + ((static_cast<int64_t>(e.first_slot) + s) * p.num_heads + h) * 512 + col);
    acc.x = merge::MergeState<float>::accumulate(acc.x, w, o.x);
    acc.y = merge::MergeState<float>::accumulate(acc.y, w, o.y);
    acc.z = merge::MergeState<float>::accumulate(acc.z, w, o.z);
    acc.w = merge::MergeState<float>::accumulate(acc.w, w, o.w);
  }
  T* out = static_cast<T*>(p.out) + static_cast<int64_t>(e.b) * p.out_stride_batch +
           static_cast<int64_t>(h) * p.out_stride_head + col;
  uint2 packed;
  packed.x = ptx::pack2<T>(st.out(acc.x), st.out(acc.y));
  packed.y = ptx::pack2<T>(st.out(acc.z), st.out(acc.w));
  *reinterpret_cast<uint2*>(out) = packed;
  if (threadIdx.x == 0 && p.lse != nullptr)
    p.lse[static_cast<int64_t>(e.b) * p.lse_stride_batch +
          static_cast<int64_t>(h) * p.lse_stride_head] = st.lse();
}

}  // namespace

cudaError_t launch_part2(DType dtype, const Part2Params& p, int grid, cudaStream_t stream) {
  if (grid <= 0) return cudaSuccess;
  if (dtype == DType::kBFloat16)
    part2_kernel<__nv_bfloat16><<<grid, 128, 0, stream>>>(p);
  else
    part2_kernel<__half><<<grid, 128, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace splitmla::kernels
