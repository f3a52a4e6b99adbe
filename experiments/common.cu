// Shared pieces of the experiment drivers; see common.hpp.
#include "common.hpp"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <numeric>
#include <sstream>

#include "commit.hpp"  // SPLITMLA_BUILD_COMMIT, regenerated at every build

namespace splitmla::experiments {

// ---- failures -------------------------------------------------------------------------------

void die(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "error: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(1);
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die("%s: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

void check(Status s, const char* what) {
  if (s != Status::kSuccess) die("%s: %s", what, status_message(s).c_str());
}

// ---- identity -------------------------------------------------------------------------------

bool open_device(GpuInfo* info) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    std::fprintf(stderr, "skipped: no CUDA device (nothing to measure)\n");
    return false;
  }
  check_cuda(cudaSetDevice(0), "cudaSetDevice(0)");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  info->device = 0;
  info->name = prop.name;
  info->num_sms = prop.multiProcessorCount;
  info->l2_bytes = size_t(prop.l2CacheSize);
  info->total_mem = prop.totalGlobalMem;
  std::string lower;
  for (char c : info->name) lower += char(std::tolower(static_cast<unsigned char>(c)));
  std::istringstream words(lower);
  std::string w;
  while (words >> w) {
    if (w == "nvidia") continue;
    info->short_name = w;
    break;
  }
  if (info->short_name.empty()) info->short_name = "gpu";
  int version = 0;
  check_cuda(cudaRuntimeGetVersion(&version), "cudaRuntimeGetVersion");
  info->cuda = std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
  return true;
}

std::string build_commit() {
  if (const char* env = std::getenv("SPLITMLA_COMMIT"); env && *env) return env;
  std::string built = SPLITMLA_BUILD_COMMIT;
  return built.empty() ? "unknown" : built;
}

std::string today() {
  std::time_t t = std::time(nullptr);
  std::tm local{};
  localtime_r(&t, &local);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &local);
  return buf;
}

double elapsed_s() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- device kernels -------------------------------------------------------------------------

namespace {

__host__ __device__ inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform values in [-scale, scale) rounded to the 16-bit dtype, a pure function of (seed, index).
__global__ void fill_uniform(uint16_t* p, size_t n, uint64_t seed, float scale, int is_bf16) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const uint64_t x = mix64(seed ^ mix64(i));
    const float u = float(x >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    const float v = (2.0f * u - 1.0f) * scale;
    p[i] = is_bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v))
                   : __half_as_ushort(__float2half_rn(v));
  }
}

// Adds a per-page offset to the value columns (the first 512) of every row: the pages of one
// request share its offset, so each request's output is that offset plus O(1/sqrt(n)) noise.
// Outputs of order one make a wrong kernel visible at any context length (with zero-mean values
// alone, a 128k-token output is ~0.003 and an absolute tolerance of 1e-2 hides a 30% error).
__global__ void shift_values(uint16_t* kv, size_t rows, int page_shift, const float* page_offset,
                             int is_bf16) {
  const size_t n = rows * 512;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const size_t row = i / 512, col = i % 512;
    const float off = page_offset[row >> page_shift];
    uint16_t& v = kv[row * 576 + col];
    if (is_bf16)
      v = __bfloat16_as_ushort(__float2bfloat16_rn(__bfloat162float(__ushort_as_bfloat16(v)) + off));
    else
      v = __half_as_ushort(__float2half_rn(__half2float(__ushort_as_half(v)) + off));
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

// Copies whole pages, in block-table order, into a packed buffer (validation gathers).
__global__ void gather_pages(const uint4* __restrict__ kv, const int32_t* __restrict__ ids,
                             size_t words_per_page, size_t total_words, uint4* __restrict__ dst) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total_words; i += stride) {
    const size_t page = i / words_per_page, w = i % words_per_page;
    dst[i] = kv[size_t(ids[page]) * words_per_page + w];
  }
}

// Holds the stream until the host has queued the timed launches (bounded by `ns`).
__global__ void spin_ns(uint64_t ns) {
  uint64_t start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

int grid_for(size_t n, int threads) {
  int sms = 0, dev = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const size_t want = (n + threads - 1) / threads;
  return int(std::max<size_t>(1, std::min<size_t>(want, size_t(sms) * 16)));
}

void fill_random(void* p, size_t n, uint64_t seed, DType d, float scale, cudaStream_t s) {
  fill_uniform<<<grid_for(n, 256), 256, 0, s>>>(static_cast<uint16_t*>(p), n, seed, scale,
                                                d == DType::kBFloat16 ? 1 : 0);
  check_cuda(cudaGetLastError(), "fill_uniform launch");
}

double median(std::vector<double> v) {
  if (v.empty()) return -1.0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// A reusable read of an L2-sized buffer, run between timed replays when asked.
struct L2Flusher {
  uint4* buf = nullptr;
  size_t words = 0;
  uint32_t* sink = nullptr;
  int grid = 0;
  explicit L2Flusher(size_t l2_bytes) {
    const size_t bytes = std::max<size_t>(l2_bytes, size_t(8) << 20) * 2;
    words = bytes / 16;
    check_cuda(cudaMalloc(&buf, bytes), "cudaMalloc(L2 flush buffer)");
    check_cuda(cudaMemset(buf, 0x5a, bytes), "cudaMemset(L2 flush buffer)");
    check_cuda(cudaMalloc(&sink, 1024 * sizeof(uint32_t)), "cudaMalloc(sink)");
    grid = grid_for(words, 512);
  }
  ~L2Flusher() {
    cudaFree(buf);
    cudaFree(sink);
  }
  void launch(cudaStream_t s) const { read_stream<<<grid, 512, 0, s>>>(buf, words, sink); }
};

}  // namespace

uint64_t hash64(uint64_t x) { return mix64(x); }

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

double Floor::us(int64_t tokens, int heads, int q_len) const {
  const double t_bytes = bytes(tokens) / (bw_read_gbps * 1e9);
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

// ---- policies -------------------------------------------------------------------------------

bool parse_policy(const std::string& text, SplitPolicy* policy) {
  if (text == "auto") {
    *policy = SplitPolicy::automatic();
    return true;
  }
  const auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  const std::string kind = text.substr(0, colon);
  char* end = nullptr;
  const long v = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || v < 1 || v > (1 << 30)) return false;
  if (kind == "forced") *policy = SplitPolicy::forced(int32_t(v));
  else if (kind == "chunk") *policy = SplitPolicy::chunk(int32_t(v));
  else return false;
  return true;
}

const char* policy_name(const SplitPolicy& p) {
  switch (p.kind) {
    case SplitPolicyKind::kAuto: return "auto";
    case SplitPolicyKind::kForced: return "forced";
    case SplitPolicyKind::kChunk: return "chunk";
  }
  return "unknown";
}

std::string policy_label(const SplitPolicy& p) {
  if (p.kind == SplitPolicyKind::kAuto) return "auto";
  return std::string(policy_name(p)) + ":" + std::to_string(p.value);
}

bool parse_dtype(const std::string& text, DType* d) {
  if (text == "bf16") *d = DType::kBFloat16;
  else if (text == "fp16") *d = DType::kFloat16;
  else return false;
  return true;
}

const char* dtype_short(DType d) { return d == DType::kBFloat16 ? "bf16" : "fp16"; }

// ---- inputs ---------------------------------------------------------------------------------

int64_t Shape::total_tokens() const {
  return std::accumulate(seq_lens.begin(), seq_lens.end(), int64_t(0));
}

int32_t Shape::max_pages_per_seq() const {
  int32_t m = 1;
  for (int32_t n : seq_lens) m = std::max(m, (n + page - 1) / page);
  return m;
}

int32_t Shape::num_pages() const {
  int64_t s = 0;
  for (int32_t n : seq_lens) s += (n + page - 1) / page;
  return int32_t(std::max<int64_t>(s, 1));
}

size_t DeviceInputs::bytes_needed(const Shape& sh) {
  const size_t b = size_t(sh.batch()), rows = size_t(sh.q_len) * sh.heads;
  return size_t(sh.num_pages()) * sh.page * kHeadDimQK * 2 + b * rows * kHeadDimQK * 2 +
         b * rows * (kHeadDimV * 2 + 4) + b * size_t(sh.max_pages_per_seq()) * 4 + b * 4;
}

DeviceInputs::DeviceInputs(const Shape& sh, uint64_t seed, float softmax_scale) : shape_(sh) {
  const int32_t B = sh.batch(), H = sh.heads, P = sh.page, Q = sh.q_len;
  const int32_t pages = sh.num_pages(), width = sh.max_pages_per_seq();
  const size_t q_elems = size_t(B) * Q * H * kHeadDimQK;
  const size_t kv_elems = size_t(pages) * P * kHeadDimQK;
  const size_t out_elems = size_t(B) * Q * H * kHeadDimV;
  check_cuda(cudaMalloc(&q_, q_elems * 2), "cudaMalloc(q)");
  check_cuda(cudaMalloc(&kv_, kv_elems * 2), "cudaMalloc(kv_cache)");
  check_cuda(cudaMalloc(&out_, out_elems * 2), "cudaMalloc(out)");
  check_cuda(cudaMalloc(&lse_, size_t(B) * Q * H * sizeof(float)), "cudaMalloc(lse)");
  check_cuda(cudaMalloc(&bt_, size_t(B) * width * sizeof(int32_t)), "cudaMalloc(block_table)");
  check_cuda(cudaMalloc(&lens_, size_t(B) * sizeof(int32_t)), "cudaMalloc(seq_lens)");

  fill_random(q_, q_elems, mix64(seed * 2 + 1), sh.dtype, 1.0f, nullptr);
  fill_random(kv_, kv_elems, mix64(seed * 2 + 2), sh.dtype, 1.0f, nullptr);
  check_cuda(cudaMemset(out_, 0xff, out_elems * 2), "cudaMemset(out)");  // NaN in bf16 and fp16
  check_cuda(cudaMemset(lse_, 0xff, size_t(B) * Q * H * sizeof(float)), "cudaMemset(lse)");

  // Page ids: a random permutation (Fisher-Yates on a seeded stream), dealt out in order.
  std::vector<int32_t> perm(pages);
  std::iota(perm.begin(), perm.end(), 0);
  uint64_t state = mix64(seed ^ 0x7061676573ull);
  for (int32_t i = pages - 1; i > 0; --i) {
    state = mix64(state);
    std::swap(perm[i], perm[int32_t(state % uint64_t(i + 1))]);
  }
  block_table_.assign(size_t(B) * width, pages);
  size_t next = 0;
  for (int32_t b = 0; b < B; ++b) {
    const int32_t used = (sh.seq_lens[b] + P - 1) / P;
    for (int32_t j = 0; j < used; ++j) block_table_[size_t(b) * width + j] = perm[next++];
  }
  check_cuda(cudaMemcpy(bt_, block_table_.data(), block_table_.size() * 4, cudaMemcpyHostToDevice),
             "copy block_table");
  {
    // Request b's value mean: 0.5 + (hash % 1000) / 1000, on every page it owns.
    std::vector<float> offset(size_t(pages), 0.f);
    for (int32_t b = 0; b < B; ++b) {
      const float mu = 0.5f + float(mix64(seed ^ (0x6d65616eull + uint64_t(b))) % 1000) / 1000.f;
      const int32_t used = (sh.seq_lens[b] + P - 1) / P;
      for (int32_t j = 0; j < used; ++j) offset[size_t(block_table_[size_t(b) * width + j])] = mu;
    }
    float* d_off = nullptr;
    check_cuda(cudaMalloc(&d_off, offset.size() * sizeof(float)), "cudaMalloc(page offsets)");
    check_cuda(cudaMemcpy(d_off, offset.data(), offset.size() * sizeof(float), cudaMemcpyHostToDevice),
               "copy page offsets");
    int shift = 0;
    while ((1 << shift) < P) ++shift;
    const size_t rows = size_t(pages) * P;
    shift_values<<<grid_for(rows * 512, 256), 256>>>(static_cast<uint16_t*>(kv_), rows, shift, d_off,
                                                      sh.dtype == DType::kBFloat16 ? 1 : 0);
    check_cuda(cudaGetLastError(), "shift_values launch");
    check_cuda(cudaDeviceSynchronize(), "shift_values");
    cudaFree(d_off);
  }
  check_cuda(cudaMemcpy(lens_, sh.seq_lens.data(), size_t(B) * 4, cudaMemcpyHostToDevice),
             "copy seq_lens");
  check_cuda(cudaDeviceSynchronize(), "input generation");

  args_.batch = B;
  args_.num_pages = pages;
  args_.max_pages_per_seq = width;
  args_.softmax_scale = softmax_scale;
  args_.q = q_;
  args_.kv_cache = kv_;
  args_.block_table = bt_;
  args_.seq_lens = lens_;
  args_.out = out_;
  args_.lse = lse_;
  args_.set_dense_strides(H, Q, P);
}

DeviceInputs::~DeviceInputs() {
  cudaFree(q_);
  cudaFree(kv_);
  cudaFree(out_);
  cudaFree(lse_);
  cudaFree(bt_);
  cudaFree(lens_);
}

DecodeConfig config_for(const Shape& sh, SplitPolicy policy) {
  DecodeConfig c;
  c.dtype = sh.dtype;
  c.num_heads = sh.heads;
  c.q_len = sh.q_len;
  c.causal = sh.causal;
  c.page_size = sh.page;
  c.max_batch = sh.batch();
  c.max_pages_per_seq = sh.max_pages_per_seq();
  c.policy = policy;
  c.device = -1;
  return c;
}

// ---- validation -----------------------------------------------------------------------------

ValidationSample build_validation(const DeviceInputs& in, int max_requests, int max_heads) {
  const Shape& sh = in.shape();
  const DecodeArgs& a = in.args();
  ValidationSample s;

  // Heads: first, last, then evenly spread.
  std::vector<int> heads = {0, sh.heads - 1};
  for (int k = 1; int(heads.size()) < max_heads * 2 && k < 8; ++k) heads.push_back(sh.heads * k / 8);
  for (int h : heads)
    if (int(s.heads.size()) < max_heads &&
        std::find(s.heads.begin(), s.heads.end(), h) == s.heads.end())
      s.heads.push_back(h);

  // Requests: first, last, longest, shortest.
  const auto& lens = sh.seq_lens;
  const int longest = int(std::max_element(lens.begin(), lens.end()) - lens.begin());
  const int shortest = int(std::min_element(lens.begin(), lens.end()) - lens.begin());
  std::vector<int> picks;
  if (max_requests >= sh.batch()) {
    for (int r = 0; r < sh.batch(); ++r) picks.push_back(r);  // every request
  } else {
    for (int r : {0, sh.batch() - 1, longest, shortest})
      if (int(picks.size()) < max_requests && std::find(picks.begin(), picks.end(), r) == picks.end())
        picks.push_back(r);
  }

  const int width = sh.max_pages_per_seq();
  const size_t words_per_page = size_t(sh.page) * kHeadDimQK * 2 / 16;
  std::vector<std::future<void>> jobs;
  s.requests.resize(picks.size());
  for (size_t i = 0; i < picks.size(); ++i) {
    ValidationSample::Request& req = s.requests[i];
    req.index = picks[i];
    const int32_t n = lens[req.index];
    const int32_t used = std::max(1, (n + sh.page - 1) / sh.page);
    HostProblem& p = req.problem;
    p.dtype = sh.dtype;
    p.batch = 1;
    p.q_len = sh.q_len;
    p.causal = sh.causal;
    p.num_heads = int32_t(s.heads.size());
    p.page_size = sh.page;
    p.num_pages = used;
    p.max_pages_per_seq = used;
    p.softmax_scale = double(a.softmax_scale);
    p.seq_lens = {n};
    p.block_table.resize(used);
    std::iota(p.block_table.begin(), p.block_table.end(), 0);

    // The request's pages, gathered on the device in table order, then copied back.
    std::vector<int32_t> ids(in.host_block_table().begin() + size_t(req.index) * width,
                             in.host_block_table().begin() + size_t(req.index) * width + used);
    if (n == 0) ids.assign(1, 0);
    int32_t* d_ids = nullptr;
    uint4* d_pack = nullptr;
    const size_t words = words_per_page * used;
    check_cuda(cudaMalloc(&d_ids, ids.size() * 4), "cudaMalloc(gather ids)");
    check_cuda(cudaMalloc(&d_pack, words * 16), "cudaMalloc(gather buffer)");
    check_cuda(cudaMemcpy(d_ids, ids.data(), ids.size() * 4, cudaMemcpyHostToDevice), "copy ids");
    gather_pages<<<grid_for(words, 256), 256>>>(static_cast<const uint4*>(a.kv_cache), d_ids,
                                                words_per_page, words, d_pack);
    check_cuda(cudaGetLastError(), "gather_pages launch");
    p.kv_cache.resize(words * 8);
    check_cuda(cudaMemcpy(p.kv_cache.data(), d_pack, words * 16, cudaMemcpyDeviceToHost),
               "copy gathered pages");
    cudaFree(d_ids);
    cudaFree(d_pack);

    // q rows [q_len, chosen heads, 576]: every token of the chosen heads.
    const size_t nh = s.heads.size();
    p.q.resize(size_t(sh.q_len) * nh * kHeadDimQK);
    for (int t = 0; t < sh.q_len; ++t)
      for (size_t h = 0; h < nh; ++h) {
        const uint16_t* src = static_cast<const uint16_t*>(a.q) + req.index * a.q_stride_batch +
                              t * a.q_stride_token + s.heads[h] * a.q_stride_head;
        check_cuda(cudaMemcpy(p.q.data() + (size_t(t) * nh + h) * kHeadDimQK, src, kHeadDimQK * 2,
                              cudaMemcpyDeviceToHost),
                   "copy q row");
      }
    jobs.push_back(std::async(std::launch::async, [&req] {
      check(reference_decode(req.problem, &req.ref), "reference_decode");
    }));
  }
  for (auto& j : jobs) j.get();
  return s;
}

ValidationResult validate(const ValidationSample& s, const DeviceInputs& in) {
  const DecodeArgs& a = in.args();
  check_cuda(cudaDeviceSynchronize(), "run before validation");
  ValidationResult result;
  const Tolerance tol = Tolerance::for_dtype(in.shape().dtype);
  for (const auto& req : s.requests) {
    HostOutputs got;
    const size_t nh = s.heads.size(), Q = size_t(in.shape().q_len);
    got.out.resize(Q * nh * kHeadDimV);
    got.lse.resize(Q * nh);
    std::vector<uint16_t> row(kHeadDimV);
    for (size_t t = 0; t < Q; ++t)
      for (size_t h = 0; h < nh; ++h) {
        const size_t r = t * nh + h;
        const uint16_t* src = static_cast<const uint16_t*>(a.out) + req.index * a.out_stride_batch +
                              t * a.out_stride_token + s.heads[h] * a.out_stride_head;
        check_cuda(cudaMemcpy(row.data(), src, kHeadDimV * 2, cudaMemcpyDeviceToHost), "copy out");
        for (int d = 0; d < kHeadDimV; ++d)
          got.out[r * kHeadDimV + d] = half_bits_to_float(in.shape().dtype, row[d]);
        check_cuda(cudaMemcpy(&got.lse[r], a.lse + req.index * a.lse_stride_batch +
                                               t * a.lse_stride_token + s.heads[h] * a.lse_stride_head,
                              sizeof(float), cudaMemcpyDeviceToHost),
                   "copy lse");
      }
    const CompareReport rep = compare_outputs(req.problem, got, req.ref, tol);
    result.max_out_err = std::max(result.max_out_err, rep.max_out_err);
    result.max_lse_err = std::max(result.max_lse_err, rep.max_lse_err);
    if (!rep.ok && result.ok) {
      result.ok = false;
      result.text = "request " + std::to_string(req.index) + " (seq_len " +
                    std::to_string(req.problem.seq_lens[0]) + "): " + rep.text;
    }
  }
  if (result.ok) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "ok: %zu requests x %zu heads, max |out err| %.3g, max |lse err| %.3g",
                  s.requests.size(), s.heads.size(), result.max_out_err, result.max_lse_err);
    result.text = buf;
  }
  return result;
}

// ---- timing ---------------------------------------------------------------------------------

bool have_part_timing() {
#ifdef SPLITMLA_HAVE_PART_TIMING
  return true;
#else
  return false;
#endif
}

bool have_part1_occupancy() {
#ifdef SPLITMLA_HAVE_PART1_OCCUPANCY
  return true;
#else
  return false;
#endif
}

namespace {

// Captures what `enqueue` puts on `stream` into an instantiated graph.
template <class F>
cudaGraphExec_t capture(cudaStream_t stream, const char* what, F&& enqueue) {
  check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  const Status st = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream, &graph);
  check(st, what);
  check_cuda(e, "end capture");
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  cudaGraphDestroy(graph);
  return exec;
}

// Median time of one replay, rotating over `execs`. The stream is first held by a spin kernel so
// that the host can queue the replays ahead of the GPU; each replay sits between its own pair of
// events (an L2 flush, when asked, goes before the first event of the pair).
double time_graphs(const std::vector<cudaGraphExec_t>& execs, const TimingOptions& opt,
                   const L2Flusher* flush, cudaStream_t stream) {
  const int reps = std::max(opt.reps, 1);
  std::vector<cudaEvent_t> ev(size_t(reps) * 2);
  for (auto& e : ev) check_cuda(cudaEventCreate(&e), "cudaEventCreate");
  const uint64_t hold_ns = std::min<uint64_t>(50'000'000, 1'000'000 + uint64_t(reps + opt.warmup) * 25'000);
  spin_ns<<<1, 1, 0, stream>>>(hold_ns);
  for (int i = 0; i < opt.warmup; ++i) {
    if (flush) flush->launch(stream);
    check_cuda(cudaGraphLaunch(execs[i % execs.size()], stream), "cudaGraphLaunch");
  }
  for (int i = 0; i < reps; ++i) {
    if (flush) flush->launch(stream);
    cudaEventRecord(ev[2 * i], stream);
    check_cuda(cudaGraphLaunch(execs[i % execs.size()], stream), "cudaGraphLaunch");
    cudaEventRecord(ev[2 * i + 1], stream);
  }
  check_cuda(cudaStreamSynchronize(stream), "timed replays");
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    float ms = 0.f;
    check_cuda(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]), "cudaEventElapsedTime");
    us.push_back(double(ms) * 1e3);
  }
  for (auto& e : ev) cudaEventDestroy(e);
  return median(us);
}

}  // namespace

PointResult measure_point(const DecodeConfig& config, const std::vector<DeviceInputs*>& sets,
                          ScratchPool& pool, cudaStream_t stream, const TimingOptions& opt,
                          const GpuInfo& gpu, const ValidationSample* sample) {
  PointResult r;
  Plan plan;
  check(make_plan(config, &plan), "make_plan");
  check(pool.reserve_for(plan), "ScratchPool::reserve_for");
  Workspace ws;
  check(pool.workspace_for(plan, &ws), "ScratchPool::workspace_for");
  for (DeviceInputs* in : sets) check(can_implement(plan, in->args()), "can_implement");

  // One untimed run on set 0: error word, schedule, outputs. Every set shares the seq_lens, so
  // the schedule left in the workspace serves the run-only graphs of every set.
  check_cuda(cudaMemsetAsync(sets[0]->args().out, 0xff,
                             size_t(sets[0]->shape().batch()) * config.q_len * config.num_heads * kHeadDimV * 2,
                             stream),
             "poison out");
  check(decode(plan, sets[0]->args(), ws, stream), "decode");
  check_cuda(cudaStreamSynchronize(stream), "first decode");
  ErrorReport errors;
  check(read_errors(plan, ws, sets[0]->shape().batch(), stream, &errors), "read_errors");
  if (errors.any != 0) die("the device recorded error flags 0x%x on valid inputs", errors.any);
  ScheduleInfo sched;
  check(read_schedule(plan, ws, sets[0]->shape().batch(), stream, &sched), "read_schedule");
  r.pieces = sched.num_pieces;
  for (int32_t n : sched.splits_per_request) r.splits_max = std::max(r.splits_max, int(n));
  if (sample) {
    r.validation = validate(*sample, *sets[0]);
    r.validated = true;
    if (!r.validation.ok) {
      r.time_us = -1.0;  // wrong outputs are not timed
      return r;
    }
  }

  r.grid_ctas = plan.work_ctas * plan.row_blocks;
#ifdef SPLITMLA_HAVE_PART1_OCCUPANCY
  {
    int per_sm = 0, grid = 0;
    check(part1_occupancy(plan, &per_sm, &grid), "part1_occupancy");
    r.grid_ctas = grid;
    r.blocks_per_sm = per_sm;
    const double wave = double(per_sm) * gpu.num_sms;
    if (wave > 0) {
      r.waves = grid / wave;
      const double rem = std::fmod(double(grid), wave);
      r.last_wave_fill = grid == 0 ? 0.0 : (rem == 0.0 ? 1.0 : rem / wave);
    }
  }
#else
  (void)gpu;  // TODO(experiments): waves need splitmla::part1_occupancy once decode.hpp has it.
#endif

  std::unique_ptr<L2Flusher> flush;
  if (opt.flush_l2) flush = std::make_unique<L2Flusher>(gpu.l2_bytes);

  auto time_each = [&](const char* what, auto&& enqueue) {
    std::vector<cudaGraphExec_t> execs;
    for (DeviceInputs* in : sets)
      execs.push_back(capture(stream, what, [&] { return enqueue(in->args()); }));
    const double t = time_graphs(execs, opt, flush.get(), stream);
    for (auto e : execs) cudaGraphExecDestroy(e);
    return t;
  };

  r.time_us = time_each("enqueue_run", [&](const DecodeArgs& a) {
    return enqueue_run(plan, a, ws, stream);
  });
  if (opt.with_plan)
    r.time_with_plan_us = time_each("decode", [&](const DecodeArgs& a) {
      return decode(plan, a, ws, stream);
    });
#ifdef SPLITMLA_HAVE_PART_TIMING
  if (opt.parts) {
    r.part1_us = time_each("enqueue_part1", [&](const DecodeArgs& a) {
      return enqueue_part1(plan, a, ws, stream);
    });
    r.part2_us = time_each("enqueue_part2", [&](const DecodeArgs& a) {
      return enqueue_part2(plan, a, ws, stream);
    });
  }
#endif
  if (opt.host) {
    // Host cost of one enqueue_run call: launches only, no synchronization inside the loop.
    std::vector<double> us;
    for (int i = 0; i < opt.host_reps; ++i) {
      const DecodeArgs& a = sets[size_t(i) % sets.size()]->args();
      const auto t0 = std::chrono::steady_clock::now();
      const Status st = enqueue_run(plan, a, ws, stream);
      const auto t1 = std::chrono::steady_clock::now();
      check(st, "enqueue_run (host timing)");
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (i % 64 == 63) check_cuda(cudaStreamSynchronize(stream), "host timing drain");
    }
    check_cuda(cudaStreamSynchronize(stream), "host timing");
    r.host_us = median(us);
  }
  check_cuda(cudaGetLastError(), "after timing");
  if (sample) {
    // Validate again through one more graph replay, after all the timed ones: a replay that
    // corrupts its own outputs or the workspace would otherwise go unseen.
    check_cuda(cudaMemsetAsync(sets[0]->args().out, 0xff,
                               size_t(sets[0]->shape().batch()) * config.q_len * config.num_heads * kHeadDimV * 2,
                               stream),
               "poison out");
    cudaGraphExec_t again = capture(stream, "decode", [&] {
      return decode(plan, sets[0]->args(), ws, stream);
    });
    check_cuda(cudaGraphLaunch(again, stream), "cudaGraphLaunch (validation)");
    check_cuda(cudaStreamSynchronize(stream), "validation replay");
    cudaGraphExecDestroy(again);
    const ValidationResult after = validate(*sample, *sets[0]);
    r.validation.max_out_err = std::max(r.validation.max_out_err, after.max_out_err);
    r.validation.max_lse_err = std::max(r.validation.max_lse_err, after.max_lse_err);
    if (!after.ok) {
      r.validation.ok = false;
      r.validation.text = "after the timed replays: " + after.text;
    } else {
      r.validation.text += ", again after the timed replays";
    }
  }
  return r;
}

// ---- CSV ------------------------------------------------------------------------------------

std::string fmt(double v, int decimals) {
  if (!(v >= 0.0) || !std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_int(int64_t v) { return std::to_string(v); }

void CsvWriter::open(const std::string& path, const std::vector<std::string>& header, bool append) {
  path_ = path;
  columns_ = header.size();
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  bool has_rows = false;
  if (append) {
    std::ifstream probe(path);
    std::string first;
    has_rows = bool(std::getline(probe, first)) && !first.empty();
  }
  f_ = std::fopen(path.c_str(), has_rows ? "a" : "w");
  if (!f_) die("cannot open %s for writing", path.c_str());
  if (!has_rows) row(header);
}

void CsvWriter::row(const std::vector<std::string>& cells) {
  if (cells.size() != columns_) die("CSV row has %zu cells, header %zu", cells.size(), columns_);
  for (size_t i = 0; i < cells.size(); ++i) {
    const bool quote = cells[i].find_first_of(",\"\n") != std::string::npos;
    if (i) std::fputc(',', f_);
    if (quote) {
      std::fputc('"', f_);
      for (char c : cells[i]) {
        if (c == '"') std::fputc('"', f_);
        std::fputc(c, f_);
      }
      std::fputc('"', f_);
    } else {
      std::fputs(cells[i].c_str(), f_);
    }
  }
  std::fputc('\n', f_);
  std::fflush(f_);
}

CsvWriter::~CsvWriter() {
  if (f_) std::fclose(f_);
}

namespace {
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cells.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else cells.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c != '\r') {
      cells.back() += c;
    }
  }
  return cells;
}
}  // namespace

std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  std::vector<std::map<std::string, std::string>> rows;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return rows;
  const std::vector<std::string> header = split_csv_line(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_csv_line(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace splitmla::experiments
