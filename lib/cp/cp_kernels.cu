// Context-parallel kernels: packing a shard's partials by head group (all-to-all layout), and the
// strided merge of partials from all ranks. (A shard's per-token local lengths are written by the
// decode's own planner, lib/kernels/planner.cu.)
// The merge uses the shared algebra (lib/core/merge.hpp): the same guards as part2.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/merge.hpp"
#include "cp/cp_params.hpp"
#include "kernels/common/ptx.cuh"

namespace splitmla::cp {
namespace {

constexpr int kMergeThreads = 128;  // 4 columns per thread: 512 values
constexpr int kPackThreads = 128;

__global__ void __launch_bounds__(kPackThreads) pack_kernel(const __grid_constant__ PackParams p) {
  const int h = blockIdx.x % p.num_heads;
  const int64_t row = blockIdx.x / p.num_heads;
  const int d = h / p.heads_per_group, i = h % p.heads_per_group;
  const int64_t row_bytes = 512LL * p.elem_bytes;
  const uint4* src = reinterpret_cast<const uint4*>(p.out + (row * p.num_heads + h) * row_bytes);
  char* chunk = p.dst + d * p.chunk_bytes;
  uint4* dst = reinterpret_cast<uint4*>(chunk + (row * p.heads_per_group + i) * row_bytes);
  for (int k = threadIdx.x; k < row_bytes / 16; k += kPackThreads) dst[k] = src[k];
  if (threadIdx.x == 0)
    reinterpret_cast<float*>(chunk + p.out_bytes)[row * p.heads_per_group + i] =
        p.lse[row * p.num_heads + h];
}

// Four consecutive values of a partial row, as floats: float32, or a 16-bit type T.
template <class T>
struct Vec4 {
  __device__ static float4 load(const T* p) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const float2 a = kernels::ptx::unpack2<T>(u.x), b = kernels::ptx::unpack2<T>(u.y);
    return make_float4(a.x, a.y, b.x, b.y);
  }
  __device__ static void store(T* p, float4 v) {
    *reinterpret_cast<uint2*>(p) =
        make_uint2(kernels::ptx::pack2<T>(v.x, v.y), kernels::ptx::pack2<T>(v.z, v.w));
  }
};
template <>
struct Vec4<float> {
  __device__ static float4 load(const float* p) { return *reinterpret_cast<const float4*>(p); }
  __device__ static void store(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
};

// One block per (row, head): the sources' LSEs (normalized: natural log, +inf -> -inf) in shared
// memory, then every thread merges its 4 columns over the sources in index order.
template <class TI, class TO>
__global__ void __launch_bounds__(kMergeThreads) merge_kernel(const __grid_constant__ MergeParams p) {
  __shared__ float s_lse[kMaxMergeSources];
  const int h = static_cast<int>(blockIdx.x % p.num_heads);
  const int64_t row = blockIdx.x / p.num_heads;
  const int64_t b = row / p.q_len;
  const int t = static_cast<int>(row % p.q_len);
  const float* lse_in = p.part_lse + b * p.pl_b + t * p.pl_t + h * p.pl_h;
  for (int s = threadIdx.x; s < p.num_sources; s += kMergeThreads) {
    float l = lse_in[s * p.pl_src];
    if (p.lse_base2) l *= 0.6931471805599453f;
    if (l == INFINITY) l = -INFINITY;  // another library's "empty"
    s_lse[s] = l;
  }
  __syncthreads();
  merge::MergeState<float> st;
  for (int s = 0; s < p.num_sources; ++s) st.see_lse(s_lse[s]);

  const int col = threadIdx.x * 4;
  const TI* in = static_cast<const TI*>(p.part_out) + b * p.po_b + t * p.po_t + h * p.po_h + col;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int s = 0; s < p.num_sources; ++s) {
    const float w = st.weight(s_lse[s]);
    st.add_weight(w);
    if (w == 0.f) continue;  // empty source: its out may hold anything
    const float4 o = Vec4<TI>::load(in + s * p.po_src);
    acc.x = merge::MergeState<float>::accumulate(acc.x, w, o.x);
    acc.y = merge::MergeState<float>::accumulate(acc.y, w, o.y);
    acc.z = merge::MergeState<float>::accumulate(acc.z, w, o.z);
    acc.w = merge::MergeState<float>::accumulate(acc.w, w, o.w);
  }
  TO* out = static_cast<TO*>(p.out) + b * p.o_b + t * p.o_t + h * p.o_h + col;
  Vec4<TO>::store(out, make_float4(st.out(acc.x), st.out(acc.y), st.out(acc.z), st.out(acc.w)));
  if (threadIdx.x == 0 && p.lse != nullptr) p.lse[b * p.l_b + t * p.l_t + h * p.l_h] = st.lse();
}

template <class TI, class TO>
void launch_merge_t(const MergeParams& p, int64_t rows, cudaStream_t stream) {
  const int64_t blocks = rows * p.num_heads;
  merge_kernel<TI, TO><<<static_cast<unsigned>(blocks), kMergeThreads, 0, stream>>>(p);
}

template <class TI>
void launch_merge_in(PartialType out, const MergeParams& p, int64_t rows, cudaStream_t stream) {
  switch (out) {
    case PartialType::kFloat32: launch_merge_t<TI, float>(p, rows, stream); break;
    case PartialType::kBFloat16: launch_merge_t<TI, __nv_bfloat16>(p, rows, stream); break;
    case PartialType::kFloat16: launch_merge_t<TI, __half>(p, rows, stream); break;
  }
}

}  // namespace

cudaError_t launch_pack(const PackParams& p, cudaStream_t stream) {
  const int64_t blocks = static_cast<int64_t>(p.rows) * p.num_heads;
  if (blocks <= 0) return cudaSuccess;
  pack_kernel<<<static_cast<unsigned>(blocks), kPackThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_merge(PartialType in, PartialType out, const MergeParams& p, int64_t rows,
                         cudaStream_t stream) {
  if (rows <= 0 || p.num_heads <= 0) return cudaSuccess;
  switch (in) {
    case PartialType::kFloat32: launch_merge_in<float>(out, p, rows, stream); break;
    case PartialType::kBFloat16: launch_merge_in<__nv_bfloat16>(out, p, rows, stream); break;
    case PartialType::kFloat16: launch_merge_in<__half>(out, p, rows, stream); break;
  }
  return cudaGetLastError();
}

cudaError_t load_cp_kernels() {
  cudaFuncAttributes a;
  cudaError_t e = cudaFuncGetAttributes(&a, pack_kernel);
#define SPLITMLA_LOAD_MERGE(TI)                                                           \
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&a, merge_kernel<TI, float>);           \
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&a, merge_kernel<TI, __nv_bfloat16>);   \
  if (e == cudaSuccess) e = cudaFuncGetAttributes(&a, merge_kernel<TI, __half>);
  SPLITMLA_LOAD_MERGE(float)
  SPLITMLA_LOAD_MERGE(__nv_bfloat16)
  SPLITMLA_LOAD_MERGE(__half)
#undef SPLITMLA_LOAD_MERGE
  return e;
}

}  // namespace splitmla::cp
