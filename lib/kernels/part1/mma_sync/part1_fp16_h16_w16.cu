// part1 instance: fp16, 16 query rows per CTA, 16-bit cache rows, 16 warps (CMake option
// SPLITMLA_R16_W16).
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE_KV(__half, 1, kKvNativeW16)
}  // namespace splitmla::kernels
