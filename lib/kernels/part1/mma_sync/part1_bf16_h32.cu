// part1 instance: bf16, 32 query rows per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE(__nv_bfloat16, 2)
}  // namespace splitmla::kernels
