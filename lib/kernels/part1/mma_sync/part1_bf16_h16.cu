// part1 instance: bf16, 16 query rows per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE(__nv_bfloat16, 1)
}  // namespace splitmla::kernels

#ifdef SPLITMLA_TRACE_V2
// The timeline of the last launch, then cleared (kernels/common/trace.cuh).
SPLITMLA_TRACE_TAKE(splitmla_r16_trace_take, g_r16_trace)
#endif
