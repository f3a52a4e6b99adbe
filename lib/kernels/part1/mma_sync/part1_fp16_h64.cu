// part1 instance: fp16, 64 query rows per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE(__half, 4)
}  // namespace splitmla::kernels
