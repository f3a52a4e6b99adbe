// splitmla_soak's shared pieces (soak.cu has the phases' description and main): options,
// counter-based draws, the log and per-phase counts, buffers with guard bands, the reference
// checks on worker threads, the shared random pools, one call's inputs and the helpers every phase
// uses to deal pages, poison and count outputs, and submit reference rows (soak_calls.cu).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common.hpp"
#include "support/device_memory.hpp"
#include "support/page_ids.hpp"

namespace splitmla::soak {

using namespace splitmla;
using namespace splitmla::experiments;

using testsupport::kPoisonHalf;                 // NaN in bf16 and fp16
using testsupport::pages_needed;
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

// ---- random draws ---------------------------------------------------------------------------

// Counter-based draws on the shared mixing function (tests/support/random.hpp): the same seed
// gives the same stream.
class Rng {
 public:
  explicit Rng(uint64_t seed) : key_(hash64(seed ^ 0x736f616b5f726e67ull)) {}
  uint64_t next() { return hash64(key_ + testsupport::kGolden64 * ++count_); }
  double uniform() { return testsupport::unit_double(next()); }  // [0, 1)
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
extern Log g_log;  // soak.cu

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

// ---- buffers --------------------------------------------------------------------------------

// Typed views of the shared CUDA allocation owners (tests/support/device_memory.hpp); a failed
// allocation ends the run naming `what`. Zero elements still allocate one (a valid pointer).
template <class T, bool kPinned>
class CudaArray {
 public:
  CudaArray() = default;
  CudaArray(size_t n, const char* what) : n_(n) {
    check_cuda(mem_.alloc(std::max<size_t>(n, 1) * sizeof(T)), what);
  }
  T* get() const { return mem_.template as<T>(); }
  T& operator[](size_t i) const { return get()[i]; }
  size_t size() const { return n_; }

 private:
  testsupport::CudaMemory<kPinned> mem_;
  size_t n_ = 0;
};
template <class T> using DeviceArray = CudaArray<T, false>;
template <class T> using PinnedArray = CudaArray<T, true>;

// Where one output tensor lives in its poisoned buffer, in elements from the buffer's start.
struct Region {
  int64_t begin = 0;  // element (0, 0, 0) of the tensor; [0, begin) is the guard before it
  int64_t end = 0;    // end of the scanned range (the guard after the tensor included)
  int64_t stride_batch = 0, stride_head = 0, width = 0;
  int32_t batch = 0, heads = 0;  // batch 0: the tensor is absent, every element must stay poison
};

int grid_for(int64_t n, int threads, int sms);

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
void check_row(const RowJob& j, PhaseStats& st);

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
               bool keep_clean);

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

// Out-of-range page ids for the entries no visible position needs: the shared table's first four
// (num_pages, -1, INT_MAX, INT_MIN), or a random one past the cache or below -1.
int32_t bad_page_id(Rng& rng, int32_t num_pages);

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
int deal_pages(Ctx& ctx, const Call& c, Rng& rng);

// Copies the staged lens, table and tail list to the device and poisons the tail rows.
void upload_and_poison(Ctx& ctx, const Call& c, int tails);
void restore_tails(Ctx& ctx, const Call& c, int tails);
Region out_region(const Call& c, const OutBuffers& ob);
Region lse_region(const Call& c, const OutBuffers& ob);
void poison_outputs(Ctx& ctx, const Call& c, OutBuffers& ob);

// Counts unwritten/stray output elements into d_counts[slot*4 .. slot*4+3].
void count_outputs(Ctx& ctx, const Call& c, const OutBuffers& ob, int slot);
DecodeArgs make_args(const Ctx& ctx, const Call& c, const OutBuffers& ob);

// Evaluates d_counts[slot] (already copied to h_counts): unwritten or stray elements.
void judge_counts(const Ctx& ctx, const Call& c, int slot, const std::string& where,
                  PhaseStats& st);

// The (request, head) rows checked against the reference: an empty request when there is one,
// two more at random (the last head among them half the time), and now and then the longest.
std::vector<std::pair<int32_t, int32_t>> pick_rows(const Call& c, Rng& rng, double longest_p);

// Queues the D2H copies of the chosen rows (out bits and lse) from `ob` into h_rows/h_row_lse.
void copy_rows(Ctx& ctx, const Call& c, const OutBuffers& ob,
               const std::vector<std::pair<int32_t, int32_t>>& rows);

// The reference check of row (b, h) of a call whose out bits are at `out` (host memory).
RowJob make_row_job(const Ctx& ctx, const Call& c, int32_t b, int32_t h, const uint16_t* out,
                    float lse, const std::string& where);

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
bool self_check(Ctx& ctx, const Call& c, OutBuffers& ob, int32_t b, int32_t h, std::string* why);
std::string label_of(const Call& c, bool padded);

// Plans `c.config`, shrinking the policy (planned batch, planned width, then a longer chunk or
// fewer forced splits) until its workspace fits `budget` bytes and part1's grid `max_ctas` CTAs
// (a chunk of 16 tokens over a planned 65536 gives 4096 mostly empty pieces per request).
bool plan_within(Call& c, size_t budget, int64_t max_ctas, Plan* plan, PhaseStats& st,
                 int64_t* adjusted);

// count_unwritten over `r` of `buf` on ctx.stream (kind: 0 bf16, 1 fp16, 2 float32 bits).
void launch_count_unwritten(const Ctx& ctx, const uint16_t* buf, const Region& r, int kind,
                            unsigned long long* counts);
void launch_count_unwritten(const Ctx& ctx, const uint32_t* buf, const Region& r, int kind,
                            unsigned long long* counts);

// Lengths for `batch` requests within the pool's pages and the per-call token budget.
std::vector<int32_t> fit_lengths(Ctx& ctx, int32_t batch, int32_t page, Rng& rng,
                                 const std::function<int32_t(Rng&)>& draw);

// The four phases (soak_differential.cu, soak_streams.cu, soak_graph.cu, soak_bigoffsets.cu).
void phase_differential(Ctx& ctx, PhaseStats& st);
void phase_streams(Ctx& ctx, PhaseStats& st);
void phase_graph(Ctx& ctx, PhaseStats& st);
void phase_bigoffsets(Ctx& ctx, PhaseStats& st);

}  // namespace splitmla::soak
