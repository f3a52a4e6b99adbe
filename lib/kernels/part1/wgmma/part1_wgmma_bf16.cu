// part1 instance: Hopper wgmma variant, bf16, 64 heads per CTA (device code only for sm_90a).
#include "kernels/part1/wgmma/part1_wgmma.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_WGMMA_INSTANCE(__nv_bfloat16)
}  // namespace splitmla::kernels

#ifdef SPLITMLA_TRACE_V2
// The v2 timeline of the last launch (part1_wgmma.cuh, g_v2_trace), then cleared: a measurement
// build's hook for the benchmark (experiments/common_timing.cu), not part of the API.
extern "C" __attribute__((visibility("default"))) cudaError_t splitmla_v2_trace_take(unsigned long long* host,
                                                                                   int rows) {
  using splitmla::kernels::g_v2_trace;
  using splitmla::kernels::kV2TraceCtas;
  const int n = rows < kV2TraceCtas ? rows : kV2TraceCtas;
  cudaError_t e = cudaMemcpyFromSymbol(host, g_v2_trace, sizeof(unsigned long long) * 24 * n);
  static unsigned long long zeros[kV2TraceCtas][24] = {};
  if (e == cudaSuccess) e = cudaMemcpyToSymbol(g_v2_trace, zeros, sizeof(zeros));
  return e;
}
#endif
