// splitmla_fixture: make, replay and inspect HDF5 fixtures (docs/semantics.md section 7).
//
//   splitmla_fixture generate --out DIR --seed N [--set default|multitoken|faults]
//   splitmla_fixture replay [--backend cpu|gpu|both] [--policy auto|forced:N|chunk:N] FILE...
//   splitmla_fixture inspect FILE...
//   splitmla_fixture [COMMAND] --help | --version
//
// Command line as every SplitMLA executable (tools/cli.hpp): --opt value or --opt=value, unknown
// options are usage errors. Exit codes: 0 all passed; 1 a fixture failed or could not be read;
// 2 bad command line; 77 the gpu backend alone was asked for and no CUDA device exists (skipped).
// Errors go to stderr; the per-fixture reports to stdout.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fixture/replay.hpp"
#include "splitmla/fixture.hpp"
#include "splitmla/reference.hpp"
#include "tools/cli.hpp"
#include "tools/generate.hpp"

namespace {

using namespace splitmla;

using cli::kExitFail;
using cli::kExitSkipped;

constexpr const char* kSynopsis =
    "splitmla_fixture COMMAND [options]\n"
    "  splitmla_fixture generate --out DIR --seed N [--set default|multitoken|fp8|faults]\n"
    "  splitmla_fixture replay [--backend cpu|gpu|both] [--policy auto|forced:N|chunk:N] FILE...\n"
    "  splitmla_fixture inspect FILE...\n"
    "  splitmla_fixture COMMAND --help";

int cmd_generate(int argc, char** argv) {
  std::string out_dir, set = "default";
  uint64_t seed = 0;
  bool have_seed = false;
  cli::Parser cmd("splitmla_fixture generate",
                  "splitmla_fixture generate --out DIR --seed N [--set default|multitoken|fp8|faults]",
                  "Writes the committed fixture set, made from a seed, into DIR (each file read "
                  "back and replayed on the CPU reference).");
  cmd.option("--out", "DIR", "folder to write the fixtures to (created)", &out_dir)
      .option("--seed", "N", "seed of every random draw (a non-negative integer)",
              [&](const std::string& v) {
                long long x = 0;
                if (!cli::parse_int(v, 0, LLONG_MAX, &x)) return std::string("must be a non-negative integer");
                seed = static_cast<uint64_t>(x);
                have_seed = true;
                return std::string();
              })
      .option("--set", "NAME", "which set of cases: default, multitoken (q_len > 1, causal and not), or faults (bad "
              "device data)", &set);
  const int rc = cmd.parse(argc, argv, 0);
  if (rc >= 0) return rc;
  if (out_dir.empty() || !have_seed) return cmd.usage_error("--out DIR and --seed N are required");
  const std::vector<tools::CaseSpec> cases = tools::fixture_set(set);
  if (cases.empty()) return cmd.usage_error("--set " + set + ": unknown (known: default, multitoken, faults)");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    std::fprintf(stderr, "generate: cannot create %s: %s\n", out_dir.c_str(),
                 ec.message().c_str());
    return kExitFail;
  }
  int failures = 0;
  uintmax_t total_bytes = 0;
  for (const tools::CaseSpec& c : cases) {
    const std::string path = out_dir + "/" + c.name + ".h5";
    Fixture f;
    Status s = tools::build_case(c, seed, set, &f);
    if (s == Status::kSuccess) s = write_fixture(path, f);
    // Self-check: the file reads back and replays on the CPU reference.
    std::string report;
    if (s == Status::kSuccess)
      s = replay_fixture(path, Backend::kCpu, SplitPolicy::automatic(), &report);
    if (s != Status::kSuccess) {
      std::fprintf(stderr, "generate: %s: %s\n%s", path.c_str(), status_message(s).c_str(),
                   report.c_str());
      ++failures;
      continue;
    }
    const uintmax_t bytes = std::filesystem::file_size(path, ec);
    total_bytes += ec ? 0 : bytes;
    std::printf("wrote %s (%ju bytes): batch %d, heads %d, page_size %d, %s%s\n", path.c_str(),
                ec ? uintmax_t(0) : bytes, f.problem.batch, f.problem.num_heads,
                f.problem.page_size, dtype_name(f.problem.dtype),
                f.has_splits ? (", " + std::to_string(f.splits.num_splits) + " splits").c_str()
                             : "");
  }
  std::printf("generate: %zu fixtures, %d failed, %ju bytes in all\n", cases.size(), failures,
              total_bytes);
  return failures == 0 ? 0 : kExitFail;
}

// Names the fixture's bad device data on stderr; true when it has none.
bool report_data_faults(const std::string& path, const HostProblem& p) {
  const DataFaults faults = find_data_faults(p);
  std::fflush(stdout);  // keep the order of both streams in a combined log
  for (const std::string& line : faults.lines)
    std::fprintf(stderr, "%s: data fault: %s\n", path.c_str(), line.c_str());
  if (faults.count > static_cast<int64_t>(faults.lines.size()))
    std::fprintf(stderr, "%s: ... %lld data faults in all\n", path.c_str(),
                 static_cast<long long>(faults.count));
  if (faults.count > 0)
    std::fprintf(stderr,
                 "%s: the contract makes these requests' outputs NaN (a page id outside the "
                 "cache or a length beyond the table is bad device data)\n",
                 path.c_str());
  return faults.count == 0;
}

int cmd_replay(int argc, char** argv) {
  bool want_cpu = true, want_gpu = false, have_policy = false;
  SplitPolicy policy = SplitPolicy::automatic();
  std::vector<std::string> files;
  cli::Parser cmd("splitmla_fixture replay",
                  "splitmla_fixture replay [--backend cpu|gpu|both] "
                  "[--policy auto|forced:N|chunk:N] FILE...",
                  "Replays each fixture: the cpu backend recomputes the outputs in float64 from the "
                  "stored inputs and\ncompares them with the stored ones; the gpu backend runs "
                  "SplitMLA's decode with --policy.");
  cmd.option("--backend", "cpu|gpu|both", "which backend(s) to run (default: cpu)",
             [&](const std::string& v) {
               if (v != "cpu" && v != "gpu" && v != "both")
                 return std::string("expected cpu, gpu or both");
               want_cpu = v != "gpu";
               want_gpu = v != "cpu";
               return std::string();
             })
      .option("--policy", "auto|forced:N|chunk:N",
              "split policy of the gpu backend (default: auto)", [&](const std::string& v) {
                const Status s = parse_policy(v, &policy);
                have_policy = true;
                return s == Status::kSuccess ? std::string() : status_message(s);
              })
      .positionals("FILE", &files);
  const int rc = cmd.parse(argc, argv, 0);
  if (rc >= 0) return rc;
  if (files.empty()) return cmd.usage_error("no fixture files given");
  if (have_policy && !want_gpu)
    return cmd.usage_error("--policy applies to the gpu backend only (add --backend gpu or both)");
  int failed = 0, faulty = 0, cpu_passed = 0, gpu_passed = 0;
  bool gpu_skipped = false;
  for (const std::string& path : files) {
    Fixture f;
    const Status rs = read_fixture(path, &f);
    if (rs != Status::kSuccess) {
      std::fprintf(stderr, "ERROR %s\n", status_message(rs).c_str());
      ++failed;
      continue;
    }
    // Bad device data fails the file; the replay still runs, so the NaN rows it reports have
    // their cause named just above them.
    if (!report_data_faults(path, f.problem)) ++faulty;
    if (want_cpu) {
      std::string report;
      const Status s = replay_loaded(f, path, Backend::kCpu, policy, &report);
      std::fputs(report.c_str(), stdout);
      if (s == Status::kSuccess) ++cpu_passed;
      else {
        if (s != Status::kMismatch)
          std::fprintf(stderr, "%s [cpu]: ERROR %s\n", path.c_str(), status_message(s).c_str());
        ++failed;
      }
    }
    if (want_gpu && !gpu_skipped) {
      std::string report;
      const Status s = replay_loaded(f, path, Backend::kGpu, policy, &report);
      std::fputs(report.c_str(), stdout);
      if (s == Status::kSuccess) ++gpu_passed;
      else if (s == Status::kNoCudaDevice) gpu_skipped = true;
      else ++failed;
    }
  }
  std::printf("replay: %zu file(s); cpu %s; gpu %s; %d failure(s); %d file(s) with data faults\n",
              files.size(),
              want_cpu ? (std::to_string(cpu_passed) + " passed").c_str() : "not run",
              !want_gpu      ? "not run"
              : gpu_skipped ? "skipped (no CUDA device)"
                            : (std::to_string(gpu_passed) + " passed, policy " +
                               policy_text(policy))
                                  .c_str(),
              failed, faulty);
  if (failed > 0 || faulty > 0) return kExitFail;
  if (gpu_skipped && !want_cpu) return kExitSkipped;
  return 0;
}

// Counts that show what a fixture exercises.
void print_content(const Fixture& f) {
  const HostProblem& p = f.problem;
  int64_t empty = 0, max_len = 0, nan_rows = 0, bad_entries = 0, past_entries = 0;
  for (int32_t b = 0; b < p.batch; ++b) {
    const int64_t n = p.seq_lens[size_t(b)];
    empty += n == 0;
    max_len = std::max<int64_t>(max_len, n);
    // Entries the visible positions use; a bad seq_len (negative, or beyond the table) is a data
    // fault reported apart, and must not move this loop outside the row.
    const int64_t need =
        std::clamp<int64_t>((n + p.page_size - 1) / p.page_size, 0, p.max_pages_per_seq);
    for (int64_t j = need; j < p.max_pages_per_seq; ++j) {
      const int32_t id = p.block_table[size_t(b) * p.max_pages_per_seq + size_t(j)];
      ++past_entries;
      bad_entries += id < 0 || id >= p.num_pages;
    }
  }
  const int64_t rows = int64_t(p.num_pages) * p.page_size;
  std::vector<double> row(kHeadDimQK);
  for (int64_t r = 0; r < rows; ++r)  // dequantized first value (fp8: NaN byte or NaN scale)
    nan_rows += dequantize_kv_row(p, r, row.data()) == Status::kSuccess && std::isnan(row[0]);
  int64_t neg_inf_lse = 0;
  for (float v : f.reference.lse) neg_inf_lse += std::isinf(v) && v < 0;
  std::printf("  seq_lens:");
  for (int32_t b = 0; b < p.batch && b < 32; ++b) std::printf(" %d", p.seq_lens[size_t(b)]);
  std::printf(p.batch > 32 ? " ...\n" : "\n");
  std::printf("  requests: %d (%lld empty), longest %lld tokens\n", p.batch,
              static_cast<long long>(empty), static_cast<long long>(max_len));
  std::printf("  kv rows: %lld, NaN-poisoned: %lld\n", static_cast<long long>(rows),
              static_cast<long long>(nan_rows));
  std::printf("  table entries past each row's need: %lld, out of [0, num_pages): %lld\n",
              static_cast<long long>(past_entries), static_cast<long long>(bad_entries));
  std::printf("  reference lse = -inf: %lld of %zu\n", static_cast<long long>(neg_inf_lse),
              f.reference.lse.size());
}

int cmd_inspect(int argc, char** argv) {
  std::vector<std::string> files;
  cli::Parser cmd("splitmla_fixture inspect", "splitmla_fixture inspect FILE...",
                  "Prints each fixture's attributes, shapes and what its data exercises.");
  cmd.positionals("FILE", &files);
  const int rc = cmd.parse(argc, argv, 0);
  if (rc >= 0) return rc;
  if (files.empty()) return cmd.usage_error("no fixture files given");
  int failed = 0;
  for (const std::string& path : files) {
    Fixture f;
    const Status s = read_fixture(path, &f);
    if (s != Status::kSuccess) {
      std::fprintf(stderr, "ERROR %s\n", status_message(s).c_str());
      ++failed;
      continue;
    }
    const HostProblem& p = f.problem;
    std::printf("%s\n", path.c_str());
    std::printf("  format: splitmla-fixture\n");
    std::printf("  dtype: %s\n  kv_format: %s\n  causal: %d\n  softmax_scale: %.17g\n",
                dtype_name(p.dtype), kv_format_name(p.kv_format, p.dtype), p.causal ? 1 : 0,
                p.softmax_scale);
    std::printf("  page_size: %d\n  num_heads: %d\n  q_len: %d\n", p.page_size, p.num_heads,
                p.q_len);
    std::printf("  head_dim_qk: %d\n  head_dim_v: %d\n", kHeadDimQK, kHeadDimV);
    std::printf("  source: %s\n  description: %s\n", f.source.c_str(), f.description.c_str());
    if (f.has_seed) std::printf("  seed: %lld\n", static_cast<long long>(f.seed));
    if (f.has_splits) std::printf("  num_splits: %d\n", f.splits.num_splits);
    std::printf("  /inputs/q: [%d, %d, %d, %d] uint16\n", p.batch, p.q_len, p.num_heads,
                kHeadDimQK);
    if (is_fp8(p.kv_format)) {
      std::printf("  /inputs/kv_cache: [%d, %d, %d] uint8\n", p.num_pages, p.page_size,
                  kv_row_bytes(p.kv_format));
      if (p.kv_format == KvFormat::kFp8E4M3)
        std::printf("  /inputs/kv_scale: [1] float32 = %.9g\n", static_cast<double>(p.kv_scale));
    } else {
      std::printf("  /inputs/kv_cache: [%d, %d, %d] uint16\n", p.num_pages, p.page_size,
                  kHeadDimQK);
    }
    std::printf("  /inputs/block_table: [%d, %d] int32\n", p.batch, p.max_pages_per_seq);
    std::printf("  /inputs/seq_lens: [%d] int32\n", p.batch);
    std::printf("  /reference/out: [%d, %d, %d, %d] float32\n", p.batch, p.q_len, p.num_heads,
                kHeadDimV);
    std::printf("  /reference/lse: [%d, %d, %d] float32\n", p.batch, p.q_len, p.num_heads);
    if (f.has_splits) {
      std::printf("  /reference/split_out: [%d, %d, %d, %d, %d] float32\n", p.batch,
                  f.splits.num_splits, p.q_len, p.num_heads, kHeadDimV);
      std::printf("  /reference/split_lse: [%d, %d, %d, %d] float32\n", p.batch,
                  f.splits.num_splits, p.q_len, p.num_heads);
    }
    print_content(f);
    if (!report_data_faults(path, p)) ++failed;
  }
  return failed == 0 ? 0 : kExitFail;
}

}  // namespace

int main(int argc, char** argv) {
  cli::Parser top("splitmla_fixture", kSynopsis,
                  "Makes, replays and inspects SplitMLA's HDF5 fixtures (format versions 1 and 2).");
  if (argc < 2) return top.usage_error("no command given");
  const std::string cmd = argv[1];
  if (cmd == "generate") return cmd_generate(argc - 2, argv + 2);
  if (cmd == "replay") return cmd_replay(argc - 2, argv + 2);
  if (cmd == "inspect") return cmd_inspect(argc - 2, argv + 2);
  if (cmd == "help") {
    top.print_help(stdout);
    return 0;
  }
  if (cmd.empty() || cmd[0] != '-') return top.usage_error("unknown command '" + cmd + "'");
  // Options before a command: only --help and --version exist there.
  const int rc = top.parse(argc, argv, 1);
  return rc >= 0 ? rc : top.usage_error("no command given");
}
