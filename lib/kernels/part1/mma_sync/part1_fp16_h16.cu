// part1 instance: fp16, 16 query rows per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE(__half, 1)
}  // namespace splitmla::kernels
