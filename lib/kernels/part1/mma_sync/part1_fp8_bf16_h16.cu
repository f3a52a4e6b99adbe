// part1 instance: bf16 q, fp8 cache (fp8_e4m3 or fp8_ds_mla), 16 heads per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE_KV(__nv_bfloat16, 1, kKvFp8)
}  // namespace splitmla::kernels
