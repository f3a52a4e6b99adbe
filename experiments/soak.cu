// splitmla_soak: does decode lose anything under sustained, varied load? Four phases, each a
// count of calls, mismatches (outputs that differ from what they must be) and failures (a status
// other than kSuccess, error flags on valid inputs, a case that could not run):
//
//   differential  >= 10,000 decode calls with random shapes (batch 1..64, sometimes to 512; heads
//                 1..128; every page size 1..128; lengths 0..65536, mostly short; bf16 and fp16;
//                 auto, forced 1..64 and chunk 16..4096 policies; lse on or off; padded strides
//                 now and then). KV rows past each length are NaN, table entries past each needed
//                 one are out-of-range ids, outputs start as NaN bits inside guard bands. Every
//                 call: (a) every output element written and nothing outside them, (b) >= 2
//                 random (request, head) rows, an empty request whenever there is one, against
//                 the float64 reference on worker threads, (c) no error flags. On the first
//                 call a planted unwritten element, stray write and wrong value must be caught.
//   streams       two streams, two pools, two problem sets decoding concurrently from two host
//                 threads for --stream-seconds; every --check-every'th output bitwise equal to
//                 the one computed serially beforehand.
//   graph         plan+run captured once per configuration in a CUDA graph, replayed while
//                 seq_lens and block-table contents change (uploads on the same stream); each
//                 replay bitwise equal to an eager decode of the same inputs, every 50th also
//                 against the reference.
//   bigoffsets    forced 64 splits x 640 requests x 128 heads (partial slots past 2^31 floats),
//                 and 65536 requests x 128 heads (outputs past 2^31 elements): last requests
//                 checked against the reference.
//
//   build-soak/experiments/splitmla_soak [--phases differential,streams,graph,bigoffsets]
//       [--calls 10000] [--stream-seconds 60] [--replays 1000] [--check-every 8] [--seed 1]
//       [--threads N] [--pool-tokens 2097152] [--max-call-tokens 1048576] [--ws-budget-gib 4]
//       [--max-ctas 65536]
//       [--out data/results/soak-<gpu>-<yyyy-mm-dd>.csv]
//
// Writes one CSV row per phase (phase, calls, mismatches, failures, seconds, notes, gpu, cuda,
// commit) and a log beside it (.log) with every mismatch and failure. Exit 0 only when every
// count is 0; "skipped: no CUDA device" and exit 77 where there is none; 2 on a usage error.
// Command line as every SplitMLA executable (lib/tools/cli.hpp): --help, --version, --opt=value.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "tools/cli.hpp"

namespace {

using namespace splitmla;
using namespace splitmla::experiments;

constexpr uint16_t kPoison16 = 0xFFFF;          // NaN in bf16 and fp16
constexpr int kRowWords = kHeadDimQK * 2 / 16;  // 16-byte words in one KV row
constexpr int64_t kGuardBefore = 4096;          // poisoned elements before each output tensor
constexpr int64_t kGuardAfter = 65536;          // and after it
constexpr int kMaxRows = 8;                     // reference rows per call, at most

// ---- options --------------------------------------------------------------------------------

struct Options {
  bool differential = true, streams = true, graph = true, bigoffsets = true;
  int calls = 10000;
  double stream_seconds = 60.0;
  int replays = 1000;
  int check_every = 8;
  uint64_t seed = 1;
  int threads = 0;
  int64_t pool_tokens = int64_t(1) << 21;
  int64_t max_call_tokens = int64_t(1) << 20;
  double ws_budget_gib = 4.0;
  int64_t max_ctas = 65536;
  std::string out;
};

// Parses the command line; exits with cli's code after --help, --version or a usage error.
Options parse(int argc, char** argv) {
  Options o;
  cli::Parser cli("splitmla_soak",
                  "splitmla_soak [--phases differential,streams,graph,bigoffsets] [--calls N] "
                  "[--stream-seconds S] [--replays N] [--check-every K] [--seed N] [--threads N] "
                  "[--pool-tokens N] [--max-call-tokens N] [--ws-budget-gib G] [--max-ctas N] "
                  "[--out FILE.csv]",
                  "Decodes under sustained, varied load and counts mismatches and failures.");
  cli.option("--phases", "LIST", "comma-separated phases, or all (default: all)",
             [&](const std::string& v) {
               o.differential = o.streams = o.graph = o.bigoffsets = false;
               const std::string list = v + ",";
               for (size_t at = 0, comma; (comma = list.find(',', at)) != std::string::npos;
                    at = comma + 1) {
                 const std::string p = list.substr(at, comma - at);
                 if (p == "differential") o.differential = true;
                 else if (p == "streams") o.streams = true;
                 else if (p == "graph") o.graph = true;
                 else if (p == "bigoffsets") o.bigoffsets = true;
                 else if (p == "all") o.differential = o.streams = o.graph = o.bigoffsets = true;
                 else if (!p.empty()) return "unknown phase '" + p + "'";
               }
               return std::string();
             })
      .int_option("--calls", "decode calls of the differential phase", 1, 100000000, &o.calls)
      .number_option("--stream-seconds", "length of the streams phase", 0.1, 86400,
                     &o.stream_seconds)
      .int_option("--replays", "graph replays of the graph phase", 3, 100000000, &o.replays)
      .int_option("--check-every", "compare every K-th output in the streams phase", 1, 1000000,
                  &o.check_every)
      .int_option("--seed", "seed of every random draw", 0, 1000000000000000LL, &o.seed)
      .int_option("--threads", "reference worker threads (default: cores - 1)", 1, 1024, &o.threads)
      .int_option("--pool-tokens", "KV tokens in the shared pool", 65536 + 128, 1000000000,
                  &o.pool_tokens)
      .int_option("--max-call-tokens", "most tokens in one call", 65536, 1000000000,
                  &o.max_call_tokens)
      .number_option("--ws-budget-gib", "workspace budget of one call", 0.25, 1024,
                     &o.ws_budget_gib)
      .int_option("--max-ctas", "most part1 CTAs of one call", 1024, 1000000000, &o.max_ctas)
      .option("--out", "FILE.csv", "results file (default: data/results/soak-<gpu>-<date>.csv)",
              &o.out);
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) std::exit(rc);
  return o;
}

// ---- random draws ---------------------------------------------------------------------------

// Counter-based draws on common's fixed mixing function: the same seed gives the same stream.
class Rng {
 public:
  explicit Rng(uint64_t seed) : key_(hash64(seed ^ 0x736f616b5f726e67ull)) {}
  uint64_t next() { return hash64(key_ + 0x9e3779b97f4a7c15ull * ++count_); }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  bool chance(double p) { return uniform() < p; }
  int64_t below(int64_t n) { return n <= 0 ? 0 : int64_t(next() % uint64_t(n)); }
  int32_t between(int32_t lo, int32_t hi) { return lo + int32_t(below(int64_t(hi) - lo + 1)); }
  // Log-uniform integer in [lo, hi], lo >= 1.
  int32_t log_uniform(int32_t lo, int32_t hi) {
    const double x = std::exp(std::log(double(lo)) + uniform() * std::log(double(hi + 1) / lo));
    return std::clamp(int32_t(x), lo, hi);
  }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[size_t(below(int64_t(v.size())))];
  }

 private:
  uint64_t key_, count_ = 0;
};

// ---- log, per-phase counts ------------------------------------------------------------------

class Log {
 public:
  void open(const std::string& path) {
    path_ = path;
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) die("cannot open %s for writing", path.c_str());
  }
  ~Log() {
    if (f_) std::fclose(f_);
  }
  void line(const std::string& text, bool echo) {
    std::lock_guard<std::mutex> lock(mu_);
    if (f_) {
      std::fprintf(f_, "%s\n", text.c_str());
      std::fflush(f_);
    }
    if (echo) std::fprintf(stderr, "%s\n", text.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::mutex mu_;
  std::FILE* f_ = nullptr;
  std::string path_;
};
Log g_log;

struct PhaseStats {
  std::string phase;
  std::atomic<int64_t> calls{0}, mismatches{0}, failures{0}, rows{0};
  std::atomic<int64_t> reported{0};
  double seconds = 0.0;
  std::string notes;

  bool quiet = false;  // the harness self-check's planted faults are counted, not logged

  explicit PhaseStats(std::string name) : phase(std::move(name)) {}
  void report(const char* kind, const std::string& what) {
    if (quiet) return;
    const int64_t k = reported++;
    if (k < 2000) g_log.line(std::string(kind) + " [" + phase + "] " + what, k < 20);
  }
  void mismatch(const std::string& what) {
    ++mismatches;
    report("MISMATCH", what);
  }
  void failure(const std::string& what) {
    ++failures;
    report("FAILURE", what);
  }
};

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[1024];
  std::va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// ---- buffers --------------------------------------------------------------------------------

template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(size_t n, const char* what) : n_(n) {
    check_cuda(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)), what);
  }
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

template <class T>
class PinnedArray {
 public:
  PinnedArray() = default;
  PinnedArray(size_t n, const char* what) : n_(n) {
    check_cuda(cudaMallocHost(&p_, std::max<size_t>(n, 1) * sizeof(T)), what);
  }
  ~PinnedArray() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedArray(PinnedArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  PinnedArray& operator=(PinnedArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  T* get() const { return p_; }
  T& operator[](size_t i) const { return p_[i]; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// ---- device kernels -------------------------------------------------------------------------

// Rows first_row .. page_size-1 of each listed page: NaN (clean == nullptr) or copied back from
// the clean copy of the pool. tails[e] = {page id, first row}.
__global__ void tail_rows(uint4* kv, const uint4* clean, const int2* tails, int count,
                          int page_size) {
  for (int e = blockIdx.x; e < count; e += gridDim.x) {
    const int2 t = tails[e];
    const int64_t first = (int64_t(t.x) * page_size + t.y) * kRowWords;
    const int64_t last = (int64_t(t.x) + 1) * page_size * kRowWords;
    for (int64_t w = first + threadIdx.x; w < last; w += blockDim.x)
      kv[w] = clean ? clean[w] : make_uint4(~0u, ~0u, ~0u, ~0u);
  }
}

// Where one output tensor lives in its poisoned buffer, in elements from the buffer's start.
struct Region {
  int64_t begin = 0;  // element (0, 0, 0) of the tensor; [0, begin) is the guard before it
  int64_t end = 0;    // end of the scanned range (the guard after the tensor included)
  int64_t stride_batch = 0, stride_head = 0, width = 0;
  int32_t batch = 0, heads = 0;  // batch 0: the tensor is absent, every element must stay poison
};

// Counts elements of the tensor that are not finite (bf16/fp16 out: NaN or inf; float lse: NaN
// or +inf; -inf is an empty row's lse) and elements outside it that lost their poison bits.
// kind: 0 bf16, 1 fp16, 2 float32. counts[0] += bad inside, counts[1] += changed outside.
template <class T>
__global__ void count_unwritten(const T* buf, Region r, int kind, unsigned long long* counts) {
  unsigned long long bad = 0, stray = 0;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < r.end; i += step) {
    const uint32_t x = uint32_t(buf[i]);
    bool inside = false;
    const int64_t j = i - r.begin;
    if (j >= 0 && r.batch > 0) {
      const int64_t b = j / r.stride_batch, rem = j - b * r.stride_batch;
      const int64_t h = rem / r.stride_head, d = rem - h * r.stride_head;
      inside = b < r.batch && h < r.heads && d < r.width;
    }
    if (inside) {
      if (kind == 0)
        bad += (x & 0x7FFFu) >= 0x7F80u;
      else if (kind == 1)
        bad += (x & 0x7FFFu) >= 0x7C00u;
      else
        bad += (x & 0x7FFFFFFFu) > 0x7F800000u || x == 0x7F800000u;
    } else {
      stray += x != (sizeof(T) == 2 ? 0xFFFFu : 0xFFFFFFFFu);
    }
  }
  if (bad) atomicAdd(counts, bad);
  if (stray) atomicAdd(counts + 1, stray);
}

int grid_for(int64_t n, int threads, int sms) {
  return int(
      std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, int64_t(sms) * 8)));
}

// ---- reference checks on worker threads -----------------------------------------------------

// A bounded queue of jobs run by a fixed set of threads, so that the float64 reference stays
// off the path of the GPU calls.
class Verifier {
 public:
  explicit Verifier(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Verifier() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    ready_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void submit(std::function<void()> job) {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return jobs_.size() < limit(); });
    jobs_.push_back(std::move(job));
    ready_.notify_one();
  }
  void drain() {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return jobs_.empty() && busy_ == 0; });
  }
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
  }

 private:
  size_t limit() const { return workers_.size() * 4 + 8; }
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        ++busy_;
      }
      room_.notify_all();
      job();
      {
        std::lock_guard<std::mutex> lock(mu_);
        --busy_;
      }
      room_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  int busy_ = 0;
  bool stop_ = false;
};

// One (request, head) row of a call, with what the reference needs to recompute it.
struct RowJob {
  const std::vector<uint16_t>* kv_host = nullptr;  // the dtype's KV pool, rows of 576
  DType dtype = DType::kBFloat16;
  int32_t page = 1;
  float scale = 0.f;
  int32_t n = 0;
  std::vector<int32_t> pages;  // the request's needed block-table entries, in order
  std::vector<uint16_t> q;     // [576] raw bits
  std::vector<uint16_t> out;   // [512] the device's bits
  float lse = 0.f;
  bool has_lse = false;
  std::string where;
};

// Recomputes the row as a one-request, one-head problem in float64 and compares with the
// contract's tolerances; an empty request must give exactly 0 and -inf.
void check_row(const RowJob& j, PhaseStats& st) {
  HostProblem p;
  p.dtype = j.dtype;
  p.batch = 1;
  p.q_len = 1;
  p.num_heads = 1;
  p.page_size = j.page;
  const int32_t used = int32_t(j.pages.size());
  const int32_t slots = std::max(1, used);
  p.num_pages = slots;
  p.max_pages_per_seq = slots;
  p.softmax_scale = double(j.scale);
  p.block_table.resize(size_t(slots));
  std::iota(p.block_table.begin(), p.block_table.end(), 0);
  p.seq_lens = {j.n};
  p.q = j.q;
  const size_t page_elems = size_t(j.page) * kHeadDimQK;
  p.kv_cache.assign(size_t(slots) * page_elems, kPoison16);
  for (int32_t i = 0; i < used; ++i)
    std::memcpy(&p.kv_cache[size_t(i) * page_elems],
                j.kv_host->data() + size_t(j.pages[i]) * page_elems, page_elems * sizeof(uint16_t));
  HostOutputs ref;
  const Status s = reference_decode(p, &ref);
  if (s != Status::kSuccess) {
    st.failure(j.where + ": reference_decode: " + status_message(s));
    return;
  }
  HostOutputs got;
  got.out.resize(kHeadDimV);
  for (int d = 0; d < kHeadDimV; ++d) got.out[d] = half_bits_to_float(j.dtype, j.out[d]);
  got.lse = j.has_lse ? std::vector<float>{j.lse} : ref.lse;
  const CompareReport rep = compare_outputs(p, got, ref, Tolerance::for_dtype(j.dtype));
  ++st.rows;
  if (!rep.ok) {
    st.mismatch(j.where + ": " + rep.text);
    return;
  }
  if (j.n == 0) {
    bool zero = true;
    for (float v : got.out) zero = zero && v == 0.0f;
    const bool neg_inf = !j.has_lse || (std::isinf(j.lse) && j.lse < 0);
    if (!zero || !neg_inf)
      st.mismatch(j.where +
                  strf(": empty request must give out = 0 and lse = -inf (lse %g)", j.lse));
  }
}

// ---- the shared random pools ----------------------------------------------------------------

// Random 16-bit values of one dtype, held on the host (for the reference) and on the device.
// KV pools add a fixed per-column offset, so outputs sit away from zero and a wrong
// normalization shows; a clean device copy restores the rows a call poisoned.
struct ValuePool {
  DType dtype = DType::kBFloat16;
  size_t elems = 0;
  std::vector<uint16_t> host;
  DeviceArray<uint16_t> dev, clean;
};

void fill_pool(ValuePool* pool, DType d, size_t elems, uint64_t seed, bool kv_bias, int threads,
               bool keep_clean) {
  pool->dtype = d;
  pool->elems = elems;
  pool->host.resize(elems);
  std::vector<float> bias(kHeadDimQK, 0.f);
  if (kv_bias)
    for (int c = 0; c < kHeadDimQK; ++c)
      bias[c] = float(int64_t(hash64(seed * 977 + c) >> 40) - (int64_t(1) << 23)) / float(1 << 23);
  const uint64_t key = hash64(seed);
  std::vector<std::thread> ts;
  const size_t per = (elems + threads - 1) / threads;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      const size_t lo = std::min(elems, per * t), hi = std::min(elems, lo + per);
      for (size_t i = lo; i < hi; ++i) {
        const float u = float(int64_t(hash64(key + i) >> 40) - (int64_t(1) << 23)) / float(1 << 23);
        const float v = kv_bias ? 0.5f * bias[i % kHeadDimQK] + 0.5f * u : u;
        pool->host[i] = float_to_half_bits(d, v);
      }
    });
  for (auto& t : ts) t.join();
  pool->dev = DeviceArray<uint16_t>(elems, "cudaMalloc(value pool)");
  check_cuda(cudaMemcpy(pool->dev.get(), pool->host.data(), elems * 2, cudaMemcpyHostToDevice),
             "upload value pool");
  if (keep_clean) {
    pool->clean = DeviceArray<uint16_t>(elems, "cudaMalloc(clean value pool)");
    check_cuda(cudaMemcpy(pool->clean.get(), pool->dev.get(), elems * 2, cudaMemcpyDeviceToDevice),
               "copy clean value pool");
  }
}

// One output tensor's buffer with guard bands, poisoned before each call.
struct OutBuffers {
  DeviceArray<uint16_t> out;
  DeviceArray<float> lse;
  OutBuffers(size_t out_elems, size_t lse_elems)
      : out(out_elems + kGuardBefore + kGuardAfter, "cudaMalloc(out)"),
        lse(lse_elems + kGuardBefore + kGuardAfter, "cudaMalloc(lse)") {}
};

// ---- one call's inputs ----------------------------------------------------------------------

struct Call {
  DType dtype = DType::kBFloat16;
  int32_t heads = 1, page = 1, batch = 1, width = 1;  // width: args.max_pages_per_seq
  int64_t bt_stride = 1;
  int64_t q_sh = kHeadDimQK, q_sb = 0, o_sh = kHeadDimV, o_sb = 0, l_sh = 1, l_sb = 0;
  int64_t q_off = 0;
  bool with_lse = true;
  float scale = 0.1f;
  std::vector<int32_t> lens;
  DecodeConfig config{};
  std::string label;

  void dense() {
    q_sh = kHeadDimQK;
    q_sb = int64_t(heads) * q_sh;
    o_sh = kHeadDimV;
    o_sb = int64_t(heads) * o_sh;
    l_sh = 1;
    l_sb = heads;
    bt_stride = width;
  }
  int64_t q_extent() const { return (batch - 1) * q_sb + (heads - 1) * q_sh + kHeadDimQK; }
  int64_t out_extent() const { return (batch - 1) * o_sb + (heads - 1) * o_sh + kHeadDimV; }
  int64_t lse_extent() const { return (batch - 1) * l_sb + (heads - 1) * l_sh + 1; }
};

int32_t pages_of(int64_t n, int32_t page) { return int32_t((n + page - 1) / page); }

// Out-of-range page ids for the entries no visible position needs.
int32_t bad_page_id(Rng& rng, int32_t num_pages) {
  switch (rng.below(6)) {
    case 0:
      return num_pages;
    case 1:
      return -1;
    case 2:
      return INT_MAX;
    case 3:
      return INT_MIN;
    case 4:
      return num_pages + 1 + int32_t(rng.below(100000));
    default:
      return -2 - int32_t(rng.below(100000));
  }
}

// Everything the calls share: the stream, the pools, the staging buffers, the verifier.
struct Ctx {
  Options opt;
  GpuInfo gpu;
  cudaStream_t stream = nullptr;
  ValuePool kv[2], q[2];  // indexed by DType
  int64_t pool_rows = 0;
  std::map<int32_t, std::vector<int32_t>> perms;  // per page size: a permutation of its page ids
  size_t table_cap = 0, lens_cap = 0;
  DeviceArray<int32_t> d_lens, d_table;
  DeviceArray<int2> d_tails;
  DeviceArray<unsigned long long> d_counts;
  PinnedArray<int32_t> h_lens, h_table;
  PinnedArray<int2> h_tails;
  PinnedArray<unsigned long long> h_counts;
  PinnedArray<uint16_t> h_rows;
  PinnedArray<float> h_row_lse;
  std::unique_ptr<Verifier> verifier;

  int32_t num_pages(int32_t page) const { return int32_t(pool_rows / page); }
  const ValuePool& kv_of(DType d) const { return kv[int(d)]; }
  const ValuePool& q_of(DType d) const { return q[int(d)]; }
};

// Hands out each request's pages (a fresh random subset of the pool, in random order: a partial
// shuffle of the page size's persistent permutation), fills the rest of every table row with
// out-of-range ids, and lists the last page of each request whose length is not a page multiple
// (its rows past the length are poisoned for the call). Writes the pinned staging buffers.
int deal_pages(Ctx& ctx, const Call& c, Rng& rng) {
  const int32_t np = ctx.num_pages(c.page);
  std::vector<int32_t>& perm = ctx.perms[c.page];
  if (perm.empty()) {
    perm.resize(size_t(np));
    std::iota(perm.begin(), perm.end(), 0);
  }
  if (size_t(c.batch) * c.bt_stride > ctx.table_cap || size_t(c.batch) > ctx.lens_cap)
    die("internal: table %d x %lld exceeds the staging buffer", c.batch, (long long)c.bt_stride);
  int64_t next = 0;
  int tails = 0;
  for (int32_t b = 0; b < c.batch; ++b) {
    const int32_t n = c.lens[size_t(b)];
    const int32_t used = pages_of(n, c.page);
    if (used > c.width) die("internal: request %d needs %d pages, width %d", b, used, c.width);
    int32_t* row = ctx.h_table.get() + size_t(b) * c.bt_stride;
    for (int32_t j = 0; j < used; ++j, ++next) {
      if (next >= np) die("internal: call needs more than the pool's %d pages", np);
      std::swap(perm[size_t(next)], perm[size_t(next + rng.below(np - next))]);
      row[j] = perm[size_t(next)];
    }
    // The entries right past the needed ones get a random kind each; the rest of a wide row
    // cycles through every kind (no draw per entry: tables reach 33M entries at page size 1).
    const int64_t drawn = std::min<int64_t>(c.bt_stride, int64_t(used) + 4);
    for (int64_t j = used; j < drawn; ++j) row[j] = bad_page_id(rng, np);
    if (drawn < c.bt_stride) {
      int32_t cycle[6];
      for (auto& v : cycle) v = bad_page_id(rng, np);
      for (int64_t j = drawn, k = 0; j < c.bt_stride; ++j, k = k == 5 ? 0 : k + 1)
        row[j] = cycle[k];
    }
    if (n % c.page != 0) ctx.h_tails[size_t(tails++)] = make_int2(row[used - 1], n % c.page);
    ctx.h_lens[size_t(b)] = n;
  }
  return tails;
}

// Copies the staged lens, table and tail list to the device and poisons the tail rows.
void upload_and_poison(Ctx& ctx, const Call& c, int tails) {
  cudaStream_t s = ctx.stream;
  check_cuda(cudaMemcpyAsync(ctx.d_lens.get(), ctx.h_lens.get(), size_t(c.batch) * 4,
                             cudaMemcpyHostToDevice, s),
             "upload seq_lens");
  check_cuda(cudaMemcpyAsync(ctx.d_table.get(), ctx.h_table.get(),
                             size_t(c.batch) * c.bt_stride * 4, cudaMemcpyHostToDevice, s),
             "upload block_table");
  if (tails > 0) {
    check_cuda(cudaMemcpyAsync(ctx.d_tails.get(), ctx.h_tails.get(), size_t(tails) * sizeof(int2),
                               cudaMemcpyHostToDevice, s),
               "upload tail list");
    tail_rows<<<std::min(tails, 4096), 128, 0, s>>>(
        reinterpret_cast<uint4*>(ctx.kv[int(c.dtype)].dev.get()), nullptr, ctx.d_tails.get(), tails,
        c.page);
    check_cuda(cudaGetLastError(), "tail_rows launch");
  }
}

void restore_tails(Ctx& ctx, const Call& c, int tails) {
  if (tails == 0) return;
  const ValuePool& kv = ctx.kv[int(c.dtype)];
  tail_rows<<<std::min(tails, 4096), 128, 0, ctx.stream>>>(
      reinterpret_cast<uint4*>(kv.dev.get()), reinterpret_cast<const uint4*>(kv.clean.get()),
      ctx.d_tails.get(), tails, c.page);
  check_cuda(cudaGetLastError(), "tail_rows (restore) launch");
}

Region out_region(const Call& c, const OutBuffers& ob) {
  Region r;
  r.begin = kGuardBefore;
  r.end = std::min<int64_t>(int64_t(ob.out.size()), kGuardBefore + c.out_extent() + kGuardAfter);
  r.stride_batch = c.o_sb > 0 ? c.o_sb : int64_t(c.heads) * c.o_sh;
  r.stride_head = c.o_sh;
  r.width = kHeadDimV;
  r.batch = c.batch;
  r.heads = c.heads;
  return r;
}

Region lse_region(const Call& c, const OutBuffers& ob) {
  Region r;
  r.begin = kGuardBefore;
  r.end = std::min<int64_t>(int64_t(ob.lse.size()), kGuardBefore + c.lse_extent() + kGuardAfter);
  r.stride_batch = c.l_sb > 0 ? c.l_sb : int64_t(c.heads) * c.l_sh;
  r.stride_head = c.l_sh;
  r.width = 1;
  r.batch = c.with_lse ? c.batch : 0;
  r.heads = c.heads;
  return r;
}

void poison_outputs(Ctx& ctx, const Call& c, OutBuffers& ob) {
  const Region o = out_region(c, ob), l = lse_region(c, ob);
  if (o.end > int64_t(ob.out.size()) || c.out_extent() + kGuardBefore > int64_t(ob.out.size()))
    die("internal: output extent exceeds its buffer");
  check_cuda(cudaMemsetAsync(ob.out.get(), 0xFF, size_t(o.end) * 2, ctx.stream), "poison out");
  check_cuda(cudaMemsetAsync(ob.lse.get(), 0xFF, size_t(l.end) * 4, ctx.stream), "poison lse");
}

// Counts unwritten/stray output elements into d_counts[slot*4 .. slot*4+3].
void count_outputs(Ctx& ctx, const Call& c, const OutBuffers& ob, int slot) {
  const Region o = out_region(c, ob), l = lse_region(c, ob);
  unsigned long long* counts = ctx.d_counts.get() + slot * 4;
  check_cuda(cudaMemsetAsync(counts, 0, 4 * sizeof(unsigned long long), ctx.stream), "zero counts");
  count_unwritten<<<grid_for(o.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(
      ob.out.get(), o, c.dtype == DType::kBFloat16 ? 0 : 1, counts);
  count_unwritten<<<grid_for(l.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(
      reinterpret_cast<const uint32_t*>(ob.lse.get()), l, 2, counts + 2);
  check_cuda(cudaGetLastError(), "count_unwritten launch");
}

DecodeArgs make_args(const Ctx& ctx, const Call& c, const OutBuffers& ob) {
  DecodeArgs a{};
  a.batch = c.batch;
  a.num_pages = ctx.num_pages(c.page);
  a.max_pages_per_seq = c.width;
  a.softmax_scale = c.scale;
  a.q = ctx.q_of(c.dtype).dev.get() + c.q_off;
  a.q_stride_head = c.q_sh;
  a.q_stride_token = int64_t(c.heads) * c.q_sh;
  a.q_stride_batch = c.q_sb;
  a.kv_cache = ctx.kv_of(c.dtype).dev.get();
  a.kv_stride_page = int64_t(c.page) * kHeadDimQK;
  a.block_table = ctx.d_table.get();
  a.block_table_stride = c.bt_stride;
  a.seq_lens = ctx.d_lens.get();
  a.out = ob.out.get() + kGuardBefore;
  a.out_stride_head = c.o_sh;
  a.out_stride_token = int64_t(c.heads) * c.o_sh;
  a.out_stride_batch = c.o_sb;
  a.lse = c.with_lse ? ob.lse.get() + kGuardBefore : nullptr;
  a.lse_stride_head = c.l_sh;
  a.lse_stride_token = int64_t(c.heads) * c.l_sh;
  a.lse_stride_batch = c.l_sb;
  return a;
}

// Evaluates d_counts[slot] (already copied to h_counts): unwritten or stray elements.
void judge_counts(const Ctx& ctx, const Call& c, int slot, const std::string& where,
                  PhaseStats& st) {
  const unsigned long long* k = ctx.h_counts.get() + slot * 4;
  if (k[0] || k[2])
    st.mismatch(where + strf(": %llu out and %llu lse elements unwritten or not finite (%s)", k[0],
                             k[2], c.label.c_str()));
  if (k[1] || k[3])
    st.mismatch(where + strf(": %llu out and %llu lse elements written outside the tensors (%s)",
                             k[1], k[3], c.label.c_str()));
}

// The (request, head) rows checked against the reference: an empty request when there is one,
// two more at random (the last head among them half the time), and now and then the longest.
std::vector<std::pair<int32_t, int32_t>> pick_rows(const Call& c, Rng& rng, double longest_p) {
  std::vector<std::pair<int32_t, int32_t>> rows;
  auto add = [&](int32_t b, int32_t h) {
    if (int(rows.size()) >= kMaxRows) return false;
    for (auto& r : rows)
      if (r.first == b && r.second == h) return false;
    rows.emplace_back(b, h);
    return true;
  };
  std::vector<int32_t> empties;
  for (int32_t b = 0; b < c.batch; ++b)
    if (c.lens[size_t(b)] == 0) empties.push_back(b);
  if (!empties.empty()) add(rng.pick(empties), int32_t(rng.below(c.heads)));
  const int64_t distinct = int64_t(c.batch) * c.heads;
  for (int got = 0, tries = 0; got < 2 && tries < 16 && int64_t(rows.size()) < distinct; ++tries)
    got += add(int32_t(rng.below(c.batch)),
               rng.chance(0.5) ? c.heads - 1 : int32_t(rng.below(c.heads)));
  if (rng.chance(longest_p)) {
    const auto it = std::max_element(c.lens.begin(), c.lens.end());
    add(int32_t(it - c.lens.begin()), int32_t(rng.below(c.heads)));
  }
  return rows;
}

// Queues the D2H copies of the chosen rows (out bits and lse) from `ob` into h_rows/h_row_lse.
void copy_rows(Ctx& ctx, const Call& c, const OutBuffers& ob,
               const std::vector<std::pair<int32_t, int32_t>>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t b = rows[i].first, h = rows[i].second;
    check_cuda(cudaMemcpyAsync(ctx.h_rows.get() + i * kHeadDimV,
                               ob.out.get() + kGuardBefore + b * c.o_sb + h * c.o_sh, kHeadDimV * 2,
                               cudaMemcpyDeviceToHost, ctx.stream),
               "copy out row");
    if (c.with_lse)
      check_cuda(cudaMemcpyAsync(ctx.h_row_lse.get() + i,
                                 ob.lse.get() + kGuardBefore + b * c.l_sb + h * c.l_sh,
                                 sizeof(float), cudaMemcpyDeviceToHost, ctx.stream),
                 "copy lse");
  }
}

// The reference check of row (b, h) of a call whose out bits are at `out` (host memory).
RowJob make_row_job(const Ctx& ctx, const Call& c, int32_t b, int32_t h, const uint16_t* out,
                    float lse, const std::string& where) {
  RowJob j;
  j.kv_host = &ctx.kv_of(c.dtype).host;
  j.dtype = c.dtype;
  j.page = c.page;
  j.scale = c.scale;
  j.n = c.lens[size_t(b)];
  const int32_t* row = ctx.h_table.get() + size_t(b) * c.bt_stride;
  j.pages.assign(row, row + pages_of(j.n, c.page));
  const uint16_t* q =
      ctx.q_of(c.dtype).host.data() + c.q_off + int64_t(b) * c.q_sb + int64_t(h) * c.q_sh;
  j.q.assign(q, q + kHeadDimQK);
  j.out.assign(out, out + kHeadDimV);
  j.lse = lse;
  j.has_lse = c.with_lse;
  j.where = where + strf(" request %d (seq_len %d) head %d, %s", b, j.n, h, c.label.c_str());
  return j;
}

// Submits reference checks of rows whose out bits are at `bits(i)` (after the stream synced).
template <class Bits>
void submit_rows(Ctx& ctx, const Call& c, const std::vector<std::pair<int32_t, int32_t>>& rows,
                 Bits&& bits, const std::string& where, PhaseStats& st) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::pair<const uint16_t*, float> got = bits(i);
    RowJob j = make_row_job(ctx, c, rows[i].first, rows[i].second, got.first, got.second, where);
    ctx.verifier->submit([job = std::move(j), &st] { check_row(job, st); });
  }
}

// Proves on one real call that the checks can fail: an output element left as poison, a write
// into the guard band after the tensor, and one wrong value in a checked row must each be
// caught. Runs after the call's own checks (it damages the outputs); false names what slipped.
bool self_check(Ctx& ctx, const Call& c, OutBuffers& ob, int32_t b, int32_t h, std::string* why) {
  std::vector<uint16_t> row(kHeadDimV);
  check_cuda(cudaMemcpy(row.data(),
                        ob.out.get() + kGuardBefore + int64_t(b) * c.o_sb + int64_t(h) * c.o_sh,
                        kHeadDimV * 2, cudaMemcpyDeviceToHost),
             "copy row");
  float lse = 0.f;
  if (c.with_lse)
    check_cuda(
        cudaMemcpy(&lse, ob.lse.get() + kGuardBefore + int64_t(b) * c.l_sb + int64_t(h) * c.l_sh, 4,
                   cudaMemcpyDeviceToHost),
        "copy lse");
  const int64_t last = kGuardBefore + c.out_extent() - 1;   // last element of the last row
  const int64_t guard = kGuardBefore + c.out_extent() + 7;  // inside the guard after
  check_cuda(cudaMemsetAsync(ob.out.get() + last, 0xFF, 2, ctx.stream), "plant unwritten");
  check_cuda(cudaMemsetAsync(ob.out.get() + guard, 0x00, 2, ctx.stream), "plant stray");
  count_outputs(ctx, c, ob, 2);
  check_cuda(cudaMemcpyAsync(ctx.h_counts.get() + 8, ctx.d_counts.get() + 8,
                             4 * sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx.stream),
             "copy counts");
  check_cuda(cudaStreamSynchronize(ctx.stream), "self-check");
  const unsigned long long* before = ctx.h_counts.get();
  const unsigned long long* after = ctx.h_counts.get() + 8;
  if (after[0] != before[0] + 1)
    *why += strf(" planted unwritten element counted %llu times;", after[0] - before[0]);
  if (after[1] != before[1] + 1)
    *why += strf(" planted stray write counted %llu times;", after[1] - before[1]);
  RowJob j = make_row_job(ctx, c, b, h, row.data(), lse, "self-check");
  PhaseStats good("self-check"), bad("self-check");
  good.quiet = bad.quiet = true;
  check_row(j, good);
  j.out[100] = float_to_half_bits(c.dtype, half_bits_to_float(c.dtype, j.out[100]) + 0.25f);
  check_row(j, bad);
  if (good.mismatches != 0 || good.failures != 0) *why += " the untouched row did not pass;";
  if (bad.mismatches != 1) *why += " a row with one value off by 0.25 passed;";
  return why->empty();
}

std::string label_of(const Call& c, bool padded) {
  return strf(
      "%s heads %d page %d batch %d width %d policy %s max_batch %d planned_width %d%s%s "
      "scale %.4g%s",
      dtype_short(c.dtype), c.heads, c.page, c.batch, c.width,
      policy_label(c.config.policy).c_str(), c.config.max_batch, c.config.max_pages_per_seq,
      c.config.num_sms ? " num_sms " : "",
      c.config.num_sms ? std::to_string(c.config.num_sms).c_str() : "", double(c.scale),
      (std::string(c.with_lse ? "" : " no-lse") + (padded ? " padded" : "")).c_str());
}

// Plans `c.config`, shrinking the policy (planned batch, planned width, then a longer chunk or
// fewer forced splits) until its workspace fits `budget` bytes and part1's grid `max_ctas` CTAs
// (a chunk of 16 tokens over a planned 65536 gives 4096 mostly empty pieces per request).
bool plan_within(Call& c, size_t budget, int64_t max_ctas, Plan* plan, PhaseStats& st,
                 int64_t* adjusted) {
  for (int tries = 0; tries < 64; ++tries) {
    const Status s = make_plan(c.config, plan);
    if (s != Status::kSuccess) {
      st.failure(strf("make_plan (%s): %s", label_of(c, false).c_str(), status_message(s).c_str()));
      return false;
    }
    if (plan->workspace_bytes <= budget && int64_t(plan->work_ctas) * plan->row_blocks <= max_ctas)
      return true;
    ++*adjusted;
    SplitPolicy& p = c.config.policy;
    if (c.config.max_batch > c.batch)
      c.config.max_batch = c.batch;
    else if (c.config.max_pages_per_seq > c.width)
      c.config.max_pages_per_seq = c.width;
    else if (p.kind == SplitPolicyKind::kChunk)
      p.value *= 2;
    else if (p.kind == SplitPolicyKind::kForced && p.value > 1)
      p.value = std::max(1, p.value / 2);
    else
      break;
  }
  st.failure(strf("no policy of %s fits the %zu-byte workspace and %lld-CTA budgets",
                  label_of(c, false).c_str(), budget, (long long)max_ctas));
  return false;
}

// ---- phase 1: differential ------------------------------------------------------------------

int32_t draw_length(Rng& rng, int32_t page) {
  const double u = rng.uniform();
  int32_t n;
  if (u < 0.08)
    n = 0;
  else if (u < 0.63)
    n = rng.log_uniform(1, 256);
  else if (u < 0.85)
    n = rng.log_uniform(257, 4096);
  else if (u < 0.95)
    n = rng.log_uniform(4097, 16384);
  else
    n = rng.chance(0.2) ? 65536 : rng.log_uniform(16385, 65536);
  if (n > 0 && rng.chance(0.15)) {  // one below, at or one above a page boundary
    const int32_t k = std::max(1, n / page);
    n = std::clamp(k * page + rng.between(-1, 1), 0, 65536);
  }
  return n;
}

// Lengths for `batch` requests within the pool's pages and the per-call token budget.
std::vector<int32_t> fit_lengths(Ctx& ctx, int32_t batch, int32_t page, Rng& rng,
                                 const std::function<int32_t(Rng&)>& draw) {
  int64_t rows_left = int64_t(ctx.num_pages(page)) * page;
  int64_t tokens_left = ctx.opt.max_call_tokens;
  std::vector<int32_t> lens(static_cast<size_t>(batch));
  for (auto& n : lens) {
    n = draw(rng);
    const int64_t fit = std::min<int64_t>(tokens_left, rows_left / page * page);
    if (n > fit) n = int32_t(fit);
    rows_left -= int64_t(pages_of(n, page)) * page;
    tokens_left -= n;
  }
  return lens;
}

void phase_differential(Ctx& ctx, PhaseStats& st) {
  const Options& o = ctx.opt;
  OutBuffers ob(size_t(512) * (128 * (kHeadDimV + 8) + 520), size_t(512) * (128 * 2 + 3));
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");
  const size_t budget = size_t(o.ws_budget_gib * double(size_t(1) << 30));
  const std::vector<int32_t> edge_heads = {1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128};
  int64_t adjusted = 0, padded_calls = 0, empty_requests = 0, tokens = 0, forced_over = 0;
  int64_t by_policy[3] = {0, 0, 0}, by_page[8] = {0}, by_dtype[2] = {0, 0};
  const double t0 = elapsed_s();
  double t_prep = 0.0, t_wait = 0.0, t_submit = 0.0;  // where the issuing thread's time goes
  bool self_checked = false;

  for (int call = 0; call < o.calls; ++call) {
    const double t_call = elapsed_s();
    Rng rng(o.seed * 1000003ull + uint64_t(call));
    Call c;
    c.dtype = rng.chance(0.5) ? DType::kBFloat16 : DType::kFloat16;
    c.heads = rng.chance(0.3) ? rng.pick(edge_heads) : rng.between(1, 128);
    c.page = 1 << rng.below(8);
    const double ub = rng.uniform();
    c.batch =
        ub < 0.85 ? rng.between(1, 64) : (ub < 0.95 ? rng.between(65, 256) : rng.between(257, 512));
    c.lens = fit_lengths(ctx, c.batch, c.page, rng, [&](Rng& r) { return draw_length(r, c.page); });
    int32_t widest = 0;
    for (int32_t n : c.lens) widest = std::max(widest, pages_of(n, c.page));
    c.width = std::max(1, widest + int32_t(rng.below(4)));
    c.with_lse = rng.chance(0.75);
    c.scale = float(std::exp(std::log(0.02) + rng.uniform() * std::log(25.0)));
    c.dense();
    const bool padded = rng.chance(0.25);
    if (padded) {
      c.q_sh = kHeadDimQK + 8 * rng.between(0, 8);
      c.q_sb = int64_t(c.heads) * c.q_sh + 8 * rng.between(0, 17);
      c.o_sh = kHeadDimV + 8 * rng.between(0, 1);
      c.o_sb = int64_t(c.heads) * c.o_sh + 8 * rng.between(0, 65);
      c.l_sh = rng.between(1, 2);
      c.l_sb = int64_t(c.heads) * c.l_sh + rng.between(0, 3);
      c.bt_stride = c.width + rng.between(0, 5);
      ++padded_calls;
    }
    const ValuePool& qp = ctx.q_of(c.dtype);
    c.q_off = 8 * rng.below((int64_t(qp.elems) - c.q_extent()) / 8 + 1);

    DecodeConfig& cfg = c.config;
    cfg.dtype = c.dtype;
    cfg.num_heads = c.heads;
    cfg.q_len = 1;
    cfg.page_size = c.page;
    cfg.max_batch =
        rng.chance(0.25) ? rng.between(c.batch, std::min(kMaxBatch, 2 * c.batch)) : c.batch;
    cfg.max_pages_per_seq = rng.chance(0.25) ? c.width + int32_t(rng.below(c.width + 1)) : c.width;
    const int kind = int(rng.below(3));
    if (kind == 0)
      cfg.policy = SplitPolicy::automatic();
    else if (kind == 1)
      cfg.policy = SplitPolicy::forced(
          rng.chance(0.3) ? rng.pick(std::vector<int32_t>{1, 2, 63, 64}) : rng.between(1, 64));
    else
      cfg.policy = SplitPolicy::chunk(rng.log_uniform(16, 4096));
    cfg.num_sms = rng.chance(0.1) ? rng.between(1, 2 * ctx.gpu.num_sms) : 0;
    cfg.device = -1;

    Plan plan;
    if (!plan_within(c, budget, o.max_ctas, &plan, st, &adjusted)) continue;
    c.label = label_of(c, padded);
    const std::string where = strf("call %d", call);
    ++st.calls;
    ++by_policy[int(cfg.policy.kind)];
    ++by_page[__builtin_ctz(unsigned(c.page))];
    ++by_dtype[int(c.dtype)];
    for (int32_t n : c.lens) {
      tokens += n;
      empty_requests += n == 0;
      forced_over += cfg.policy.kind == SplitPolicyKind::kForced && cfg.policy.value > n;
    }

    Status s = pool.reserve_for(plan, ctx.stream);
    if (s != Status::kSuccess) {
      st.failure(where + ": reserve_for: " + status_message(s) + " (" + c.label + ")");
      continue;
    }
    Workspace ws;
    s = pool.workspace_for(plan, &ws);
    const DecodeArgs a = make_args(ctx, c, ob);
    if (s == Status::kSuccess) s = can_implement(plan, a);
    if (s != Status::kSuccess) {
      st.failure(where + ": " + status_message(s) + " (" + c.label + ")");
      continue;
    }
    const int tails = deal_pages(ctx, c, rng);
    upload_and_poison(ctx, c, tails);
    poison_outputs(ctx, c, ob);
    t_prep += elapsed_s() - t_call;
    s = decode(plan, a, ws, ctx.stream);
    if (s != Status::kSuccess)
      st.failure(where + ": decode: " + status_message(s) + " (" + c.label + ")");
    count_outputs(ctx, c, ob, 0);
    restore_tails(ctx, c, tails);
    const auto rows = pick_rows(c, rng, 0.15);
    copy_rows(ctx, c, ob, rows);
    check_cuda(cudaMemcpyAsync(ctx.h_counts.get(), ctx.d_counts.get(),
                               4 * sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx.stream),
               "copy counts");
    ErrorReport er;
    const double t_sync = elapsed_s();
    const Status se = read_errors(plan, ws, c.batch, ctx.stream, &er);  // synchronizes the stream
    t_wait += elapsed_s() - t_sync;
    check_cuda(cudaGetLastError(),
               (where + ": CUDA error after the call (" + c.label + ")").c_str());
    if (se != Status::kSuccess)
      st.failure(where + ": read_errors: " + status_message(se));
    else if (er.any != 0)
      st.failure(where +
                 strf(": error flags 0x%x on valid inputs, first bad request %d (", er.any,
                      er.bad_requests().front()) +
                 c.label + ")");
    if (s != Status::kSuccess) continue;
    judge_counts(ctx, c, 0, where, st);
    if (call == 0) {  // the rows' bits are in h_rows already; the self-check may damage out now
      std::string why;
      if (!self_check(ctx, c, ob, rows[0].first, rows[0].second, &why))
        st.failure("harness self-check on " + c.label + ":" + why);
      else
        self_checked = true;
    }
    const double t_queue = elapsed_s();
    submit_rows(
        ctx, c, rows,
        [&](size_t i) {
          return std::make_pair(ctx.h_rows.get() + i * kHeadDimV,
                                c.with_lse ? ctx.h_row_lse[i] : 0.f);
        },
        where, st);
    t_submit += elapsed_s() - t_queue;

    if ((call + 1) % 1000 == 0 || call + 1 == o.calls) {
      const double dt = elapsed_s() - t0;
      std::printf(
          "  differential %6d/%d calls, %.0f calls/s, %lld rows checked, %lld mismatches, "
          "%lld failures, %zu checks queued (s: host %.1f, GPU wait %.1f, queue wait %.1f)\n",
          call + 1, o.calls, (call + 1) / dt, (long long)st.rows.load(),
          (long long)st.mismatches.load(), (long long)st.failures.load(), ctx.verifier->queued(),
          t_prep, t_wait, t_submit);
      std::fflush(stdout);
    }
  }
  const double gpu_side = elapsed_s() - t0;
  ctx.verifier->drain();
  st.seconds = elapsed_s() - t0;
  st.notes = strf(
      "%s%.0f calls/s (%.1f s issuing: %.1f s preparing inputs on the host, %.1f s waiting for "
      "the GPU, %.1f s waiting for the verifier queue; verification done at %.1f s); %lld rows vs "
      "reference; policies auto/forced/chunk %lld/%lld/%lld; bf16/fp16 %lld/%lld; "
      "pages 1..128 %lld/%lld/%lld/%lld/%lld/%lld/%lld/%lld; %lld padded; "
      "%lld empty requests; %lld forced requests shorter than their split count; "
      "%.3g tokens; %lld policies shrunk to the %.2g GiB workspace / %lld-CTA budgets",
      self_checked ? "harness self-check passed (a planted unwritten element, stray write and "
                     "wrong value were each caught); "
                   : "",
      double(st.calls.load()) / gpu_side, gpu_side, t_prep, t_wait, t_submit, st.seconds,
      (long long)st.rows.load(), (long long)by_policy[0], (long long)by_policy[1],
      (long long)by_policy[2], (long long)by_dtype[0], (long long)by_dtype[1],
      (long long)by_page[0], (long long)by_page[1], (long long)by_page[2], (long long)by_page[3],
      (long long)by_page[4], (long long)by_page[5], (long long)by_page[6], (long long)by_page[7],
      (long long)padded_calls, (long long)empty_requests, (long long)forced_over, double(tokens),
      (long long)adjusted, o.ws_budget_gib, (long long)o.max_ctas);
}

// ---- phase 2: streams -----------------------------------------------------------------------

struct StreamSet {
  std::string name;
  Shape shape;
  SplitPolicy policy;
  std::unique_ptr<DeviceInputs> in;
  Plan plan;
  ScratchPool pool;
  cudaStream_t stream = nullptr;
  std::vector<uint16_t> serial_out;
  std::vector<uint32_t> serial_lse;
  PinnedArray<uint16_t> h_out;
  PinnedArray<uint32_t> h_lse;
  int64_t iterations = 0, checks = 0;
  std::string first_problem;
  size_t out_elems() const { return size_t(shape.batch()) * shape.heads * kHeadDimV; }
  size_t lse_elems() const { return size_t(shape.batch()) * shape.heads; }
};

void phase_streams(Ctx& ctx, PhaseStats& st) {
  const double t0 = elapsed_s();
  StreamSet sets[2];
  sets[0].name = "A";
  sets[0].shape.dtype = DType::kBFloat16;
  sets[0].shape.heads = 128;
  sets[0].shape.page = 64;
  sets[0].policy = SplitPolicy::automatic();
  for (int b = 0; b < 24; ++b)
    sets[0].shape.seq_lens.push_back(
        b % 7 == 3 ? 0 : int32_t(1 + hash64(ctx.opt.seed + 11 + b) % 16384));
  sets[1].name = "B";
  sets[1].shape.dtype = DType::kFloat16;
  sets[1].shape.heads = 19;
  sets[1].shape.page = 4;
  sets[1].policy = SplitPolicy::chunk(384);
  for (int b = 0; b < 57; ++b)
    sets[1].shape.seq_lens.push_back(
        b % 11 == 5 ? 0 : int32_t(1 + hash64(ctx.opt.seed + 97 + b) % 6000));

  for (int k = 0; k < 2; ++k) {
    StreamSet& s = sets[k];
    s.in = std::make_unique<DeviceInputs>(s.shape, hash64(ctx.opt.seed * 31 + k),
                                          k == 0 ? 0.0722f : 0.11f);
    check(make_plan(config_for(s.shape, s.policy), &s.plan), "make_plan (streams)");
    check(s.pool.init(), "ScratchPool::init");
    check(s.pool.reserve_for(s.plan), "ScratchPool::reserve_for (streams)");
    check_cuda(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    s.h_out = PinnedArray<uint16_t>(s.out_elems(), "cudaMallocHost(out)");
    s.h_lse = PinnedArray<uint32_t>(s.lse_elems(), "cudaMallocHost(lse)");
    // Serially, nothing else running: the bits every concurrent run must reproduce.
    const DecodeArgs& a = s.in->args();
    check_cuda(cudaMemsetAsync(a.out, 0xFF, s.out_elems() * 2, s.stream), "poison out");
    check_cuda(cudaMemsetAsync(a.lse, 0xFF, s.lse_elems() * 4, s.stream), "poison lse");
    const Status d = decode(s.plan, a, s.pool, s.stream);
    if (d != Status::kSuccess) {
      st.failure("set " + s.name + " serial decode: " + status_message(d));
      return;
    }
    check_cuda(cudaStreamSynchronize(s.stream), "serial decode");
    s.serial_out.resize(s.out_elems());
    s.serial_lse.resize(s.lse_elems());
    check_cuda(cudaMemcpy(s.serial_out.data(), a.out, s.out_elems() * 2, cudaMemcpyDeviceToHost),
               "copy out");
    check_cuda(cudaMemcpy(s.serial_lse.data(), a.lse, s.lse_elems() * 4, cudaMemcpyDeviceToHost),
               "copy lse");
    for (uint16_t x : s.serial_out)
      if ((x & 0x7FFF) >= (s.shape.dtype == DType::kBFloat16 ? 0x7F80 : 0x7C00)) {
        st.mismatch("set " + s.name + ": serial output has non-finite elements");
        break;
      }
    const ValidationSample sample = build_validation(*s.in, 4, 4);
    const ValidationResult v = validate(sample, *s.in);
    st.rows += int64_t(sample.requests.size() * sample.heads.size());
    if (!v.ok) st.mismatch("set " + s.name + " serial output vs reference: " + v.text);
    std::printf("  streams: set %s (%s heads %d page %d batch %d, %s) serial: %s\n", s.name.c_str(),
                dtype_short(s.shape.dtype), s.shape.heads, s.shape.page, s.shape.batch(),
                policy_label(s.policy).c_str(), v.text.c_str());
  }

  // Two host threads, one per stream, decoding until the deadline.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(ctx.opt.stream_seconds);
  const int every = ctx.opt.check_every;
  auto loop = [&](StreamSet& s) {
    const DecodeArgs& a = s.in->args();
    for (int64_t i = 1; std::chrono::steady_clock::now() < deadline; ++i) {
      const bool check_now = i % every == 0;
      if (check_now) {
        check_cuda(cudaMemsetAsync(a.out, 0xFF, s.out_elems() * 2, s.stream), "poison out");
        check_cuda(cudaMemsetAsync(a.lse, 0xFF, s.lse_elems() * 4, s.stream), "poison lse");
      }
      const Status d = decode(s.plan, a, s.pool, s.stream);
      ++s.iterations;
      if (d != Status::kSuccess) {
        st.failure(strf("set %s iteration %lld: decode: ", s.name.c_str(), (long long)i) +
                   status_message(d));
        break;
      }
      if (!check_now) continue;
      check_cuda(cudaMemcpyAsync(s.h_out.get(), a.out, s.out_elems() * 2, cudaMemcpyDeviceToHost,
                                 s.stream),
                 "copy out");
      check_cuda(cudaMemcpyAsync(s.h_lse.get(), a.lse, s.lse_elems() * 4, cudaMemcpyDeviceToHost,
                                 s.stream),
                 "copy lse");
      check_cuda(cudaStreamSynchronize(s.stream), "stream iteration");
      ++s.checks;
      if (std::memcmp(s.h_out.get(), s.serial_out.data(), s.out_elems() * 2) != 0 ||
          std::memcmp(s.h_lse.get(), s.serial_lse.data(), s.lse_elems() * 4) != 0) {
        size_t k = 0;
        while (k < s.out_elems() && s.h_out[k] == s.serial_out[k]) ++k;
        st.mismatch(
            strf("set %s iteration %lld: output differs from the serial run (first out "
                 "element %zu: 0x%04x vs 0x%04x)",
                 s.name.c_str(), (long long)i, k, k < s.out_elems() ? s.h_out[k] : 0,
                 k < s.out_elems() ? s.serial_out[k] : 0));
      }
      Workspace ws;
      ErrorReport er;
      Status se = s.pool.workspace_for(s.plan, &ws);
      if (se == Status::kSuccess) se = read_errors(s.plan, ws, s.shape.batch(), s.stream, &er);
      if (se != Status::kSuccess)
        st.failure(strf("set %s iteration %lld: read_errors: ", s.name.c_str(), (long long)i) +
                   status_message(se));
      else if (er.any)
        st.failure(
            strf("set %s iteration %lld: error flags 0x%x", s.name.c_str(), (long long)i, er.any));
    }
  };
  std::thread other([&] { loop(sets[1]); });
  loop(sets[0]);
  other.join();
  check_cuda(cudaDeviceSynchronize(), "streams phase");
  st.calls = sets[0].iterations + sets[1].iterations;
  st.seconds = elapsed_s() - t0;
  st.notes = strf(
      "set A %s heads 128 page 64 batch 24 auto: %lld iterations, %lld compared; "
      "set B %s heads 19 page 4 batch 57 chunk:384: %lld iterations, %lld compared; "
      "%.1f s concurrent",
      dtype_short(sets[0].shape.dtype), (long long)sets[0].iterations, (long long)sets[0].checks,
      dtype_short(sets[1].shape.dtype), (long long)sets[1].iterations, (long long)sets[1].checks,
      ctx.opt.stream_seconds);
  for (auto& s : sets) cudaStreamDestroy(s.stream);
}

// ---- phase 3: graph -------------------------------------------------------------------------

struct GraphCase {
  DType dtype;
  int32_t heads, page, batch, width;
  SplitPolicy policy;
  bool with_lse;
};

void phase_graph(Ctx& ctx, PhaseStats& st) {
  const double t0 = elapsed_s();
  const GraphCase cases[] = {
      {DType::kBFloat16, 128, 64, 32, 128, SplitPolicy::automatic(), true},
      {DType::kFloat16, 3, 1, 96, 3000, SplitPolicy::chunk(200), true},
      {DType::kBFloat16, 40, 16, 64, 64, SplitPolicy::forced(9), false},
  };
  const int ncases = 3;
  int64_t replay_global = 0, compared = 0;
  std::string per_case;
  for (int ci = 0; ci < ncases; ++ci) {
    const GraphCase& g = cases[ci];
    const int replays = ctx.opt.replays / ncases + (ci < ctx.opt.replays % ncases ? 1 : 0);
    Call c;
    c.dtype = g.dtype;
    c.heads = g.heads;
    c.page = g.page;
    c.batch = g.batch;
    c.width = g.width;
    c.with_lse = g.with_lse;
    c.scale = 0.09f;
    c.dense();
    c.lens.assign(size_t(c.batch), 0);
    c.config.dtype = c.dtype;
    c.config.num_heads = c.heads;
    c.config.q_len = 1;
    c.config.page_size = c.page;
    c.config.max_batch = c.batch;
    c.config.max_pages_per_seq = c.width;
    c.config.policy = g.policy;
    c.label = label_of(c, false);
    const size_t out_elems = size_t(c.batch) * c.heads * kHeadDimV,
                 lse_elems = size_t(c.batch) * c.heads;
    OutBuffers graph_out(out_elems, lse_elems), eager_out(out_elems, lse_elems);
    PinnedArray<uint16_t> h_g(out_elems, "pinned"), h_e(out_elems, "pinned");
    PinnedArray<uint32_t> l_g(lse_elems, "pinned"), l_e(lse_elems, "pinned");

    Plan plan;
    check(make_plan(c.config, &plan), "make_plan (graph)");
    ScratchPool pool;
    check(pool.init(), "ScratchPool::init");
    check(pool.reserve_for(plan, ctx.stream), "ScratchPool::reserve_for (graph)");
    Workspace ws;
    check(pool.workspace_for(plan, &ws), "ScratchPool::workspace_for");
    const DecodeArgs ag = make_args(ctx, c, graph_out), ae = make_args(ctx, c, eager_out);
    check(can_implement(plan, ag), "can_implement (graph)");

    // Capture once; every replay then reads whatever seq_lens and block_table hold.
    cudaGraph_t graph = nullptr;
    check_cuda(cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal),
               "begin capture");
    const Status cs = decode(plan, ag, ws, ctx.stream);
    check_cuda(cudaStreamEndCapture(ctx.stream, &graph), "end capture");
    check(cs, "decode under capture");
    cudaGraphExec_t exec = nullptr;
    check_cuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    cudaGraphDestroy(graph);

    const int32_t cap = c.width * c.page;
    int64_t case_mismatch_before = st.mismatches.load();
    for (int r = 0; r < replays; ++r, ++replay_global) {
      Rng rng(ctx.opt.seed * 7919ull + uint64_t(replay_global) + 0x6772617068ull);
      c.lens = fit_lengths(ctx, c.batch, c.page, rng, [&](Rng& rr) {
        const double u = rr.uniform();
        if (u < 0.1) return 0;
        if (u < 0.2) return cap;
        if (u < 0.3) return std::clamp(rr.between(1, c.width) * c.page + rr.between(-1, 1), 0, cap);
        return rr.between(1, cap);
      });
      const int tails = deal_pages(ctx, c, rng);
      upload_and_poison(ctx, c, tails);
      poison_outputs(ctx, c, graph_out);
      poison_outputs(ctx, c, eager_out);
      check_cuda(cudaGraphLaunch(exec, ctx.stream), "cudaGraphLaunch");
      const Status se = decode(plan, ae, ws, ctx.stream);
      if (se != Status::kSuccess)
        st.failure(strf("replay %d: eager decode: ", r) + status_message(se));
      count_outputs(ctx, c, graph_out, 0);
      count_outputs(ctx, c, eager_out, 1);
      restore_tails(ctx, c, tails);
      check_cuda(
          cudaMemcpyAsync(h_g.get(), ag.out, out_elems * 2, cudaMemcpyDeviceToHost, ctx.stream),
          "copy out");
      check_cuda(
          cudaMemcpyAsync(h_e.get(), ae.out, out_elems * 2, cudaMemcpyDeviceToHost, ctx.stream),
          "copy out");
      if (c.with_lse) {
        check_cuda(
            cudaMemcpyAsync(l_g.get(), ag.lse, lse_elems * 4, cudaMemcpyDeviceToHost, ctx.stream),
            "copy lse");
        check_cuda(
            cudaMemcpyAsync(l_e.get(), ae.lse, lse_elems * 4, cudaMemcpyDeviceToHost, ctx.stream),
            "copy lse");
      }
      check_cuda(
          cudaMemcpyAsync(ctx.h_counts.get(), ctx.d_counts.get(), 8 * sizeof(unsigned long long),
                          cudaMemcpyDeviceToHost, ctx.stream),
          "copy counts");
      ErrorReport er;
      const Status sr = read_errors(plan, ws, c.batch, ctx.stream, &er);  // synchronizes
      check_cuda(cudaGetLastError(), strf("graph replay %d: CUDA error", r).c_str());
      ++st.calls;
      const std::string where = strf("graph case %d replay %d", ci, r);
      if (sr != Status::kSuccess)
        st.failure(where + ": read_errors: " + status_message(sr));
      else if (er.any)
        st.failure(where + strf(": error flags 0x%x on valid inputs", er.any));
      judge_counts(ctx, c, 0, where + " (graph)", st);
      judge_counts(ctx, c, 1, where + " (eager)", st);
      ++compared;
      if (std::memcmp(h_g.get(), h_e.get(), out_elems * 2) != 0 ||
          (c.with_lse && std::memcmp(l_g.get(), l_e.get(), lse_elems * 4) != 0)) {
        size_t k = 0;
        while (k < out_elems && h_g[k] == h_e[k]) ++k;
        st.mismatch(where + strf(": graph replay differs from the eager decode (first out element "
                                 "%zu; %s)",
                                 k, c.label.c_str()));
      }
      if (replay_global % 50 == 0) {
        const auto rows = pick_rows(c, rng, 1.0);
        submit_rows(
            ctx, c, rows,
            [&](size_t i) {
              const size_t at = (size_t(rows[i].first) * c.heads + rows[i].second);
              float l = 0.f;
              if (c.with_lse) std::memcpy(&l, &l_g[at], 4);
              return std::make_pair(h_g.get() + at * kHeadDimV, l);
            },
            where, st);  // the jobs hold copies of the rows
      }
    }
    cudaGraphExecDestroy(exec);
    per_case += strf("%s%s: %d replays, %lld mismatches", ci ? "; " : "", c.label.c_str(), replays,
                     (long long)(st.mismatches.load() - case_mismatch_before));
  }
  ctx.verifier->drain();
  st.seconds = elapsed_s() - t0;
  st.notes = strf("%lld replays compared bitwise with eager decodes, %lld rows vs reference; ",
                  (long long)compared, (long long)st.rows.load()) +
             per_case;
}

// ---- phase 4: bigoffsets --------------------------------------------------------------------

bool enough_memory(size_t need, const std::string& what, PhaseStats& st) {
  size_t free_b = 0, total_b = 0;
  check_cuda(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  if (free_b >= need + (size_t(1) << 30)) return true;
  st.failure(strf("%s not run: needs %.1f GB of device memory, %.1f GB free", what.c_str(),
                  need / 1e9, free_b / 1e9));
  return false;
}

// One decode of `in` under `policy`: all outputs written (none left NaN), no flags, the
// validation sample against the reference.
void big_case(Ctx& ctx, PhaseStats& st, const std::string& name, DeviceInputs& in,
              SplitPolicy policy, bool slots_past_2g, std::string* notes) {
  const Shape& sh = in.shape();
  Plan plan;
  Status s = make_plan(config_for(sh, policy), &plan);
  if (s != Status::kSuccess) {
    st.failure(name + ": make_plan: " + status_message(s));
    return;
  }
  const double slot_elems = double(plan.slots_bound) * sh.heads * kHeadDimV;
  const double out_elems = double(sh.batch()) * sh.heads * kHeadDimV;
  if (slots_past_2g && !(slot_elems > 2147483648.0))
    st.failure(name + strf(": the plan's partial slots hold %.3g elements, not past 2^31: the case "
                           "no longer tests 64-bit slot offsets",
                           slot_elems));
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");
  if (!enough_memory(plan.workspace_bytes, name + " workspace", st)) return;
  s = pool.reserve_for(plan, ctx.stream);
  if (s != Status::kSuccess) {
    st.failure(name + ": reserve_for: " + status_message(s));
    return;
  }
  Workspace ws;
  check(pool.workspace_for(plan, &ws), "workspace_for");
  const DecodeArgs& a = in.args();
  Call c;  // the layout, for the unwritten-element count
  c.dtype = sh.dtype;
  c.heads = sh.heads;
  c.batch = sh.batch();
  c.dense();
  c.label = name;
  Region ro{
      0, int64_t(out_elems), int64_t(sh.heads) * kHeadDimV, kHeadDimV, kHeadDimV, c.batch, c.heads};
  Region rl{0, int64_t(c.batch) * c.heads, c.heads, 1, 1, c.batch, c.heads};
  check_cuda(cudaMemsetAsync(a.out, 0xFF, size_t(out_elems) * 2, ctx.stream), "poison out");
  check_cuda(cudaMemsetAsync(a.lse, 0xFF, size_t(c.batch) * c.heads * 4, ctx.stream), "poison lse");
  const double t = elapsed_s();
  s = decode(plan, a, ws, ctx.stream);
  ++st.calls;
  if (s != Status::kSuccess) {
    st.failure(name + ": decode: " + status_message(s));
    return;
  }
  check_cuda(cudaMemsetAsync(ctx.d_counts.get(), 0, 4 * sizeof(unsigned long long), ctx.stream),
             "zero");
  count_unwritten<<<grid_for(ro.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(
      static_cast<const uint16_t*>(a.out), ro, sh.dtype == DType::kBFloat16 ? 0 : 1,
      ctx.d_counts.get());
  count_unwritten<<<grid_for(rl.end, 256, ctx.gpu.num_sms), 256, 0, ctx.stream>>>(
      reinterpret_cast<const uint32_t*>(a.lse), rl, 2, ctx.d_counts.get() + 2);
  check_cuda(cudaMemcpyAsync(ctx.h_counts.get(), ctx.d_counts.get(), 4 * sizeof(unsigned long long),
                             cudaMemcpyDeviceToHost, ctx.stream),
             "copy counts");
  ErrorReport er;
  const Status se = read_errors(plan, ws, c.batch, ctx.stream, &er);
  check_cuda(cudaGetLastError(), (name + ": CUDA error").c_str());
  const double run_s = elapsed_s() - t;
  if (se != Status::kSuccess)
    st.failure(name + ": read_errors: " + status_message(se));
  else if (er.any)
    st.failure(name + strf(": error flags 0x%x on valid inputs", er.any));
  judge_counts(ctx, c, 0, name, st);
  const ValidationSample sample = build_validation(in, 4, 3);
  const ValidationResult v = validate(sample, in);
  st.rows += int64_t(sample.requests.size() * sample.heads.size());
  if (!v.ok) st.mismatch(name + ": " + v.text);
  std::string picked;
  for (const auto& r : sample.requests)
    picked += (picked.empty() ? "" : ",") + std::to_string(r.index);
  const std::string line = strf(
      "%s: %s heads %d page %d batch %d %s, workspace %.2f GB, partial-slot elements %.3g (2^31 = "
      "2.15e9), out elements %.3g, decode+checks %.2f s, requests %s checked: %s",
      name.c_str(), dtype_short(sh.dtype), sh.heads, sh.page, sh.batch(),
      policy_label(policy).c_str(), plan.workspace_bytes / 1e9, slot_elems, out_elems, run_s,
      picked.c_str(), v.text.c_str());
  std::printf("  %s\n", line.c_str());
  *notes += (notes->empty() ? "" : "; ") + line;
}

void phase_bigoffsets(Ctx& ctx, PhaseStats& st) {
  const double t0 = elapsed_s();
  std::string notes;
  {
    // 640 requests x 64 forced splits x 128 heads: request b's partial slots start at element
    // b * 64 * 128 * 512, past 2^31 from request 512 on. Lengths 256..1024 fill every split; the
    // longest (600), the last (639) and the shortest (637, empty) are what the sample checks.
    Shape sh;
    sh.dtype = DType::kBFloat16;
    sh.heads = 128;
    sh.page = 16;
    for (int b = 0; b < 640; ++b)
      sh.seq_lens.push_back(int32_t(256 + hash64(ctx.opt.seed * 5 + b) % 769));
    sh.seq_lens[10] = 30;
    sh.seq_lens[600] = 1200;
    sh.seq_lens[636] = 5;
    sh.seq_lens[637] = 0;
    const double slot_floats = 640.0 * 64 * 128 * kHeadDimV;
    if (!(slot_floats > 2147483648.0)) die("internal: the split-slot case does not pass 2^31");
    if (enough_memory(DeviceInputs::bytes_needed(sh) + size_t(slot_floats * 4), "split-slot case",
                      st)) {
      DeviceInputs in(sh, hash64(ctx.opt.seed + 640), 0.0722f);
      big_case(ctx, st, "split slots past 2^31", in, SplitPolicy::forced(64), true, &notes);
    }
  }
  {
    // 65536 requests x 128 heads: out elements reach 2^32; short lengths keep it to seconds.
    Shape sh;
    sh.dtype = DType::kFloat16;
    sh.heads = 128;
    sh.page = 16;
    for (int b = 0; b < kMaxBatch; ++b)
      sh.seq_lens.push_back(int32_t(1 + hash64(ctx.opt.seed * 3 + b) % 32));
    sh.seq_lens[65000] = 64;
    sh.seq_lens[65534] = 0;
    if (enough_memory(DeviceInputs::bytes_needed(sh) + (size_t(1) << 30), "65536-request case",
                      st)) {
      DeviceInputs in(sh, hash64(ctx.opt.seed + 65536), 0.0722f);
      big_case(ctx, st, "65536 requests", in, SplitPolicy::automatic(), false, &notes);
    }
  }
  st.seconds = elapsed_s() - t0;
  st.notes = notes;
}

}  // namespace

int main(int argc, char** argv) {
  elapsed_s();
  Ctx ctx;
  ctx.opt = parse(argc, argv);
  if (!open_device(&ctx.gpu)) return cli::kExitSkipped;
  const Options& o = ctx.opt;
  const std::string commit = build_commit();
  const std::string out =
      o.out.empty() ? "data/results/soak-" + ctx.gpu.short_name + "-" + today() + ".csv" : o.out;
  std::string log_path = out;
  if (log_path.size() > 4 && log_path.compare(log_path.size() - 4, 4, ".csv") == 0)
    log_path.resize(log_path.size() - 4);
  log_path += ".log";
  CsvWriter csv;
  csv.open(
      out,
      {"phase", "calls", "mismatches", "failures", "seconds", "notes", "gpu", "cuda", "commit"},
      false);
  g_log.open(log_path);
  const int hw = int(std::max(2u, std::thread::hardware_concurrency()));
  const int threads = o.threads > 0 ? o.threads : hw - 1;
  g_log.line(strf("splitmla_soak on %s (%d SMs, %.0f GB), CUDA %s, commit %s, seed %llu, %d "
                  "verifier threads",
                  ctx.gpu.name.c_str(), ctx.gpu.num_sms, ctx.gpu.total_mem / 1e9,
                  ctx.gpu.cuda.c_str(), commit.c_str(), (unsigned long long)o.seed, threads),
             true);

  // Shared pools: KV rows for every page size (pool_tokens rows of 576), q rows, staging.
  const double t_setup = elapsed_s();
  ctx.pool_rows = o.pool_tokens / 128 * 128;
  const bool need_pools = o.differential || o.graph;
  check_cuda(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  if (need_pools) {
    const size_t q_elems = size_t(512) * (128 * (kHeadDimQK + 64) + 136) + (size_t(1) << 22);
    for (DType d : {DType::kBFloat16, DType::kFloat16}) {
      fill_pool(&ctx.kv[int(d)], d, size_t(ctx.pool_rows) * kHeadDimQK, o.seed * 4 + 1 + int(d),
                true, hw, true);
      fill_pool(&ctx.q[int(d)], d, q_elems, o.seed * 4 + 3 + int(d), false, hw, false);
    }
    ctx.table_cap = size_t(512) * (65536 + 16);
    ctx.lens_cap = 65536;
    ctx.d_lens = DeviceArray<int32_t>(ctx.lens_cap, "cudaMalloc(seq_lens)");
    ctx.d_table = DeviceArray<int32_t>(ctx.table_cap, "cudaMalloc(block_table)");
    ctx.d_tails = DeviceArray<int2>(ctx.lens_cap, "cudaMalloc(tails)");
    ctx.h_lens = PinnedArray<int32_t>(ctx.lens_cap, "cudaMallocHost(seq_lens)");
    ctx.h_table = PinnedArray<int32_t>(ctx.table_cap, "cudaMallocHost(block_table)");
    ctx.h_tails = PinnedArray<int2>(ctx.lens_cap, "cudaMallocHost(tails)");
  }
  ctx.d_counts = DeviceArray<unsigned long long>(16, "cudaMalloc(counts)");
  ctx.h_counts = PinnedArray<unsigned long long>(16, "cudaMallocHost(counts)");
  ctx.h_rows = PinnedArray<uint16_t>(size_t(kMaxRows) * kHeadDimV, "cudaMallocHost(rows)");
  ctx.h_row_lse = PinnedArray<float>(kMaxRows, "cudaMallocHost(row lse)");
  ctx.verifier = std::make_unique<Verifier>(threads);
  check_cuda(cudaDeviceSynchronize(), "setup");
  if (need_pools)
    std::printf(
        "setup: KV pools of %lld rows x 2 dtypes (%.1f GB on the device with clean copies), "
        "%.1f s\n",
        (long long)ctx.pool_rows, 4.0 * ctx.pool_rows * kHeadDimQK * 2 / 1e9,
        elapsed_s() - t_setup);

  std::vector<std::unique_ptr<PhaseStats>> done;
  auto run = [&](bool on, const char* name, void (*fn)(Ctx&, PhaseStats&)) {
    if (!on) return;
    std::printf("=== %s\n", name);
    std::fflush(stdout);
    auto st = std::make_unique<PhaseStats>(name);
    fn(ctx, *st);
    std::printf("  %s: %lld calls, %lld mismatches, %lld failures, %.1f s\n", name,
                (long long)st->calls.load(), (long long)st->mismatches.load(),
                (long long)st->failures.load(), st->seconds);
    g_log.line(strf("%s: %lld calls, %lld mismatches, %lld failures, %.1f s; ", name,
                    (long long)st->calls.load(), (long long)st->mismatches.load(),
                    (long long)st->failures.load(), st->seconds) +
                   st->notes,
               false);
    csv.row({st->phase, fmt_int(st->calls), fmt_int(st->mismatches), fmt_int(st->failures),
             fmt(st->seconds, 1), st->notes, ctx.gpu.short_name, ctx.gpu.cuda, commit});
    done.push_back(std::move(st));
  };
  run(o.differential, "differential", phase_differential);
  run(o.graph, "graph", phase_graph);
  run(o.streams, "streams", phase_streams);
  // The big cases need the memory the pools hold.
  for (auto& p : ctx.kv) p = ValuePool{};
  for (auto& p : ctx.q) p = ValuePool{};
  run(o.bigoffsets, "bigoffsets", phase_bigoffsets);

  bool clean = true;
  std::printf("\n%-13s %10s %11s %9s %9s  notes\n", "phase", "calls", "mismatches", "failures",
              "seconds");
  for (const auto& st : done) {
    clean = clean && st->mismatches == 0 && st->failures == 0;
    std::printf("%-13s %10lld %11lld %9lld %9.1f  %s\n", st->phase.c_str(),
                (long long)st->calls.load(), (long long)st->mismatches.load(),
                (long long)st->failures.load(), st->seconds, st->notes.c_str());
  }
  std::printf("\n%s: %s (log %s, CSV %s)\n", clean ? "PASS" : "FAIL",
              clean ? "every count is 0" : "see the mismatches and failures above",
              g_log.path().c_str(), csv.path().c_str());
  ctx.verifier.reset();
  cudaStreamDestroy(ctx.stream);
  return clean ? 0 : 1;
}
