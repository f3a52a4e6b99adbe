// part1 instance: Hopper wgmma variant, fp16, 64 heads per CTA (device code only for sm_90a).
#include "kernels/part1/wgmma/part1_wgmma.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_WGMMA_INSTANCE(__half)
}  // namespace splitmla::kernels
