// The experiment drivers' inputs (DeviceInputs: random q and KV drawn on the device, fp8
// encodings, shuffled page ids) and their validation against the CPU reference.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <future>
#include <numeric>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "common.hpp"
#include "common_device.hpp"

namespace splitmla::experiments {
namespace {

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

// Encodes 16-bit rows into an fp8 layout: one thread per (row, group), groups 0..3 the latent
// blocks of 128 values, group 4 the 64 rope values. fp8_e4m3 (ds = 0): every value / `scale`;
// fp8_ds_mla: each latent block / (its amax / 448), the rope as bf16.
__global__ void quantize_rows(const uint16_t* __restrict__ src, size_t rows, int is_bf16, int ds,
                              float scale, uint8_t* __restrict__ dst) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * 5; i += stride) {
    const size_t row = i / 5;
    const int g = int(i % 5);
    const uint16_t* in = src + row * kHeadDimQK + 128 * g;
    auto value = [&](int k) {
      return is_bf16 ? __bfloat162float(__ushort_as_bfloat16(in[k])) : __half2float(__ushort_as_half(in[k]));
    };
    const int n = g < 4 ? 128 : 64;
    if (!ds) {
      uint8_t* out = dst + row * kFp8E4M3RowBytes + 128 * g;
      for (int k = 0; k < n; ++k)
        out[k] = __nv_cvt_float_to_fp8(value(k) / scale, __NV_SATFINITE, __NV_E4M3);
      continue;
    }
    uint8_t* out = dst + row * kFp8DsMlaRowBytes;
    if (g == 4) {
      for (int k = 0; k < 64; ++k) {
        const __nv_bfloat16 b = __float2bfloat16(value(k));
        reinterpret_cast<uint16_t*>(out + kFp8DsMlaRopeOffset)[k] = __bfloat16_as_ushort(b);
      }
      continue;
    }
    float amax = 0.f;
    for (int k = 0; k < 128; ++k) amax = fmaxf(amax, fabsf(value(k)));
    const float sc = amax > 0.f ? amax / 448.f : 1.f;
    reinterpret_cast<float*>(out + kFp8DsMlaScaleOffset)[g] = sc;
    for (int k = 0; k < 128; ++k)
      out[128 * g + k] = __nv_cvt_float_to_fp8(value(k) / sc, __NV_SATFINITE, __NV_E4M3);
  }
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

}  // namespace

using detail::fill_random;
using detail::grid_for;

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
  // fp8: the 16-bit cache is generated first, then encoded (both live for a moment).
  const size_t kv16 = size_t(sh.num_pages()) * sh.page * kHeadDimQK * 2;
  const size_t kv = is_fp8(sh.kv_format) ? kv16 + size_t(sh.kv_bytes()) : kv16;
  return kv + b * rows * kHeadDimQK * 2 +
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

  fill_random(q_, q_elems, hash64(seed * 2 + 1), sh.dtype, 1.0f, nullptr);
  fill_random(kv_, kv_elems, hash64(seed * 2 + 2), sh.dtype, 1.0f, nullptr);
  check_cuda(cudaMemset(out_, 0xff, out_elems * 2), "cudaMemset(out)");  // NaN in bf16 and fp16
  check_cuda(cudaMemset(lse_, 0xff, size_t(B) * Q * H * sizeof(float)), "cudaMemset(lse)");

  // Page ids: a random permutation (Fisher-Yates on a seeded stream), dealt out in order.
  std::vector<int32_t> perm(pages);
  std::iota(perm.begin(), perm.end(), 0);
  uint64_t state = hash64(seed ^ 0x7061676573ull);
  for (int32_t i = pages - 1; i > 0; --i) {
    state = hash64(state);
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
      const float mu = 0.5f + float(hash64(seed ^ (0x6d65616eull + uint64_t(b))) % 1000) / 1000.f;
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
  if (is_fp8(sh.kv_format)) {
    const bool ds = sh.kv_format == KvFormat::kFp8DsMla;
    // Values are uniform in [-1, 1] plus a mean in [0.5, 1.5) on the first 512: |v| < 2.5.
    kv_scale_ = ds ? 1.f : fp8_scale_for(2.5, Fp8ScaleRule::kAmax);
    void* fp8 = nullptr;
    const size_t rows = size_t(pages) * P;
    check_cuda(cudaMalloc(&fp8, rows * sh.row_bytes()), "cudaMalloc(fp8 kv_cache)");
    quantize_rows<<<grid_for(rows * 5, 256), 256>>>(static_cast<const uint16_t*>(kv_), rows,
                                                      sh.dtype == DType::kBFloat16 ? 1 : 0, ds ? 1 : 0,
                                                      kv_scale_, static_cast<uint8_t*>(fp8));
    check_cuda(cudaGetLastError(), "quantize_rows launch");
    check_cuda(cudaDeviceSynchronize(), "quantize_rows");
    cudaFree(kv_);
    kv_ = fp8;
  }
  check_cuda(cudaMalloc(&scale_, sizeof(float)), "cudaMalloc(kv_scale)");
  check_cuda(cudaMemcpy(scale_, &kv_scale_, sizeof(float), cudaMemcpyHostToDevice), "copy kv_scale");
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
  args_.kv_scale = scale_;
  args_.set_dense_strides(H, Q, P, sh.kv_format);
}

DeviceInputs::~DeviceInputs() {
  cudaFree(q_);
  cudaFree(kv_);
  cudaFree(out_);
  cudaFree(lse_);
  cudaFree(bt_);
  cudaFree(lens_);
  cudaFree(scale_);
}

DecodeConfig config_for(const Shape& sh, SplitPolicy policy) {
  DecodeConfig c;
  c.dtype = sh.dtype;
  c.kv_format = sh.kv_format;
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
  const size_t words_per_page = size_t(sh.page) * sh.row_bytes() / 16;  // row bytes: x16
  std::vector<std::future<void>> jobs;
  s.requests.resize(picks.size());
  for (size_t i = 0; i < picks.size(); ++i) {
    ValidationSample::Request& req = s.requests[i];
    req.index = picks[i];
    const int32_t n = lens[req.index];
    const int32_t used = std::max(1, (n + sh.page - 1) / sh.page);
    HostProblem& p = req.problem;
    p.dtype = sh.dtype;
    p.kv_format = sh.kv_format;
    p.kv_scale = in.kv_scale();
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
    void* host_dst = nullptr;
    if (is_fp8(sh.kv_format)) {
      p.kv_bytes.resize(words * 16);
      host_dst = p.kv_bytes.data();
    } else {
      p.kv_cache.resize(words * 8);
      host_dst = p.kv_cache.data();
    }
    check_cuda(cudaMemcpy(host_dst, d_pack, words * 16, cudaMemcpyDeviceToHost),
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

}  // namespace splitmla::experiments
