// Per-CTA timelines of the part1 kernels, compiled only with -DSPLITMLA_TRACE_V2 (a measurement
// build: .ci/measure-v2-trace.sh; lib/kernels/NOTES.md, "Seventeenth session"). A kernel family
// keeps a table of rows a CTA in its own translation units; trace_point writes %globaltimer (ns)
// to slot `point` of the CTA's row and, for points below kClocks, the SM's clock64 to slot
// kClockBase + point. SPLITMLA_TRACE_TAKE defines the exported host function that copies a table
// out and clears it (the benchmark's hook, experiments/common_timing.cu; not part of the API).
// SPLITMLA_TRACE_AT(cond, record, point) calls a kernel's recorder record(point) where cond holds,
// and is nothing in the library's own build (its arguments are not even compiled there), so a
// recorder may also take a count (trace_slot) and a TraceCount may feed it.
#pragma once

namespace splitmla::kernels {
// A CTA's count of something (its tiles) for its timeline row: kept only in the measurement
// build, an empty object with a no-op add in the library's.
struct TraceCount {
#ifdef SPLITMLA_TRACE_V2
  unsigned long long n = 0;
  __device__ __forceinline__ void add(int k) { n += static_cast<unsigned long long>(k); }
#else
  __device__ __forceinline__ void add(int) {}
#endif
};
}  // namespace splitmla::kernels

#ifdef SPLITMLA_TRACE_V2
#include <cuda_runtime.h>

namespace splitmla::kernels {

template <int kClockBase, int kClocks, int kCtas, int kSlots>
__device__ __forceinline__ void trace_point(unsigned long long (&table)[kCtas][kSlots], int point) {
  if (blockIdx.x >= kCtas) return;
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  table[blockIdx.x][point] = t;
  if (point < kClocks) table[blockIdx.x][kClockBase + point] = static_cast<unsigned long long>(clock64());
}
// Writes `value` (a count, not a time) to slot `slot` of the CTA's row.
template <int kCtas, int kSlots>
__device__ __forceinline__ void trace_slot(unsigned long long (&table)[kCtas][kSlots], int slot,
                                           unsigned long long value) {
  if (blockIdx.x < kCtas) table[blockIdx.x][slot] = value;
}

}  // namespace splitmla::kernels

#define SPLITMLA_TRACE_AT(cond, record, point) \
  do {                                          \
    if (cond) record(point);                    \
  } while (0)

#define SPLITMLA_TRACE_TAKE(fn, table)                                                               \
  extern "C" __attribute__((visibility("default"))) cudaError_t fn(unsigned long long* host, int rows) { \
    using Row = decltype(splitmla::kernels::table[0]);                                              \
    constexpr int kCtas = sizeof(splitmla::kernels::table) / sizeof(Row);                            \
    const int n = rows < kCtas ? rows : kCtas;                                                       \
    cudaError_t e = cudaMemcpyFromSymbol(host, splitmla::kernels::table, sizeof(Row) * n);           \
    static decltype(splitmla::kernels::table) zeros = {};                                            \
    if (e == cudaSuccess) e = cudaMemcpyToSymbol(splitmla::kernels::table, zeros, sizeof(zeros));    \
    return e;                                                                                        \
  }
#else
#define SPLITMLA_TRACE_AT(cond, record, point) \
  do {                                          \
  } while (0)
#endif
