// part1 instance: Hopper wgmma variant for fp8_e4m3 caches, fp16 q, 64 rows per CTA (device code
// only for sm_90a).
#include "kernels/part1/wgmma/part1_wgmma_fp8.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_WGMMA_FP8_INSTANCE(__half)
}  // namespace splitmla::kernels
