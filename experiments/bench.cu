// splitmla_bench: how close to the floor does SplitMLA decode run on each case of the canonical
// suite (docs/benchmark.md)? Measures BW_read and P_bf16 in the same process, validates every case
// against the CPU reference on a few (request, head) rows, then times the decode step in CUDA
// graphs (run only; with the planner; part1 and part2 alone) and the host cost of one enqueue_run.
//
//   build-exp/experiments/splitmla_bench [--cases all|NAME,...] [--dtype bf16|fp16|both]
//       [--reps 100] [--policy auto|forced:N|chunk:N] [--sets 3] [--flush-l2]
//       [--part1 auto|mma_sync|wgmma|both]
//       [--out data/results/bench-<gpu>-<yyyy-mm-dd>.csv] [--append] [--list]
//
// Command line as every SplitMLA executable (lib/tools/cli.hpp): --help, --version, --opt=value.
// Exits 77 with "skipped: no CUDA device" where there is none; 1 when a case fails validation;
// 2 on a usage error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"
#include "tools/cli.hpp"

namespace {

using namespace splitmla;
using namespace splitmla::experiments;

struct Case {
  const char* name;
  int heads, batch, page;
  int seq_len;    // every request; 0: uniform in 1..32768 from a fixed seed
  int q_len = 1;  // query tokens per request (causal)
  KvFormat kv = KvFormat::kSameAsQ;  // fp8 rows run for bf16 q only
};

// The canonical suite of docs/benchmark.md, in its order.
const Case kSuite[] = {
    {"H128_B128_L4k", 128, 128, 64, 4096},     {"H16_B128_L4k", 16, 128, 64, 4096},
    {"H128_B1_L128k", 128, 1, 64, 131072},     {"H16_B4_L128k", 16, 4, 64, 131072},
    {"H128_B32_L32k", 128, 32, 64, 32768},     {"H16_B64_var32k", 16, 64, 64, 0},
    {"H16_B128_L4k_p1", 16, 128, 1, 4096},     {"H64_B16_L16k_p16", 64, 16, 16, 16384},
    {"H16_B128_L4k_q2", 16, 128, 64, 4096, 2}, {"H128_B64_L8k_q2", 128, 64, 64, 8192, 2},
    {"H16_B128_L4k_fp8", 16, 128, 64, 4096, 1, KvFormat::kFp8E4M3},
    {"H16_B4_L128k_ds", 16, 4, 64, 131072, 1, KvFormat::kFp8DsMla},
    {"H128_B128_L4k_fp8", 128, 128, 64, 4096, 1, KvFormat::kFp8E4M3},
};

constexpr uint64_t kVarSeed = 20260032768ull;  // fixed: H16_B64_var32k's lengths never change
constexpr float kSoftmaxScale = 0.07216878f;   // 1/sqrt(192), DeepSeek's unscaled value

Shape shape_of(const Case& c, DType dtype) {
  Shape s;
  s.dtype = dtype;
  s.kv_format = c.kv;
  s.heads = c.heads;
  s.page = c.page;
  s.q_len = c.q_len;
  s.causal = true;
  s.seq_lens.resize(c.batch);
  for (int b = 0; b < c.batch; ++b)
    s.seq_lens[b] = c.seq_len > 0 ? c.seq_len : int32_t(1 + hash64(kVarSeed + b) % 32768);
  return s;
}

struct Options {
  std::vector<const Case*> cases;
  std::vector<DType> dtypes = {DType::kBFloat16};
  int reps = 100;
  int sets = 3;
  bool flush_l2 = false;
  bool append = false;
  SplitPolicy policy = SplitPolicy::automatic();
  // part1 kernels to time, each forced by name ("both": the mma.sync baseline, then auto).
  std::vector<Part1Variant> variants = {Part1Variant::kAuto};
  std::string out;
};

// Parses the command line; exits with cli's code after --help, --version or a usage error.
Options parse(int argc, char** argv) {
  Options o;
  std::string cases = "all";
  bool list = false;
  cli::Parser cli("splitmla_bench",
                  "splitmla_bench [--cases all|NAME,...] [--dtype bf16|fp16|both] [--reps N] "
                  "[--policy auto|forced:N|chunk:N] [--sets 1..3] [--flush-l2] "
                  "[--part1 auto|mma_sync|wgmma|both] [--out FILE.csv] [--append] [--list]",
                  "Times SplitMLA decode on the canonical suite (docs/benchmark.md) against the "
                  "floor measured in the same run.");
  cli.option("--cases", "all|NAME,...", "cases to run (default: all; --list names them)", &cases)
      .option("--dtype", "bf16|fp16|both", "input dtype(s) (default: bf16)",
              [&](const std::string& d) {
                DType t;
                if (d == "both") o.dtypes = {DType::kBFloat16, DType::kFloat16};
                else if (parse_dtype(d, &t)) o.dtypes = {t};
                else return std::string("must be bf16, fp16 or both");
                return std::string();
              })
      .int_option("--reps", "timed graph replays per case (at least 50, docs/benchmark.md)", 50, 1000000,
                  &o.reps)
      .int_option("--sets", "input sets rotated between replays", 1, 3, &o.sets)
      .option("--policy", "auto|forced:N|chunk:N", "split policy (default: auto)",
              [&](const std::string& p) {
                const Status s = parse_policy(p, &o.policy);
                return s == Status::kSuccess ? std::string() : status_message(s);
              })
      .option("--part1", "auto|mma_sync|wgmma|both",
              "part1 kernel(s), forced by name; both: the mma.sync baseline, then auto",
              [&](const std::string& v) {
                if (v == "auto") o.variants = {Part1Variant::kAuto};
                else if (v == "mma_sync") o.variants = {Part1Variant::kMmaSync};
                else if (v == "wgmma") o.variants = {Part1Variant::kWgmma};
                else if (v == "both") o.variants = {Part1Variant::kMmaSync, Part1Variant::kAuto};
                else return std::string("auto, mma_sync, wgmma or both");
                return std::string();
              })
      .option("--out", "FILE.csv", "results file (default: data/results/bench-<gpu>-<date>.csv)",
              &o.out)
      .flag("--append", "append to --out instead of rewriting it", &o.append)
      .flag("--flush-l2", "flush L2 between replays", &o.flush_l2)
      .flag("--list", "print the suite's case names and exit", &list);
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) std::exit(rc);
  if (list) {
    for (const Case& c : kSuite) std::printf("%s\n", c.name);
    std::exit(0);
  }
  if (cases == "all") {
    for (const Case& c : kSuite) o.cases.push_back(&c);
  } else {
    size_t start = 0;
    while (start <= cases.size()) {
      const size_t end = std::min(cases.find(',', start), cases.size());
      const std::string name = cases.substr(start, end - start);
      const Case* hit = nullptr;
      for (const Case& c : kSuite)
        if (name == c.name) hit = &c;
      if (!hit) std::exit(cli.usage_error("--cases: unknown case '" + name + "' (--list shows the suite)"));
      o.cases.push_back(hit);
      start = end + 1;
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  elapsed_s();
  const Options opt = parse(argc, argv);
  GpuInfo gpu;
  if (!open_device(&gpu)) return cli::kExitSkipped;
  const std::string commit = build_commit();
  const std::string out =
      opt.out.empty() ? "data/results/bench-" + gpu.short_name + "-" + today() + ".csv" : opt.out;
  std::printf("splitmla_bench on %s (%d SMs, L2 %.0f MiB), CUDA %s, commit %s\n", gpu.name.c_str(),
              gpu.num_sms, gpu.l2_bytes / 1048576.0, gpu.cuda.c_str(), commit.c_str());
  if (!have_part_timing()) std::printf("note: library has no enqueue_part1/2; part columns empty\n");

  const Floor floor = measure_floor();

  CsvWriter csv;
  csv.open(out,
           {"case", "dtype", "kv_format", "heads", "q_len", "batch", "page", "total_tokens",
            "policy", "splits", "time_us", "part1_us", "part2_us", "floor_us", "ratio",
            "time_with_plan_us", "ratio_with_plan", "gbps", "tflops", "bw_read_gbps",
            "p_bf16_tflops", "gpu", "cuda", "commit", "part1", "host_us", "pieces", "grid_ctas",
            "max_out_err"},
           opt.append);

  cudaStream_t stream;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");

  struct Line {
    std::string name, dtype, policy, kernel;
    int splits;
    double time_us, floor_us, part1, part2, host, gbps;
    bool ok;
  };
  std::vector<Line> lines;
  bool all_ok = true;

  for (DType dtype : opt.dtypes) {
    for (const Case* c : opt.cases) {
      if (is_fp8(c->kv) && dtype != DType::kBFloat16) continue;  // BENCH.md: fp8 rows are bf16
      const Shape shape = shape_of(*c, dtype);
      size_t free_b = 0, total_b = 0;
      check_cuda(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
      const size_t need = DeviceInputs::bytes_needed(shape);
      const int sets = int(std::min<size_t>(opt.sets, std::max<size_t>(1, free_b * 7 / 10 / need)));

      std::vector<std::unique_ptr<DeviceInputs>> owned;
      std::vector<DeviceInputs*> ptrs;
      for (int k = 0; k < sets; ++k) {
        owned.push_back(std::make_unique<DeviceInputs>(
            shape, hash64(uint64_t(c - kSuite) * 131 + k + (dtype == DType::kFloat16 ? 7 : 0)),
            kSoftmaxScale));
        ptrs.push_back(owned.back().get());
      }
      const double t0 = elapsed_s();
      // Every request, on three heads (first, last, middle).
      const ValidationSample sample = build_validation(*ptrs[0], shape.batch(), 3);
      const double t_ref = elapsed_s() - t0;

      TimingOptions topt;
      topt.warmup = 10;
      topt.reps = opt.reps;
      topt.flush_l2 = opt.flush_l2;
      topt.host = true;
      for (const Part1Variant variant : opt.variants) {
        DecodeConfig config = config_for(shape, opt.policy);
        config.part1 = variant;
        Plan chosen;
        check(make_plan(config, &chosen), "make_plan");
        const std::string part1_name = part1_variant_name(chosen.part1);
        // "both" on a case where auto picks the baseline: measure the kernel once.
        bool measured = false;
        for (const Line& l : lines)
          if (l.name == c->name && l.dtype == dtype_short(dtype) && l.kernel == part1_name)
            measured = true;
        if (measured) continue;
        const PointResult r = measure_point(config, ptrs, pool, stream, topt, gpu, &sample);

        const int64_t T = shape.total_tokens();
        const double floor_us = floor.us(T, shape.heads, shape.q_len, shape.row_bytes());
        Line line{c->name, dtype_short(dtype), policy_text(opt.policy), part1_name, r.splits_max,
                  r.time_us,
                  floor_us, r.part1_us, r.part2_us, r.host_us, 0.0, r.validation.ok};
        std::printf("%-18s %s %s: reference %.1f s, %s\n", c->name, line.dtype.c_str(),
                    part1_name.c_str(), t_ref, r.validation.text.c_str());
        if (!r.validation.ok) {
          all_ok = false;
          lines.push_back(line);
          continue;
        }
        const double sec = r.time_us * 1e-6;
        line.gbps = Floor::bytes(T, shape.row_bytes()) / sec / 1e9;
        lines.push_back(line);
        const int splits = opt.policy.kind == SplitPolicyKind::kAuto ? r.splits_max : opt.policy.value;
        const char* kv_name = is_fp8(c->kv) ? kv_format_name(c->kv, dtype) : dtype_short(dtype);
        csv.row({c->name, dtype_short(dtype), kv_name, fmt_int(shape.heads),
                 fmt_int(shape.q_len),
                 fmt_int(shape.batch()), fmt_int(shape.page), fmt_int(T), policy_kind_name(opt.policy.kind),
                 fmt_int(splits), fmt(r.time_us, 3), fmt(r.part1_us, 3), fmt(r.part2_us, 3),
                 fmt(floor_us, 3), fmt(r.time_us / floor_us, 4), fmt(r.time_with_plan_us, 3),
                 fmt(r.time_with_plan_us / floor_us, 4), fmt(line.gbps, 1),
                 fmt(Floor::flops(T, shape.heads, shape.q_len) / sec / 1e12, 2),
                 fmt(floor.bw_read_gbps, 1),
                 fmt(floor.p_bf16_tflops, 1), gpu.short_name, gpu.cuda, commit, part1_name,
                 fmt(r.host_us, 2), fmt_int(r.pieces), fmt_int(r.grid_ctas),
                 fmt(r.validation.max_out_err, 5)});
      }
    }
  }
  cudaStreamDestroy(stream);

  std::printf("\n%-18s %-5s %-8s %-12s %6s %10s %10s %7s %9s %9s %8s %8s\n", "case", "dtype",
              "part1", "policy", "max_k", "time_us", "floor_us", "ratio", "part1_us", "part2_us", "host_us", "GB/s");
  for (const Line& l : lines) {
    if (!l.ok) {
      std::printf("%-18s %-5s %-8s %-12s  FAILED VALIDATION (not timed)\n", l.name.c_str(),
                  l.dtype.c_str(), l.kernel.c_str(), l.policy.c_str());
      continue;
    }
    std::printf("%-18s %-5s %-8s %-12s %6d %10.2f %10.2f %7.3f %9s %9s %8s %8.0f\n",
                l.name.c_str(), l.dtype.c_str(), l.kernel.c_str(), l.policy.c_str(), l.splits, l.time_us, l.floor_us,
                l.time_us / l.floor_us, l.part1 < 0 ? "-" : fmt(l.part1, 2).c_str(),
                l.part2 < 0 ? "-" : fmt(l.part2, 2).c_str(), fmt(l.host, 2).c_str(), l.gbps);
  }
  std::printf("\nwrote %s (%.0f s)\n", out.c_str(), elapsed_s());
  return all_ok ? 0 : 1;
}
