// Dispatch from (dtype, heads per CTA) to the explicit part1 instances (part1_<dtype>_h<N>.cu).
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


#define SPLITMLA_DISPATCH(dtype, hpc, CALL)                                           \
  do {                                                                                \
    const bool bf = (dtype) == DType::kBFloat16;                                      \
    switch (hpc) {                                                                    \
      case 16: return bf ? CALL(__nv_bfloat16, 1) : CALL(__half, 1);                  \
      case 32: return bf ? CALL(__nv_bfloat16, 2) : CALL(__half, 2);                  \
      case 64: return bf ? CALL(__nv_bfloat16, 4) : CALL(__half, 4);                  \
      default: return cudaErrorInvalidValue;                                          \
    }                                                                                 \
  } while (0)

cudaError_t launch_part1(DType dtype, int heads_per_cta, const Part1Params& p, int grid,
                         cudaStream_t stream) {
#define CALL(T, MT) launch_part1_instance<T, MT>(p, grid, stream)
  SPLITMLA_DISPATCH(dtype, heads_per_cta, CALL);
#undef CALL
}

cudaError_t prepare_part1(DType dtype, int heads_per_cta) {
#define CALL(T, MT) prepare_part1_instance<T, MT>()
  SPLITMLA_DISPATCH(dtype, heads_per_cta, CALL);
#undef CALL
}

cudaError_t part1_occupancy(DType dtype, int heads_per_cta, int* blocks_per_sm) {
#define CALL(T, MT) occupancy_part1_instance<T, MT>(blocks_per_sm)
  SPLITMLA_DISPATCH(dtype, heads_per_cta, CALL);
#undef CALL
}

}  // namespace splitmla::kernels
