// part1 instance: Hopper wgmma variant, bf16, 64 heads per CTA (device code only for sm_90a).
#include "kernels/part1/wgmma/part1_wgmma.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_WGMMA_INSTANCE(__nv_bfloat16)
}  // namespace splitmla::kernels

#ifdef SPLITMLA_TRACE_V2
// The timeline of the last launch, then cleared (kernels/common/trace.cuh).
SPLITMLA_TRACE_TAKE(splitmla_v2_trace_take, g_v2_trace)
#endif
