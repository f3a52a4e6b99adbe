// Dispatch from (variant, dtype, KV format, query rows per CTA) to the explicit part1 instances:
// part1_<dtype>_h<N>.cu (mma.sync baseline, 16-bit caches), part1_fp8_<dtype>_h<N>.cu (mma.sync,
// both fp8 formats: the format is a run-time switch inside one instance) and
// part1_wgmma_<dtype>.cu (sm_90a, 16-bit caches only).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/common/params.hpp"

namespace splitmla::kernels {

template <class T, int MT, int KV>
cudaError_t launch_part1_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T, int MT, int KV>
cudaError_t prepare_part1_instance();
template <class T, int MT, int KV>
cudaError_t occupancy_part1_instance(int* blocks);
template <class T>
cudaError_t launch_part1_wgmma_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T>
cudaError_t prepare_part1_wgmma_instance();
template <class T>
cudaError_t occupancy_part1_wgmma_instance(int* blocks);

bool part1_wgmma_built() {
#if defined(SPLITMLA_HAVE_SM90A)
  return true;
#else
  return false;
#endif
}

#define SPLITMLA_DISPATCH(variant, dtype, kvf, hpc, CALL, WCALL)                       \
  do {                                                                                \
    const bool bf = (dtype) == DType::kBFloat16;                                      \
    const bool f8 = is_fp8(kvf);                                                      \
    if ((variant) == Part1Variant::kWgmma) {                                          \
      if (hpc != 64 || f8) return cudaErrorInvalidValue;                              \
      return bf ? WCALL(__nv_bfloat16) : WCALL(__half);                               \
    }                                                                                 \
    if (f8) {                                                                         \
      switch (hpc) {                                                                  \
        case 16: return bf ? CALL(__nv_bfloat16, 1, kKvFp8) : CALL(__half, 1, kKvFp8); \
        case 32: return bf ? CALL(__nv_bfloat16, 2, kKvFp8) : CALL(__half, 2, kKvFp8); \
        case 64: return bf ? CALL(__nv_bfloat16, 4, kKvFp8) : CALL(__half, 4, kKvFp8); \
        default: return cudaErrorInvalidValue;                                        \
      }                                                                               \
    }                                                                                 \
    switch (hpc) {                                                                    \
      case 16: return bf ? CALL(__nv_bfloat16, 1, kKvNative) : CALL(__half, 1, kKvNative); \
      case 32: return bf ? CALL(__nv_bfloat16, 2, kKvNative) : CALL(__half, 2, kKvNative); \
      case 64: return bf ? CALL(__nv_bfloat16, 4, kKvNative) : CALL(__half, 4, kKvNative); \
      default: return cudaErrorInvalidValue;                                          \
    }                                                                                 \
  } while (0)

cudaError_t launch_part1(Part1Variant variant, DType dtype, KvFormat kv, int rows_per_cta,
                         const Part1Params& p, int grid, cudaStream_t stream) {
#define CALL(T, MT, KV) launch_part1_instance<T, MT, KV>(p, grid, stream)
#define WCALL(T) launch_part1_wgmma_instance<T>(p, grid, stream)
  SPLITMLA_DISPATCH(variant, dtype, kv, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

cudaError_t prepare_part1(Part1Variant variant, DType dtype, KvFormat kv, int rows_per_cta) {
#define CALL(T, MT, KV) prepare_part1_instance<T, MT, KV>()
#define WCALL(T) prepare_part1_wgmma_instance<T>()
  SPLITMLA_DISPATCH(variant, dtype, kv, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

cudaError_t part1_occupancy(Part1Variant variant, DType dtype, KvFormat kv, int rows_per_cta,
                            int* blocks_per_sm) {
#define CALL(T, MT, KV) occupancy_part1_instance<T, MT, KV>(blocks_per_sm)
#define WCALL(T) occupancy_part1_wgmma_instance<T>(blocks_per_sm)
  SPLITMLA_DISPATCH(variant, dtype, kv, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

}  // namespace splitmla::kernels
