// Pieces both fp8-cache part1 kernels (mma_sync's fp8 instances, wgmma's fp8_e4m3 ones) share:
// the e4m3 -> fp16 conversion of cache bytes, and the per-row power of two that brings a bf16 q
// row into fp16's range (the products run in fp16, where e4m3 is exact).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cstdint>

#include "kernels/common/ptx.cuh"

namespace splitmla::kernels {

// Two e4m3 values (the low 16 bits, low byte first) -> a packed fp16 pair, exactly (NaN kept).
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t two) {
  const __half2_raw h =
      __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(two & 0xFFFFu), __NV_E4M3);
  return static_cast<uint32_t>(h.x) | (static_cast<uint32_t>(h.y) << 16);
}

// Largest |x| of the 16 T values in two 16-byte chunks; fmaxf skips NaN, so a NaN element stays
// NaN through any power of two.
template <class T>
__device__ __forceinline__ float max_abs16(uint4 c0, uint4 c1) {
  const uint32_t w[8] = {c0.x, c0.y, c0.z, c0.w, c1.x, c1.y, c1.z, c1.w};
  float m = 0.f;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float2 f = ptx::unpack2<T>(w[i]);
    m = fmaxf(m, fmaxf(fabsf(f.x), fabsf(f.y)));
  }
  return m;
}

// The exponent e that brings a q row whose largest |q| is m into [2^14, 2^15) (q x 2^e, undone
// by 2^-e on the scores); 0 for a row of zeros or with a non-finite element, clamped to +-100.
__device__ __forceinline__ int q_row_exponent(float m) {
  int e = 0;
  if (m > 0.f && m <= FLT_MAX) {
    int ex;
    (void)frexpf(m, &ex);  // m in [2^(ex-1), 2^ex)
    e = min(max(15 - ex, -100), 100);
  }
  return e;
}

}  // namespace splitmla::kernels
