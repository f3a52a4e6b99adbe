// part1 instance: bf16, 16 query rows per CTA.
#include "kernels/part1/mma_sync/part1.cuh"

namespace splitmla::kernels {
SPLITMLA_PART1_INSTANCE(__nv_bfloat16, 1)
}  // namespace splitmla::kernels

#ifdef SPLITMLA_TRACE_V2
// The 16-row kernel's timeline of the last launch (part1.cuh, g_r16_trace), then cleared: a
// measurement build's hook for the benchmark (experiments/common_timing.cu), not part of the API.
extern "C" __attribute__((visibility("default"))) cudaError_t splitmla_r16_trace_take(unsigned long long* host,
                                                                                    int rows) {
  using splitmla::kernels::g_r16_trace;
  using splitmla::kernels::kR16TraceCtas;
  const int n = rows < kR16TraceCtas ? rows : kR16TraceCtas;
  cudaError_t e = cudaMemcpyFromSymbol(host, g_r16_trace, sizeof(unsigned long long) * 9 * n);
  static unsigned long long zeros[kR16TraceCtas][9] = {};
  if (e == cudaSuccess) e = cudaMemcpyToSymbol(g_r16_trace, zeros, sizeof(zeros));
  return e;
}
#endif
