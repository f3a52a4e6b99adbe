// Shared pieces of the experiment drivers (bench.cu, study.cu): the device and build identity,
// the two measurements behind the floor of docs/benchmark.md (read bandwidth, bf16 GEMM rate),
// device-side input generation, validation against the CPU reference on a sub-problem,
// CUDA-graph timing of one decode configuration, and CSV reading/writing.
//
// Experiments may exit: every helper here that meets a failure prints what failed and exits(1).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "splitmla/splitmla.hpp"
#include "support/random.hpp"

namespace splitmla::experiments {

// ---- failures -------------------------------------------------------------------------------
[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void check_cuda(cudaError_t e, const char* what);
void check(Status s, const char* what);

// ---- identity -------------------------------------------------------------------------------
struct GpuInfo {
  int device = 0;
  std::string name;        // cudaDeviceProp::name
  std::string short_name;  // "h200", "h100": lowercased, vendor dropped, first word
  std::string cuda;        // runtime version, "13.0"
  int num_sms = 0;
  size_t l2_bytes = 0;
  size_t total_mem = 0;
};
// Selects device 0 and fills `info`. Returns false after printing "skipped: no CUDA device" on
// stderr when none is visible (the drivers then exit 77, the skip code of every executable).
bool open_device(GpuInfo* info);

std::string build_commit();  // env SPLITMLA_COMMIT, else the git commit at build time, else "unknown"
std::string today();         // yyyy-mm-dd, local time

// ---- the floor (docs/benchmark.md) ----------------------------------------------------------
// Read bandwidth in GB/s (1e9 B/s): a kernel streams `bytes` (>= 4 GiB) with 16-byte loads, reads
// only; median of `reps` timed passes.
double measure_bw_read_gbps(size_t bytes, int reps);
// cuBLAS bf16 GEMM n x n x n, random data, fp32 accumulation: median TFLOP/s of `reps` calls.
double measure_p_bf16_tflops(int n, int reps);

struct Floor {
  double bw_read_gbps = 0.0;
  double p_bf16_tflops = 0.0;
  // Each KV row read once: 1152 bytes for 16-bit caches, 576 fp8_e4m3, 656 fp8_ds_mla.
  static double bytes(int64_t tokens, int row_bytes = 2 * kHeadDimQK) {
    return double(tokens) * row_bytes;
  }
  // Every one of the q_len query tokens counted over all T rows (docs/benchmark.md).
  static double flops(int64_t tokens, int heads, int q_len = 1) {
    return 2.0 * heads * double(q_len) * double(tokens) * (kHeadDimQK + kHeadDimV);
  }
  // max(bytes / BW_read, flops / P_bf16) in us
  double us(int64_t tokens, int heads, int q_len = 1, int row_bytes = 2 * kHeadDimQK) const;
};
Floor measure_floor(bool quiet = false);  // both measurements, printed unless quiet

// ---- policies -------------------------------------------------------------------------------
// Split policies are read and printed by the library's parse_policy / policy_text
// (splitmla/policy.hpp: "auto", "forced:N", "chunk:N"); the CSV `policy` column holds the kind
// alone (policy_kind_name).
bool parse_dtype(const std::string& text, DType* d);  // "bf16" / "fp16"
const char* dtype_short(DType d);                     // "bf16" / "fp16"

// A fixed 64-bit mixing function (splitmix64's, tests/support/random.hpp; host and device):
// reproducible draws on any platform.
using testsupport::hash64;

// ---- inputs ---------------------------------------------------------------------------------
struct Shape {
  DType dtype = DType::kBFloat16;
  KvFormat kv_format = KvFormat::kSameAsQ;  // fp8 caches are encoded from the 16-bit data
  int heads = 0;
  int page = 0;
  int q_len = 1;                  // query tokens per request
  bool causal = true;
  std::vector<int32_t> seq_lens;  // one per request
  int batch() const { return int(seq_lens.size()); }
  int64_t total_tokens() const;
  int32_t max_pages_per_seq() const;  // ceil(max seq_len / page), at least 1
  int32_t num_pages() const;          // sum of ceil(seq_len / page), at least 1
  int row_bytes() const { return kv_row_bytes(kv_format); }
  double kv_bytes() const { return double(num_pages()) * page * row_bytes(); }
};

// One complete set of device tensors for a shape: random q and KV (uniform in [-1, 1], drawn on
// the device from `seed`), page ids a random permutation of 0..num_pages-1 (entries past a
// request's last page hold num_pages: out of range, never to be read), seq_lens, and out/lse
// filled with NaN so an unwritten element cannot pass validation. fp8 caches: the same 16-bit
// data encoded on the device (fp8_e4m3 with the amax/448 scale of its bound, 2.5; fp8_ds_mla with
// amax/448 per row and 128-value block, as splitmla::quantize_kv does).
class DeviceInputs {
 public:
  DeviceInputs(const Shape& shape, uint64_t seed, float softmax_scale);
  ~DeviceInputs();
  DeviceInputs(const DeviceInputs&) = delete;
  DeviceInputs& operator=(const DeviceInputs&) = delete;

  const Shape& shape() const { return shape_; }
  const DecodeArgs& args() const { return args_; }
  const std::vector<int32_t>& host_block_table() const { return block_table_; }
  float kv_scale() const { return kv_scale_; }  // fp8_e4m3's scale (also at args().kv_scale)
  static size_t bytes_needed(const Shape& shape);

 private:
  Shape shape_;
  DecodeArgs args_{};
  std::vector<int32_t> block_table_;
  void *q_ = nullptr, *kv_ = nullptr, *out_ = nullptr;
  int32_t *bt_ = nullptr, *lens_ = nullptr;
  float* lse_ = nullptr;
  float* scale_ = nullptr;
  float kv_scale_ = 1.f;
};

DecodeConfig config_for(const Shape& shape, SplitPolicy policy);

// ---- validation against the CPU reference ----------------------------------------------------
// The reference outputs of chosen (request, head) pairs of one DeviceInputs (every request when
// max_requests >= batch), each request as its
// own single-request sub-problem (its pages gathered on the device into a packed cache and
// copied back), computed on parallel host threads.
struct ValidationSample {
  std::vector<int> heads;  // heads checked in every chosen request
  struct Request {
    int index = 0;
    HostProblem problem;   // batch 1, num_heads = heads.size()
    HostOutputs ref;
  };
  std::vector<Request> requests;
};
// Chooses up to `max_requests` requests (first, last, longest, shortest) and up to `max_heads`
// heads (first, last, middle...), then computes the reference.
ValidationSample build_validation(const DeviceInputs& in, int max_requests, int max_heads);

struct ValidationResult {
  bool ok = true;
  double max_out_err = 0.0, max_lse_err = 0.0;
  std::string text;  // first failing report, or a one-line summary
};
// Compares the device's out/lse (the last run on `in`) with the sample; synchronizes.
ValidationResult validate(const ValidationSample& sample, const DeviceInputs& in);

// ---- timing ---------------------------------------------------------------------------------
struct TimingOptions {
  int warmup = 5;
  int reps = 50;
  bool flush_l2 = false;  // read an L2-sized buffer twice over between replays (outside the timing)
  bool parts = true;      // part1 / part2 alone (when the library exposes them)
  bool with_plan = true;  // planner + run in one graph
  bool host = false;      // host time of one enqueue_run call
  int host_reps = 200;
};

struct PointResult {
  double time_us = -1.0;           // enqueue_run in a graph, median
  double part1_us = -1.0;          // < 0: not measured
  double part2_us = -1.0;
  double time_with_plan_us = -1.0;
  double host_us = -1.0;
  int splits_max = 0;              // most splits the planner gave one request
  int pieces = 0;                  // (request, split) pieces of the schedule
  int grid_ctas = 0;               // part1 grid
  Part1Variant part1 = Part1Variant::kMmaSync;  // the part1 kernel the plan chose
  int key_tile = 0;                // its KV rows per tile (Plan::key_tile)
  int blocks_per_sm = -1;          // < 0: occupancy API not available
  double waves = -1.0, last_wave_fill = -1.0;
  ValidationResult validation;     // set when a sample was given
  bool validated = false;
};

// Plans `config`, runs it once on sets[0] (checking the error word, reading the schedule and,
// with a sample, validating the outputs), then times graphs that rotate over `sets`.
// Outputs that fail validation are not timed (time_us stays < 0).
PointResult measure_point(const DecodeConfig& config, const std::vector<DeviceInputs*>& sets,
                          ScratchPool& pool, cudaStream_t stream, const TimingOptions& opt,
                          const GpuInfo& gpu, const ValidationSample* sample);

// Whether the library exposes part1/part2 alone and the part1 occupancy query (decided at
// configure time from decode.hpp).
bool have_part_timing();
bool have_part1_occupancy();

// ---- CSV ------------------------------------------------------------------------------------
std::string fmt(double v, int decimals);  // fixed notation; "" for negative sentinels / NaN
std::string fmt_int(int64_t v);

class CsvWriter {
 public:
  // Opens `path` (creating its folder); appends when `append` and the file already has rows,
  // otherwise writes the header first.
  void open(const std::string& path, const std::vector<std::string>& header, bool append);
  void row(const std::vector<std::string>& cells);  // flushed at once
  ~CsvWriter();
  const std::string& path() const { return path_; }

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
  size_t columns_ = 0;
};
// Rows of a CSV file (header -> value); empty when the file is missing.
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path);

// Seconds since the first call (a process-wide stopwatch for time budgets).
double elapsed_s();

}  // namespace splitmla::experiments
