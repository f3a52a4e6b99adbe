// Shared helpers of the GPU tests: the "no CUDA device" skip, device buffers, adversarial random
// problems (NaN rows past each length, out-of-range page ids past each table row, shuffled pages),
// upload with optional non-dense strides, and one decode run read back into host outputs.
// The tests reach the GPU only through the library's public API (plus the CUDA runtime for
// buffers, streams and graphs).
#pragma once

#include <boost/test/unit_test.hpp>
#include <boost/test/framework.hpp>
#include <boost/test/tree/observer.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "splitmla/decode.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {
// Boost.Test prints statuses by name in failed assertions (its customization point; no
// operator<< is added to the library's namespace).
inline std::ostream& boost_test_print_type(std::ostream& os, Status s) { return os << status_name(s); }
}  // namespace splitmla

namespace gputest {

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::Status;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;

// ---------------------------------------------------------------------------------------------
// Skipping without a GPU: every GPU test case carries `*gputest::needs_gpu()`, so Boost reports
// it as skipped (never as passed), and the module prints one line for CTest to see.

inline bool have_gpu() {
  static const bool has = splitmla::device_count() > 0;
  return has;
}

inline boost::test_tools::assertion_result gpu_precondition(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(have_gpu());
  if (!have_gpu()) r.message() << "no CUDA device";
  return r;
}

inline boost::unit_test::decorator::precondition needs_gpu() {
  return boost::unit_test::precondition(gpu_precondition);
}

// Under compute-sanitizer (.ci/device.sh sets SPLITMLA_SANITIZE=1) kernels run far slower: the
// suites then shrink their largest cases and skip the extremes, saying so.
inline bool sanitizing() {
  const char* v = std::getenv("SPLITMLA_SANITIZE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

inline boost::test_tools::assertion_result not_sanitizing(boost::unit_test::test_unit_id id) {
  boost::test_tools::assertion_result r = gpu_precondition(id);
  if (!r) return r;
  boost::test_tools::assertion_result s(!sanitizing());
  if (sanitizing()) s.message() << "too large under compute-sanitizer (SPLITMLA_SANITIZE set)";
  return s;
}

// On a GPU machine a skip is a failure: with SPLITMLA_REQUIRE_GPU=1 (set by .ci/device.sh) a
// broken driver or an invisible device fails the suite instead of skipping it.
inline bool gpu_required() {
  const char* v = std::getenv("SPLITMLA_REQUIRE_GPU");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Counts failed assertions and uncaught exceptions of the whole run.
struct FailureCounter : boost::unit_test::test_observer {
  int failures = 0;
  void assertion_result(boost::unit_test::assertion_result ar) override {
    if (ar == boost::unit_test::AR_FAILED) ++failures;
  }
  void exception_caught(boost::execution_exception const&) override { ++failures; }
  void test_unit_aborted(boost::unit_test::test_unit const&) override { ++failures; }
};

// Global fixture: prints the skip line once per executable, refuses to skip when a GPU is
// required, and for a device-only suite (`device_only`) that ran without a GPU and saw no failure
// in its host-side code ends the process with exit code 77, which CTest reports as Skipped
// (SKIP_RETURN_CODE). Failures of host-side cases keep their failing exit code.
template <bool kDeviceOnly>
struct AnnounceSkipT {
  FailureCounter counter;
  AnnounceSkipT() {
    if (!have_gpu() && gpu_required()) {
      std::cerr << "no CUDA device, but SPLITMLA_REQUIRE_GPU is set: failing instead of skipping"
                << std::endl;
      std::_Exit(1);  // no exit handlers: a leak report cannot change the status
    }
    if (!have_gpu()) std::cout << "skipped: no CUDA device" << std::endl;
    boost::unit_test::framework::register_observer(counter);
  }
  ~AnnounceSkipT() {
    boost::unit_test::framework::deregister_observer(counter);
    if (kDeviceOnly && !have_gpu() && counter.failures == 0) {
      std::cout << "all cases need a GPU: exit 77 (skipped)" << std::endl;
      std::cout.flush();
      std::_Exit(77);
    }
  }
};
using AnnounceSkip = AnnounceSkipT<false>;       // suites with host-side cases too
using AnnounceSkipDevice = AnnounceSkipT<true>;  // suites whose every case needs a GPU

// ---------------------------------------------------------------------------------------------
// Status and CUDA checks.

#define GPUTEST_REQUIRE_OK(expr)                                                       \
  do {                                                                                 \
    const ::splitmla::Status gputest_s_ = (expr);                                      \
    BOOST_REQUIRE_MESSAGE(gputest_s_ == ::splitmla::Status::kSuccess,                  \
                          #expr << " -> " << ::splitmla::status_message(gputest_s_));  \
  } while (0)

#define GPUTEST_CUDA(expr)                                                                  \
  do {                                                                                      \
    const cudaError_t gputest_e_ = (expr);                                                  \
    BOOST_REQUIRE_MESSAGE(gputest_e_ == cudaSuccess,                                        \
                          #expr << " -> " << cudaGetErrorString(gputest_e_));               \
  } while (0)

// Owns one device allocation.
class DevBuf {
 public:
  DevBuf() = default;
  explicit DevBuf(size_t bytes) { alloc(bytes); }
  ~DevBuf() { release(); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }

  void alloc(size_t bytes) {
    release();
    n_ = bytes;
    if (bytes == 0) return;
    const cudaError_t e = cudaMalloc(&p_, bytes);
    BOOST_REQUIRE_MESSAGE(e == cudaSuccess, "cudaMalloc(" << bytes << ") -> " << cudaGetErrorString(e));
  }
  void release() {
    if (p_ != nullptr) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  void* get() const { return p_; }
  template <class T> T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return n_; }

  template <class T> void upload(const std::vector<T>& h) {
    BOOST_REQUIRE_EQUAL(h.size() * sizeof(T), n_);
    if (n_ != 0) GPUTEST_CUDA(cudaMemcpy(p_, h.data(), n_, cudaMemcpyHostToDevice));
  }
  template <class T> std::vector<T> download() const {
    std::vector<T> h(n_ / sizeof(T));
    if (n_ != 0) GPUTEST_CUDA(cudaMemcpy(h.data(), p_, n_, cudaMemcpyDeviceToHost));
    return h;
  }
  void fill_bytes(int value) {
    if (n_ != 0) GPUTEST_CUDA(cudaMemset(p_, value, n_));
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// Owns a non-blocking stream.
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { GPUTEST_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() { if (s != nullptr) cudaStreamDestroy(s); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

// ---------------------------------------------------------------------------------------------
// Random adversarial problems.

// splitmix64: fast, seeded, reproducible.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  float sym() { return static_cast<float>(2.0 * uniform() - 1.0); }  // [-1, 1)
  int32_t below(int32_t n) { return n <= 0 ? 0 : static_cast<int32_t>(next() % static_cast<uint64_t>(n)); }
  int32_t between(int32_t lo, int32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
};

inline constexpr uint16_t kPoisonHalf = 0xFFFF;  // NaN in both bf16 and fp16

inline int32_t pages_needed(int64_t len, int32_t page_size) {
  return len <= 0 ? 0 : static_cast<int32_t>((len + page_size - 1) / page_size);
}

struct GenSpec {
  DType dtype = DType::kBFloat16;
  int32_t num_heads = 16;
  int32_t page_size = 16;
  std::vector<int32_t> lens;
  uint64_t seed = 1;
  double softmax_scale = 0.0;   // 0: random in [0.05, 0.25]
  int32_t max_pages_per_seq = 0;  // 0: widest request + 2 poisoned entries
  int32_t num_pages = 0;          // 0: pages used + 3 unused (NaN) pages
  int32_t q_len = 1;              // query tokens per request
  bool causal = true;
};

// Out-of-range page ids that fill the table entries no visible position needs.
inline int32_t poison_page_id(int32_t num_pages, int64_t k) {
  switch (k % 5) {
    case 0: return num_pages;
    case 1: return -1;
    case 2: return INT_MAX;
    case 3: return INT_MIN;
    default: return num_pages + 12345;
  }
}

// Builds a problem. Each request's pages are drawn from a random permutation of the cache; every
// KV row no request can see is NaN, every table entry past a request's needed ones is an
// out-of-range id. Values: each request has a mean vector mu (so out is not near zero and a
// wrong normalization shows); rows are mu + 0.5 * noise; a few "hot" rows per request lean
// towards head 0's query so the softmax is peaked somewhere inside the sequence.
inline HostProblem make_problem(const GenSpec& g) {
  HostProblem p;
  p.dtype = g.dtype;
  p.batch = static_cast<int32_t>(g.lens.size());
  p.q_len = g.q_len;
  p.causal = g.causal;
  p.num_heads = g.num_heads;
  p.page_size = g.page_size;
  Rng rng(g.seed);
  p.softmax_scale = g.softmax_scale > 0.0 ? g.softmax_scale : 0.05 + 0.2 * rng.uniform();
  p.seq_lens = g.lens;

  int32_t widest = 0;
  int64_t used = 0;
  for (int32_t len : g.lens) {
    widest = std::max(widest, pages_needed(len, g.page_size));
    used += pages_needed(len, g.page_size);
  }
  p.max_pages_per_seq = g.max_pages_per_seq > 0 ? g.max_pages_per_seq : widest + 2;
  p.num_pages = g.num_pages > 0 ? g.num_pages : static_cast<int32_t>(used + 3);
  BOOST_REQUIRE_MESSAGE(widest <= p.max_pages_per_seq && used <= p.num_pages,
                        "generator: lengths do not fit max_pages_per_seq/num_pages");

  const DType d = g.dtype;
  auto bits = [d](float v) { return splitmla::float_to_half_bits(d, v); };
  const size_t H = static_cast<size_t>(g.num_heads);
  const size_t QH = static_cast<size_t>(g.q_len) * H;  // query rows per request

  p.q.resize(static_cast<size_t>(p.batch) * QH * kHeadDimQK);
  for (auto& x : p.q) x = bits(rng.sym());

  // Shuffled page ids.
  std::vector<int32_t> perm(static_cast<size_t>(p.num_pages));
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[static_cast<size_t>(rng.below(static_cast<int32_t>(i)))]);

  p.kv_cache.assign(static_cast<size_t>(p.num_pages) * g.page_size * kHeadDimQK, kPoisonHalf);
  p.block_table.resize(static_cast<size_t>(p.batch) * p.max_pages_per_seq);
  size_t next_page = 0;
  std::vector<float> mu(kHeadDimQK), q0(kHeadDimQK);
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t len = std::max(0, g.lens[static_cast<size_t>(b)]);
    const int32_t need = pages_needed(len, g.page_size);
    int32_t* row = &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq];
    for (int32_t j = 0; j < p.max_pages_per_seq; ++j)
      row[j] = j < need ? perm[next_page + static_cast<size_t>(j)]
                        : poison_page_id(p.num_pages, static_cast<int64_t>(b) * 7 + j);
    next_page += static_cast<size_t>(need);
    for (int c = 0; c < kHeadDimQK; ++c) {
      mu[static_cast<size_t>(c)] = 0.8f * rng.sym();
      q0[static_cast<size_t>(c)] = splitmla::half_bits_to_float(d, p.q[static_cast<size_t>(b) * QH * kHeadDimQK + c]);
    }
    const int32_t hot_a = rng.below(len), hot_b = rng.below(len);
    for (int32_t pos = 0; pos < len; ++pos) {
      const size_t page = static_cast<size_t>(row[pos / g.page_size]);
      uint16_t* kv = &p.kv_cache[(page * g.page_size + static_cast<size_t>(pos % g.page_size)) * kHeadDimQK];
      const float lean = (pos == hot_a || pos == hot_b) ? 0.3f : 0.0f;
      for (int c = 0; c < kHeadDimQK; ++c)
        kv[c] = bits(mu[static_cast<size_t>(c)] + 0.5f * rng.sym() + lean * q0[static_cast<size_t>(c)]);
    }
  }
  return p;
}

// Contract-style lengths around page boundaries for one page size: 0, 1, and k*page +-1.
inline std::vector<int32_t> boundary_lengths(int32_t page_size) {
  std::vector<int32_t> v{0, 1};
  for (int32_t k = 1; k <= 3; ++k)
    for (int32_t dlt = -1; dlt <= 1; ++dlt) v.push_back(k * page_size + dlt);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  v.erase(std::remove_if(v.begin(), v.end(), [](int32_t x) { return x < 0; }), v.end());
  return v;
}

// ---------------------------------------------------------------------------------------------
// Device copies with optional padding between rows (non-dense strides). Pads are multiples of 8
// elements so every row stays 16-byte aligned.

struct Layout {
  int64_t q_pad_head = 0, q_pad_batch = 0;
  int64_t kv_pad_page = 0;
  int64_t bt_pad = 0;
  int64_t out_pad_head = 0, out_pad_batch = 0;
  int64_t lse_stride_head = 1, lse_pad_batch = 0;

  int64_t q_pad_token = 0, out_pad_token = 0, lse_pad_token = 0;  // between tokens (q_len > 1)

  static Layout dense() { return {}; }
  static Layout padded() {
    Layout l;
    l.q_pad_head = 64;
    l.q_pad_batch = 136;
    l.kv_pad_page = 72;
    l.bt_pad = 5;
    l.out_pad_head = 8;
    l.out_pad_batch = 520;
    l.lse_stride_head = 2;
    l.lse_pad_batch = 3;
    l.q_pad_token = 24;
    l.out_pad_token = 16;
    l.lse_pad_token = 5;
    return l;
  }
};

// The problem on the device, with q, kv and block table laid out by `layout`; out and lse are
// allocated (lse may be left off). Padding holds NaN (inputs), out-of-range ids (table), and the
// output poison, so reading or writing a pad shows.
struct DeviceProblem {
  HostProblem host;
  Layout layout;
  splitmla::DecodeArgs args{};
  DevBuf q, kv, bt, lens, out, lse;
  bool with_lse = true;

  int64_t q_elems() const { return host.batch == 0 ? 0 : args.q_stride_batch * host.batch; }
  int64_t out_elems() const { return host.batch == 0 ? 0 : args.out_stride_batch * host.batch; }
  int64_t lse_elems() const { return host.batch == 0 ? 0 : args.lse_stride_batch * host.batch; }

  // First call allocates; later calls need the same extents and copy into the same pointers
  // (what a graph replay sees).
  void upload(const HostProblem& p, const Layout& l = Layout::dense(), bool lse_on = true) {
    const bool first = q.get() == nullptr;
    if (!first) {
      BOOST_REQUIRE(p.batch == host.batch && p.num_heads == host.num_heads &&
                    p.page_size == host.page_size && p.num_pages == host.num_pages &&
                    p.max_pages_per_seq == host.max_pages_per_seq && p.dtype == host.dtype &&
                    p.q_len == host.q_len);
    }
    host = p;
    layout = l;
    with_lse = lse_on;
    const int64_t H = p.num_heads, T = p.q_len;
    splitmla::DecodeArgs a{};
    a.batch = p.batch;
    a.num_pages = p.num_pages;
    a.max_pages_per_seq = p.max_pages_per_seq;
    a.softmax_scale = static_cast<float>(p.softmax_scale);
    a.q_stride_head = kHeadDimQK + l.q_pad_head;
    a.q_stride_token = H * a.q_stride_head + (T > 1 ? l.q_pad_token : 0);
    a.q_stride_batch = T * a.q_stride_token + l.q_pad_batch;
    a.kv_stride_page = static_cast<int64_t>(p.page_size) * kHeadDimQK + l.kv_pad_page;
    a.block_table_stride = p.max_pages_per_seq + l.bt_pad;
    a.out_stride_head = kHeadDimV + l.out_pad_head;
    a.out_stride_token = H * a.out_stride_head + (T > 1 ? l.out_pad_token : 0);
    a.out_stride_batch = T * a.out_stride_token + l.out_pad_batch;
    a.lse_stride_head = l.lse_stride_head;
    a.lse_stride_token = H * l.lse_stride_head + (T > 1 ? l.lse_pad_token : 0);
    a.lse_stride_batch = T * a.lse_stride_token + l.lse_pad_batch;
    args = a;

    std::vector<uint16_t> hq(static_cast<size_t>(q_elems()), kPoisonHalf);
    for (int32_t b = 0; b < p.batch; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h)
          std::memcpy(&hq[static_cast<size_t>(b * a.q_stride_batch + t * a.q_stride_token + h * a.q_stride_head)],
                      &p.q[((static_cast<size_t>(b) * T + t) * H + h) * kHeadDimQK],
                      kHeadDimQK * sizeof(uint16_t));
    std::vector<uint16_t> hkv(static_cast<size_t>(a.kv_stride_page * p.num_pages), kPoisonHalf);
    const size_t page_elems = static_cast<size_t>(p.page_size) * kHeadDimQK;
    for (int32_t pg = 0; pg < p.num_pages; ++pg)
      std::memcpy(&hkv[static_cast<size_t>(pg * a.kv_stride_page)], &p.kv_cache[pg * page_elems],
                  page_elems * sizeof(uint16_t));
    std::vector<int32_t> hbt(static_cast<size_t>(a.block_table_stride * p.batch), INT_MIN);
    for (int32_t b = 0; b < p.batch; ++b)
      std::memcpy(&hbt[static_cast<size_t>(b * a.block_table_stride)],
                  &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq],
                  static_cast<size_t>(p.max_pages_per_seq) * sizeof(int32_t));

    if (first) {
      q.alloc(hq.size() * sizeof(uint16_t));
      kv.alloc(hkv.size() * sizeof(uint16_t));
      bt.alloc(hbt.size() * sizeof(int32_t));
      lens.alloc(p.seq_lens.size() * sizeof(int32_t));
      out.alloc(static_cast<size_t>(out_elems()) * sizeof(uint16_t));
      lse.alloc(static_cast<size_t>(lse_elems()) * sizeof(float));
    }
    q.upload(hq);
    kv.upload(hkv);
    bt.upload(hbt);
    lens.upload(p.seq_lens);
    args.q = q.get();
    args.kv_cache = kv.get();
    args.block_table = bt.as<int32_t>();
    args.seq_lens = lens.as<int32_t>();
    args.out = out.get();
    args.lse = with_lse ? lse.as<float>() : nullptr;
  }

  // Only the seq_lens and block table contents (same pointers).
  void upload_lens_and_table(const std::vector<int32_t>& seq_lens, const std::vector<int32_t>& table) {
    host.seq_lens = seq_lens;
    host.block_table = table;
    std::vector<int32_t> hbt(static_cast<size_t>(args.block_table_stride * host.batch), INT_MIN);
    for (int32_t b = 0; b < host.batch; ++b)
      std::memcpy(&hbt[static_cast<size_t>(b * args.block_table_stride)],
                  &table[static_cast<size_t>(b) * host.max_pages_per_seq],
                  static_cast<size_t>(host.max_pages_per_seq) * sizeof(int32_t));
    bt.upload(hbt);
    lens.upload(seq_lens);
  }

  // Fills out and lse (the whole buffers, pads included) with 0xFF bytes: NaN everywhere.
  void poison_outputs() {
    out.fill_bytes(0xFF);
    lse.fill_bytes(0xFF);
  }
};

// What one run produced: the raw output bits and lse in the logical dense layout, plus whether
// every pad element kept its poison.
struct RunResult {
  std::vector<uint16_t> out_bits;  // [batch, q_len, heads, 512]
  std::vector<float> lse;          // [batch, q_len, heads]; empty when the run had no lse pointer
  int64_t pads_touched = 0;
  HostOutputs as_outputs(DType d) const {
    HostOutputs o;
    o.out.resize(out_bits.size());
    for (size_t i = 0; i < out_bits.size(); ++i) o.out[i] = splitmla::half_bits_to_float(d, out_bits[i]);
    o.lse = lse;
    return o;
  }
};

inline bool same_bits(const RunResult& a, const RunResult& b) {
  return a.out_bits.size() == b.out_bits.size() && a.lse.size() == b.lse.size() &&
         std::memcmp(a.out_bits.data(), b.out_bits.data(), a.out_bits.size() * sizeof(uint16_t)) == 0 &&
         std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * sizeof(float)) == 0;
}

// Reads the outputs back (after the caller synchronized or through the blocking copy).
inline RunResult read_back(DeviceProblem& dp) {
  RunResult r;
  const auto& a = dp.args;
  const int64_t H = dp.host.num_heads, T = dp.host.q_len;
  const std::vector<uint16_t> hout = dp.out.download<uint16_t>();
  std::vector<char> used(hout.size(), 0);
  r.out_bits.resize(static_cast<size_t>(dp.host.batch * T * H * kHeadDimV));
  for (int32_t b = 0; b < dp.host.batch; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const size_t src = static_cast<size_t>(b * a.out_stride_batch + t * a.out_stride_token +
                                               h * a.out_stride_head);
        std::memcpy(&r.out_bits[((static_cast<size_t>(b) * T + t) * H + h) * kHeadDimV], &hout[src],
                    kHeadDimV * sizeof(uint16_t));
        std::fill(used.begin() + static_cast<std::ptrdiff_t>(src),
                  used.begin() + static_cast<std::ptrdiff_t>(src + kHeadDimV), 1);
      }
  for (size_t i = 0; i < hout.size(); ++i)
    if (!used[i] && hout[i] != kPoisonHalf) ++r.pads_touched;

  const std::vector<uint32_t> hlse = dp.lse.download<uint32_t>();
  std::vector<char> lused(hlse.size(), 0);
  if (dp.with_lse) {
    r.lse.resize(static_cast<size_t>(dp.host.batch * T * H));
    for (int32_t b = 0; b < dp.host.batch; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) {
          const size_t src = static_cast<size_t>(b * a.lse_stride_batch + t * a.lse_stride_token +
                                                 h * a.lse_stride_head);
          std::memcpy(&r.lse[static_cast<size_t>((b * T + t) * H + h)], &hlse[src], sizeof(float));
          lused[src] = 1;
        }
  }
  for (size_t i = 0; i < hlse.size(); ++i)
    if (!lused[i] && hlse[i] != 0xFFFFFFFFu) ++r.pads_touched;
  return r;
}

// Makes a plan for the device problem's extents (q_len and causal included) with `policy`
// (max_batch defaults to its batch; rows_per_cta 0 lets the plan choose).
inline splitmla::Plan plan_for(const HostProblem& p, splitmla::SplitPolicy policy, int32_t max_batch = 0,
                               splitmla::Part1Variant part1 = splitmla::Part1Variant::kAuto,
                               int32_t rows_per_cta = 0) {
  splitmla::DecodeConfig c;
  c.dtype = p.dtype;
  c.num_heads = p.num_heads;
  c.q_len = p.q_len;
  c.causal = p.causal;
  c.rows_per_cta = rows_per_cta;
  c.page_size = p.page_size;
  c.max_batch = max_batch > 0 ? max_batch : p.batch;
  c.max_pages_per_seq = p.max_pages_per_seq;
  c.policy = policy;
  c.device = -1;
  c.part1 = part1;
  splitmla::Plan plan;
  GPUTEST_REQUIRE_OK(splitmla::make_plan(c, &plan));
  return plan;
}

// The part1 variants this build and device can run, forced by name: the mma.sync baseline
// always, the wgmma kernel where the library has sm_90a code and the device is an sm_90.
inline std::vector<splitmla::Part1Variant> runnable_variants() {
  std::vector<splitmla::Part1Variant> v{splitmla::Part1Variant::kMmaSync};
  splitmla::DecodeConfig c;
  c.num_heads = 64;
  c.page_size = 64;
  c.max_batch = 1;
  c.max_pages_per_seq = 1;
  c.part1 = splitmla::Part1Variant::kWgmma;
  splitmla::Plan plan;
  if (splitmla::make_plan(c, &plan) == Status::kSuccess) v.push_back(splitmla::Part1Variant::kWgmma);
  return v;
}

// Poisons the outputs, runs decode through the pool on `stream`, synchronizes, reads back.
inline RunResult run_decode(const splitmla::Plan& plan, splitmla::ScratchPool& pool,
                            DeviceProblem& dp, cudaStream_t stream) {
  GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
  dp.poison_outputs();
  GPUTEST_REQUIRE_OK(splitmla::decode(plan, dp.args, pool, stream));
  GPUTEST_CUDA(cudaStreamSynchronize(stream));
  GPUTEST_CUDA(cudaGetLastError());
  return read_back(dp);
}

inline const char* policy_text(splitmla::SplitPolicy p, std::string* buf) {
  switch (p.kind) {
    case splitmla::SplitPolicyKind::kAuto: *buf = "auto"; break;
    case splitmla::SplitPolicyKind::kForced: *buf = "forced(" + std::to_string(p.value) + ")"; break;
    case splitmla::SplitPolicyKind::kChunk: *buf = "chunk(" + std::to_string(p.value) + ")"; break;
  }
  return buf->c_str();
}

inline std::string describe(const HostProblem& p) {
  std::string s = std::string(splitmla::dtype_name(p.dtype)) + " q_len=" + std::to_string(p.q_len) +
                  (p.causal ? " causal" : " non-causal") + " heads=" + std::to_string(p.num_heads) +
                  " page=" + std::to_string(p.page_size) + " batch=" + std::to_string(p.batch) + " lens=[";
  for (size_t i = 0; i < p.seq_lens.size() && i < 24; ++i) s += (i ? "," : "") + std::to_string(p.seq_lens[i]);
  if (p.seq_lens.size() > 24) s += ",...";
  return s + "]";
}

// Checks a run against the reference with the contract's tolerances. A run without lse is
// compared on out only (its lse slot takes the reference's, so only out can differ).
inline void check_matches(const HostProblem& p, const RunResult& r, const HostOutputs& ref,
                          const std::string& label) {
  HostOutputs got = r.as_outputs(p.dtype);
  if (got.lse.empty()) got.lse = ref.lse;
  const splitmla::CompareReport rep =
      splitmla::compare_outputs(p, got, ref, splitmla::Tolerance::for_dtype(p.dtype));
  BOOST_CHECK_MESSAGE(rep.ok, label << ": " << rep.text);
  BOOST_CHECK_MESSAGE(r.pads_touched == 0, label << ": " << r.pads_touched
                                                 << " padding elements of out/lse were written");
}

inline HostOutputs reference_of(const HostProblem& p) {
  HostOutputs ref;
  GPUTEST_REQUIRE_OK(splitmla::reference_decode(p, &ref));
  return ref;
}

}  // namespace gputest
