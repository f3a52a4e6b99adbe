// Thin wrappers over the PTX the kernels use: cp.async with L2 cache hints, ldmatrix, mma.sync.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace splitmla::kernels::ptx {

// Programmatic dependent launch (sm_90 and newer; a no-op below). A grid launched with the
// programmatic-serialization attribute may start before the grid ahead of it in the stream has
// finished: grid_dependency_wait() blocks until that grid has completed and its memory is visible,
// so it must come before every read of anything a preceding kernel may write.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Named barrier `id` (1..15; 0 is __syncthreads') of `threads` threads, a multiple of 32.
__device__ __forceinline__ void bar_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// L2 policy for data read once (the KV stream): evict first.
__device__ __forceinline__ uint64_t policy_evict_first() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// 16-byte global->shared copy that bypasses L1; src_bytes = 0 writes zeros and reads nothing.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes,
                                            uint64_t policy) {
  asm volatile(
      "cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
      "r"(src_bytes), "l"(policy));
}
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(src_bytes));
}
// 16-byte shared-memory load and store at a shared-window address (one 32-bit register for an
// address where a generic pointer would take two).
__device__ __forceinline__ uint4 lds128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(addr)
               : "memory");
  return v;
}
__device__ __forceinline__ void sts128(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z),
               "r"(v.w)
               : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t& r0, uint32_t& r1,
                                            uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t addr, uint32_t& r0, uint32_t& r1) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
               : "=r"(r0), "=r"(r1)
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t addr, uint32_t& r0, uint32_t& r1,
                                                  uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

// D = A * B + D, m16n8k16, fp32 accumulate; T selects bf16 or fp16 operands.
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1);

// One specialization per operand type T, whose PTX type is TY.
#define SPLITMLA_MMA_16816(T, TY)                                                             \
  template <>                                                                                 \
  __device__ __forceinline__ void mma_16816<T>(float(&d)[4], const uint32_t(&a)[4], uint32_t b0, \
                                               uint32_t b1) {                                  \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." TY "." TY                           \
                 ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"                \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                             \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));            \
  }
SPLITMLA_MMA_16816(__nv_bfloat16, "bf16")
SPLITMLA_MMA_16816(__half, "f16")
#undef SPLITMLA_MMA_16816

// 2^x with subnormal results flushed to zero (ex2.approx.ftz: one MUFU.EX2; exp2f's ex2.approx
// without ftz adds a compare and two multiplies around it to keep subnormal results).
__device__ __forceinline__ float ex2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Two floats to a packed pair of T (low half = first).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// A packed pair of T (low half = first) to two floats.
template <class T>
__device__ __forceinline__ float2 unpack2(uint32_t two);
template <>
__device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t two) {
  __nv_bfloat162 v;
  *reinterpret_cast<uint32_t*>(&v) = two;
  return __bfloat1622float2(v);
}
template <>
__device__ __forceinline__ float2 unpack2<__half>(uint32_t two) {
  __half2 v;
  *reinterpret_cast<uint32_t*>(&v) = two;
  return __half22float2(v);
}

// A 4 x 4 transpose over the four lanes of each quad (lanes 4i .. 4i + 3, q4 = lane & 3): on
// return x[c] of lane q4 holds what x[q4] of quad lane c held. Two butterfly steps (lane bit 1,
// then bit 0), each exchanging the two components whose bit differs from the lane's: 4 shuffles
// and 12 selects. Every lane of the warp must take part (full-mask shuffles).
__device__ __forceinline__ void quad_transpose4(uint32_t (&x)[4], int q4) {
  const bool h1 = (q4 & 2) != 0;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const uint32_t r = __shfl_xor_sync(0xffffffffu, h1 ? x[j] : x[2 + j], 2);
    if (h1) {
      x[j] = r;
    } else {
      x[2 + j] = r;
    }
  }
  const bool h0 = (q4 & 1) != 0;
#pragma unroll
  for (int j = 0; j < 4; j += 2) {
    const uint32_t r = __shfl_xor_sync(0xffffffffu, h0 ? x[j] : x[j + 1], 1);
    if (h0) {
      x[j] = r;
    } else {
      x[j + 1] = r;
    }
  }
}

}  // namespace splitmla::kernels::ptx
