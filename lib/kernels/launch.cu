// Dispatch from (variant, dtype, query rows per CTA) to the explicit part1 instances:
// part1_<dtype>_h<N>.cu (mma.sync baseline) and part1_wgmma_<dtype>.cu (sm_90a).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/params.hpp"

namespace splitmla::kernels {

template <class T, int MT>
cudaError_t launch_part1_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T, int MT>
cudaError_t prepare_part1_instance();
template <class T, int MT>
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

#define SPLITMLA_DISPATCH(variant, dtype, hpc, CALL, WCALL)                           \
  do {                                                                                \
    const bool bf = (dtype) == DType::kBFloat16;                                      \
    if ((variant) == Part1Variant::kWgmma) {                                          \
      if (hpc != 64) return cudaErrorInvalidValue;                                    \
      return bf ? WCALL(__nv_bfloat16) : WCALL(__half);                               \
    }                                                                                 \
    switch (hpc) {                                                                    \
      case 16: return bf ? CALL(__nv_bfloat16, 1) : CALL(__half, 1);                  \
      case 32: return bf ? CALL(__nv_bfloat16, 2) : CALL(__half, 2);                  \
      case 64: return bf ? CALL(__nv_bfloat16, 4) : CALL(__half, 4);                  \
      default: return cudaErrorInvalidValue;                                          \
    }                                                                                 \
  } while (0)

cudaError_t launch_part1(Part1Variant variant, DType dtype, int rows_per_cta,
                         const Part1Params& p, int grid, cudaStream_t stream) {
#define CALL(T, MT) launch_part1_instance<T, MT>(p, grid, stream)
#define WCALL(T) launch_part1_wgmma_instance<T>(p, grid, stream)
  SPLITMLA_DISPATCH(variant, dtype, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

cudaError_t prepare_part1(Part1Variant variant, DType dtype, int rows_per_cta) {
#define CALL(T, MT) prepare_part1_instance<T, MT>()
#define WCALL(T) prepare_part1_wgmma_instance<T>()
  SPLITMLA_DISPATCH(variant, dtype, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

cudaError_t part1_occupancy(Part1Variant variant, DType dtype, int rows_per_cta,
                            int* blocks_per_sm) {
#define CALL(T, MT) occupancy_part1_instance<T, MT>(blocks_per_sm)
#define WCALL(T) occupancy_part1_wgmma_instance<T>(blocks_per_sm)
  SPLITMLA_DISPATCH(variant, dtype, rows_per_cta, CALL, WCALL);
#undef CALL
#undef WCALL
}

}  // namespace splitmla::kernels
