// The experiment drivers' floor (docs/benchmark.md): read bandwidth and the bf16 GEMM rate, with
// the device helpers the other common_*.cu files share (common_device.hpp).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common.hpp"
#include "common_device.hpp"

namespace splitmla::experiments {
namespace {

// Uniform values in [-scale, scale) rounded to the 16-bit dtype, a pure function of (seed, index).
__global__ void fill_uniform(uint16_t* p, size_t n, uint64_t seed, float scale, int is_bf16,
                             int coarse) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t x = hash64(seed ^ hash64(i));
    const float u = float(x >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    float v = (2.0f * u - 1.0f) * scale;
    if (coarse) v = __bfloat162float(__float2bfloat16_rn(v));  // bf16's 8-bit significand
    p[i] = is_bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v))
                   : __half_as_ushort(__float2half_rn(v));
  }
}

// Streams n 16-byte words, reads only. The XOR of everything read feeds a store that a real
// run practically never takes, so the loads cannot be removed.
__global__ void read_stream(const uint4* __restrict__ p, size_t n, uint32_t* sink) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = __ldcs(p + i);
    const uint4 b = __ldcs(p + i + stride);
    const uint4 c = __ldcs(p + i + 2 * stride);
    const uint4 d = __ldcs(p + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^
           d.z ^ d.w;
  }
  for (; i < n; i += stride) {
    const uint4 a = __ldcs(p + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x2545f491u) sink[blockIdx.x & 1023] = acc;
}

}  // namespace

namespace detail {

int grid_for(size_t n, int threads) {
  int sms = 0, dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const size_t want = (n + threads - 1) / threads;
  return int(std::max<size_t>(1, std::min<size_t>(want, size_t(sms) * 16)));
}

void fill_random(void* p, size_t n, uint64_t seed, DType d, float scale, cudaStream_t s) {
  // SPLITMLA_BENCH_COARSE_FP16=1: fp16 values rounded to bf16's significand first, the same
  // numbers a bf16 run draws (a diagnostic: does an fp16 row's time depend on its values?).
  static const bool coarse = [] {
    const char* e = std::getenv("SPLITMLA_BENCH_COARSE_FP16");
    return e != nullptr && e[0] == '1';
  }();
  fill_uniform<<<grid_for(n, 256), 256, 0, s>>>(static_cast<uint16_t*>(p), n, seed, scale,
                                                d == DType::kBFloat16 ? 1 : 0,
                                                coarse && d == DType::kFloat16 ? 1 : 0);
  check_cuda(cudaGetLastError(), "fill_uniform launch");
}

double median(std::vector<double> v) {
  if (v.empty()) return -1.0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

L2Flusher::L2Flusher(size_t l2_bytes) {
  const size_t bytes = std::max<size_t>(l2_bytes, size_t(8) << 20) * 2;
  words = bytes / 16;
  check_cuda(cudaMalloc(&buf, bytes), "cudaMalloc(L2 flush buffer)");
  check_cuda(cudaMemset(buf, 0x5a, bytes), "cudaMemset(L2 flush buffer)");
  check_cuda(cudaMalloc(&sink, 1024 * sizeof(uint32_t)), "cudaMalloc(sink)");
  grid = grid_for(words, 512);
}

L2Flusher::~L2Flusher() {
  cudaFree(buf);
  cudaFree(sink);
}

void L2Flusher::launch(cudaStream_t s) const { read_stream<<<grid, 512, 0, s>>>(buf, words, sink); }

}  // namespace detail

using detail::fill_random;
using detail::median;

// ---- the floor ------------------------------------------------------------------------------

double measure_bw_read_gbps(size_t bytes, int reps) {
  bytes = std::max<size_t>(bytes, size_t(4) << 30) / 16 * 16;
  const size_t words = bytes / 16;
  uint4* buf = nullptr;
  uint32_t* sink = nullptr;
  check_cuda(cudaMalloc(&buf, bytes), "cudaMalloc(bandwidth buffer)");
  check_cuda(cudaMalloc(&sink, 1024 * sizeof(uint32_t)), "cudaMalloc(sink)");
  fill_random(buf, bytes / 2, 7, DType::kBFloat16, 1.0f, nullptr);

  int dev = 0, sms = 0, per_sm = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, read_stream, 512, 0),
             "occupancy(read_stream)");
  const int grid = sms * std::max(per_sm, 1);

  cudaEvent_t a, b;
  check_cuda(cudaEventCreate(&a), "cudaEventCreate");
  check_cuda(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> gbps;
  for (int r = 0; r < reps + 2; ++r) {
    cudaEventRecord(a);
    read_stream<<<grid, 512>>>(buf, words, sink);
    cudaEventRecord(b);
    check_cuda(cudaEventSynchronize(b), "read_stream");
    float ms = 0.f;
    cudaEventElapsedTime(&ms, a, b);
    if (r >= 2) gbps.push_back(double(bytes) / (double(ms) * 1e-3) / 1e9);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(buf);
  cudaFree(sink);
  return median(gbps);
}

double measure_p_bf16_tflops(int n, int reps) {
  const size_t elems = size_t(n) * n;
  void *A = nullptr, *B = nullptr, *C = nullptr;
  check_cuda(cudaMalloc(&A, elems * 2), "cudaMalloc(A)");
  check_cuda(cudaMalloc(&B, elems * 2), "cudaMalloc(B)");
  check_cuda(cudaMalloc(&C, elems * 2), "cudaMalloc(C)");
  fill_random(A, elems, 11, DType::kBFloat16, 1.0f, nullptr);
  fill_random(B, elems, 12, DType::kBFloat16, 1.0f, nullptr);
  cublasHandle_t h = nullptr;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) die("cublasCreate failed");
  const float alpha = 1.f, beta = 0.f;
  cudaEvent_t a, b;
  check_cuda(cudaEventCreate(&a), "cudaEventCreate");
  check_cuda(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> tflops;
  for (int r = 0; r < reps + 3; ++r) {
    cudaEventRecord(a);
    const cublasStatus_t st =
        cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A, CUDA_R_16BF, n, B,
                     CUDA_R_16BF, n, &beta, C, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) die("cublasGemmEx failed: status %d", int(st));
    cudaEventRecord(b);
    check_cuda(cudaEventSynchronize(b), "cublasGemmEx");
    float ms = 0.f;
    cudaEventElapsedTime(&ms, a, b);
    if (r >= 3) tflops.push_back(2.0 * double(n) * n * n / (double(ms) * 1e-3) / 1e12);
  }
  cublasDestroy(h);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(A);
  cudaFree(B);
  cudaFree(C);
  return median(tflops);
}

double Floor::us(int64_t tokens, int heads, int q_len, int row_bytes) const {
  const double t_bytes = bytes(tokens, row_bytes) / (bw_read_gbps * 1e9);
  const double t_flops = flops(tokens, heads, q_len) / (p_bf16_tflops * 1e12);
  return std::max(t_bytes, t_flops) * 1e6;
}

Floor measure_floor(bool quiet) {
  Floor f;
  f.bw_read_gbps = measure_bw_read_gbps(size_t(4) << 30, 15);
  f.p_bf16_tflops = measure_p_bf16_tflops(8192, 15);
  if (!quiet)
    std::printf("floor: BW_read %.0f GB/s (4 GiB, 16-byte loads), P_bf16 %.1f TFLOP/s (8192^3)\n",
                f.bw_read_gbps, f.p_bf16_tflops);
  return f;
}

}  // namespace splitmla::experiments
