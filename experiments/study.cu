// splitmla_study: how many KV splits should a decode use, and does the automatic policy find it?
// Sweeps forced split counts 1, 2, 4, ..., 128, the automatic policy and a fixed chunk length over
// batch x context x heads (page 64, bf16), and records per point part1, part2 and total time
// (median of CUDA-graph replays, L2 flushed between replays), GB/s, time / floor, and the part1
// grid in waves of resident CTAs (occupancy API), so a wave model can be fitted to it.
//
//   build-exp/experiments/splitmla_study [--short|--full] [--resume] [--budget-s 510]
//       [--reps 50] [--max-kv-gb 40] [--chunk 1024] [--ablate]
//       [--out data/results/study-<gpu>-<yyyy-mm-dd>.csv]
//
// --short: batch {1,8,64} x context {4k,64k} x heads {16,128} (a subset of --full, the default:
// batch {1..128, powers of two} x context {1k,4k,16k,64k,128k} x heads {16,128}).
// Each invocation stops starting new points after --budget-s seconds and keeps what it wrote
// (rows are flushed one by one); --resume appends to the file and skips points already in it.
// Each (heads, batch, context) is validated against the CPU reference on 2 requests x 2 heads,
// then every policy's outputs are checked on those rows before it is timed.
//
// --ablate: the hook for library knobs (pipeline stages, cache hints, ...), refused while the
// library has none (kLibraryHasAblationKnobs). The environment
// variable SPLITMLA_STUDY_ABLATE lists variants separated by ';', each a space-separated list of
// NAME=VALUE assignments, e.g. "SPLITMLA_STAGES=2;SPLITMLA_STAGES=4 SPLITMLA_EVICT_FIRST=0".
// For each variant the study sets those variables in its own environment before planning (and
// unsets the previous variant's), and records the variant text in the `variant` column; the
// library reads whichever variables it chooses to honour. Without --ablate, `variant` is empty.
//
// Command line as every SplitMLA executable (lib/tools/cli.hpp): --help, --version, --opt=value.
// Exits 77 with "skipped: no CUDA device" where there is none; 1 when a point fails validation;
// 2 on a usage error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "tools/cli.hpp"

namespace {

using namespace splitmla;
using namespace splitmla::experiments;

constexpr float kSoftmaxScale = 0.07216878f;  // 1/sqrt(192)
constexpr int kPage = 64;

struct Options {
  bool full = true;
  bool resume = false;
  bool ablate = false;
  bool auto_first = false;
  int settle_ms = 0;
  double budget_s = 510.0;
  int reps = 50;
  int chunk = 1024;
  double max_kv_gb = 40.0;
  std::string out;
};

constexpr const char* kSynopsis =
    "splitmla_study [--short|--full] [--resume] [--budget-s S] [--reps N] [--max-kv-gb G] "
    "[--chunk TOKENS] [--ablate] [--auto-first] [--settle-ms MS] [--out FILE.csv]";

// A usage error found after parsing (the --ablate variants): message on stderr, exit 2.
[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "splitmla_study: %s\nusage: %s\ntry 'splitmla_study --help'\n",
               why.c_str(), kSynopsis);
  std::exit(cli::kExitUsage);
}

// Parses the command line; exits with cli's code after --help, --version or a usage error.
Options parse(int argc, char** argv) {
  Options o;
  cli::Parser cli("splitmla_study", kSynopsis,
                  "Sweeps the split count over batch x context x heads and records time, GB/s, "
                  "time/floor and waves per point.");
  cli.flag("--short", "the short grid (batch 1,8,64 x context 4k,64k)", [&] { o.full = false; })
      .flag("--full", "the whole grid (the default)", [&] { o.full = true; })
      .flag("--resume", "append to --out and skip the points already in it", &o.resume)
      .number_option("--budget-s", "stop starting new points after S seconds", 0, 1e9,
                     &o.budget_s)
      .int_option("--reps", "timed replays per point (at least 50)", 50, 1000000, &o.reps)
      .int_option("--chunk", "chunk length in tokens of the chunk policy", 1, 1 << 30, &o.chunk)
      .number_option("--max-kv-gb", "skip points whose KV cache is larger", 0.001, 1e6,
                     &o.max_kv_gb)
      .flag("--ablate", "one sweep per variant of SPLITMLA_STUDY_ABLATE", &o.ablate)
      .flag("--auto-first",
            "time the automatic policy first at each point (default: after the forced counts), "
            "to see what the order does to the comparison",
            &o.auto_first)
      .int_option("--settle-ms",
                  "idle the GPU this long before timing each policy (default 0), to see whether "
                  "the order's effect at heavy points is the power management's short memory",
                  0, 60000, &o.settle_ms)
      .option("--out", "FILE.csv", "results file (default: data/results/study-<gpu>-<date>.csv)",
              &o.out);
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) std::exit(rc);
  return o;
}

// Ablation variants: each a list of NAME=VALUE; one empty variant without --ablate.
// No library knob reads these variables yet (pipeline depth and cache hints are compile-time in
// both part1 kernels), so an ablation would time one kernel under several labels: refused until
// one exists.
constexpr bool kLibraryHasAblationKnobs = false;

std::vector<std::string> variants(bool ablate) {
  if (!ablate) return {""};
  if (!kLibraryHasAblationKnobs)
    usage("--ablate: the library has no run-time knob yet (pipeline depth and cache hints are "
          "fixed at compile time), so every variant would time the same kernel");
  const char* env = std::getenv("SPLITMLA_STUDY_ABLATE");
  if (!env || !*env)
    usage("--ablate needs SPLITMLA_STUDY_ABLATE, e.g. \"SPLITMLA_STAGES=2;SPLITMLA_STAGES=4\"");
  std::vector<std::string> out;
  std::stringstream ss(env);
  std::string v;
  while (std::getline(ss, v, ';'))
    if (!v.empty()) out.push_back(v);
  return out;
}

std::vector<std::string> assignments(const std::string& variant) {
  std::vector<std::string> out;
  std::stringstream ss(variant);
  std::string a;
  while (ss >> a) {
    if (a.find('=') == std::string::npos || a.front() == '=')
      usage(("ablation assignment '" + a + "' is not NAME=VALUE").c_str());
    out.push_back(a);
  }
  return out;
}

void apply_variant(const std::string& variant, const std::string& previous) {
  for (const std::string& a : assignments(previous)) unsetenv(a.substr(0, a.find('=')).c_str());
  for (const std::string& a : assignments(variant)) {
    const size_t eq = a.find('=');
    setenv(a.substr(0, eq).c_str(), a.substr(eq + 1).c_str(), 1);
  }
}

std::string key(int heads, int batch, int context, const std::string& variant,
                const std::string& policy, const std::string& splits) {
  // auto's split count is an outcome, not an input: it is not part of the key.
  return std::to_string(heads) + "|" + std::to_string(batch) + "|" + std::to_string(context) +
         "|" + variant + "|" + policy + "|" + (policy == "auto" ? "" : splits);
}

}  // namespace

int main(int argc, char** argv) {
  elapsed_s();
  const Options opt = parse(argc, argv);
  const std::vector<std::string> vars = variants(opt.ablate);
  GpuInfo gpu;
  if (!open_device(&gpu)) return cli::kExitSkipped;
  const std::string commit = build_commit();
  const std::string out =
      opt.out.empty() ? "data/results/study-" + gpu.short_name + "-" + today() + ".csv" : opt.out;

  const std::vector<int> heads_list = {16, 128};
  const std::vector<int> batches =
      opt.full ? std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128} : std::vector<int>{1, 8, 64};
  const std::vector<int> contexts = opt.full
                                        ? std::vector<int>{1024, 4096, 16384, 65536, 131072}
                                        : std::vector<int>{4096, 65536};
  std::vector<SplitPolicy> policies;
  for (int s = 1; s <= 128; s *= 2) policies.push_back(SplitPolicy::forced(s));
  policies.push_back(SplitPolicy::automatic());
  policies.push_back(SplitPolicy::chunk(opt.chunk));
  if (opt.auto_first) std::rotate(policies.begin(), policies.end() - 2, policies.end() - 1);

  std::set<std::string> done;
  if (opt.resume)
    for (const auto& row : read_csv(out)) {
      auto get = [&](const char* k) {
        auto it = row.find(k);
        return it == row.end() ? std::string() : it->second;
      };
      done.insert(key(std::atoi(get("heads").c_str()), std::atoi(get("batch").c_str()),
                      std::atoi(get("context").c_str()), get("variant"), get("policy"),
                      get("splits")));
    }

  std::printf("splitmla_study (%s grid) on %s (%d SMs), CUDA %s, commit %s; %zu points already in %s\n",
              opt.full ? "full" : "short", gpu.name.c_str(), gpu.num_sms, gpu.cuda.c_str(),
              commit.c_str(), done.size(), out.c_str());
  if (!have_part1_occupancy())
    std::printf("note: library has no part1_occupancy; blocks_per_sm/waves columns empty\n");
  const Floor floor = measure_floor();

  // --resume onto a file with another header (an older study: no part1 column) would append
  // rows that do not line up with it.
  const std::vector<std::string> columns = {
      "heads", "batch", "context", "page", "dtype", "policy", "splits", "time_us", "part1_us",
      "part2_us", "floor_us", "ratio", "gbps", "grid_ctas", "blocks_per_sm", "waves",
      "last_wave_fill", "gpu", "cuda", "commit", "variant", "pieces", "tflops", "bw_read_gbps",
      "p_bf16_tflops", "max_out_err", "part1", "key_tile"};
  if (opt.resume) {
    std::ifstream probe(out);
    std::string first;
    std::string want;
    for (size_t i = 0; i < columns.size(); ++i) want += (i ? "," : "") + columns[i];
    if (std::getline(probe, first) && !first.empty() && first != want)
      usage("--resume: " + out + " has another header (an older study?): resume into a new --out");
  }
  CsvWriter csv;
  csv.open(out, columns, opt.resume);

  cudaStream_t stream;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");

  TimingOptions topt;
  topt.warmup = 5;
  topt.reps = opt.reps;
  topt.flush_l2 = true;  // small points would otherwise be served from L2
  topt.with_plan = false;

  int written = 0, skipped = 0, failed = 0;
  bool out_of_time = false;
  std::string current_variant;
  for (int heads : heads_list) {
    for (int context : contexts) {
      for (int batch : batches) {
        if (out_of_time) break;
        Shape shape;
        shape.dtype = DType::kBFloat16;
        shape.heads = heads;
        shape.page = kPage;
        shape.seq_lens.assign(batch, context);
        if (shape.kv_bytes() > opt.max_kv_gb * 1e9) {
          std::printf("skip H%d B%d L%d: KV %.1f GB > %.0f GB\n", heads, batch, context,
                      shape.kv_bytes() / 1e9, opt.max_kv_gb);
          continue;
        }
        bool pending = false;
        for (const auto& v : vars)
          for (const auto& p : policies)
            if (!done.count(key(heads, batch, context, v, policy_kind_name(p.kind),
                                p.kind == SplitPolicyKind::kAuto ? "" : std::to_string(p.value))))
              pending = true;
        if (!pending) {
          skipped += int(vars.size() * policies.size());
          continue;
        }
        if (elapsed_s() > opt.budget_s) {
          out_of_time = true;
          break;
        }

        DeviceInputs inputs(shape, hash64(uint64_t(heads) * 1000003 + batch * 1009 + context),
                            kSoftmaxScale);
        const ValidationSample sample = build_validation(inputs, 2, 2);
        const int64_t T = shape.total_tokens();
        const double floor_us = floor.us(T, heads);

        for (const auto& v : vars) {
          if (v != current_variant) {
            apply_variant(v, current_variant);
            current_variant = v;
          }
          for (const auto& p : policies) {
            const std::string value =
                p.kind == SplitPolicyKind::kAuto ? "" : std::to_string(p.value);
            if (done.count(key(heads, batch, context, v, policy_kind_name(p.kind), value))) {
              ++skipped;
              continue;
            }
            if (elapsed_s() > opt.budget_s) {
              out_of_time = true;
              break;
            }
            if (opt.settle_ms > 0)
              std::this_thread::sleep_for(std::chrono::milliseconds(opt.settle_ms));
            const PointResult r =
                measure_point(config_for(shape, p), {&inputs}, pool, stream, topt, gpu, &sample);
            if (!r.validation.ok) {
              ++failed;
              std::printf("H%d B%d L%d %s%s%s: FAILED VALIDATION: %s\n", heads, batch, context,
                          policy_text(p).c_str(), v.empty() ? "" : " ", v.c_str(),
                          r.validation.text.c_str());
              continue;
            }
            const double sec = r.time_us * 1e-6;
            const int splits = p.kind == SplitPolicyKind::kAuto ? r.splits_max : p.value;
            csv.row({fmt_int(heads), fmt_int(batch), fmt_int(context), fmt_int(kPage), "bf16",
                     policy_kind_name(p.kind), fmt_int(splits), fmt(r.time_us, 3), fmt(r.part1_us, 3),
                     fmt(r.part2_us, 3), fmt(floor_us, 3), fmt(r.time_us / floor_us, 4),
                     fmt(Floor::bytes(T) / sec / 1e9, 1), fmt_int(r.grid_ctas),
                     r.blocks_per_sm < 0 ? "" : fmt_int(r.blocks_per_sm), fmt(r.waves, 4),
                     fmt(r.last_wave_fill, 4), gpu.short_name, gpu.cuda, commit, v,
                     fmt_int(r.pieces), fmt(Floor::flops(T, heads) / sec / 1e12, 2),
                     fmt(floor.bw_read_gbps, 1), fmt(floor.p_bf16_tflops, 1),
                     // The part1 kernel the plan chose and its key tile: the split rule is
                     // re-fitted per kernel family (splitmla_split_refit).
                     fmt(r.validation.max_out_err, 5), part1_variant_name(r.part1),
                     fmt_int(r.key_tile)});
            ++written;
            std::printf("H%-3d B%-3d L%-6d %-12s%s%s splits %3d  %9.2f us  ratio %6.3f  [%.0f s]\n",
                        heads, batch, context, policy_text(p).c_str(), v.empty() ? "" : " ",
                        v.c_str(), splits, r.time_us, r.time_us / floor_us, elapsed_s());
          }
          if (out_of_time) break;
        }
      }
    }
  }
  cudaStreamDestroy(stream);
  std::printf("\n%d points written, %d already present, %d failed validation%s; %s (%.0f s)\n",
              written, skipped, failed,
              out_of_time ? "; stopped at the time budget (run again with --resume)" : "",
              out.c_str(), elapsed_s());
  return failed ? 1 : 0;
}
