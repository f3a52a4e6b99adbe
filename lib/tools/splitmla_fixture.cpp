// splitmla_fixture: make, replay and inspect HDF5 fixtures (docs/semantics.md section 7).
//
//   splitmla_fixture generate --out DIR --seed N [--set default|faults]
//   splitmla_fixture replay [--backend cpu|gpu|both] [--policy auto|forced:N|chunk:N] FILE...
//   splitmla_fixture inspect FILE...
//
// Exit codes: 0 all passed; 1 a fixture failed or could not be read; 2 bad command line;
// 77 the gpu backend alone was asked for and no CUDA device exists (skipped).
#include <algorithm>
#include <cerrno>
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
#include "tools/generate.hpp"

namespace {

using namespace splitmla;

constexpr int kExitFail = 1, kExitUsage = 2, kExitSkipped = 77;

void usage() {
  std::fprintf(stderr,
               "usage:\n"
               "  splitmla_fixture generate --out DIR --seed N [--set default|faults]\n"
               "  splitmla_fixture replay [--backend cpu|gpu|both] "
               "[--policy auto|forced:N|chunk:N] FILE...\n"
               "  splitmla_fixture inspect FILE...\n");
}

bool parse_u64(const char* s, uint64_t* v) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *v = x;
  return true;
}

int cmd_generate(int argc, char** argv) {
  std::string out_dir, set = "default";
  uint64_t seed = 0;
  bool have_seed = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--out" && next) out_dir = argv[++i];
    else if (a == "--set" && next) set = argv[++i];
    else if (a == "--seed" && next) {
      if (!parse_u64(argv[++i], &seed)) {
        std::fprintf(stderr, "generate: --seed '%s' is not a non-negative integer\n", argv[i]);
        return kExitUsage;
      }
      have_seed = true;
    } else {
      std::fprintf(stderr, "generate: unknown or incomplete argument '%s'\n", a.c_str());
      usage();
      return kExitUsage;
    }
  }
  if (out_dir.empty() || !have_seed) {
    std::fprintf(stderr, "generate: --out DIR and --seed N are required\n");
    return kExitUsage;
  }
  const std::vector<tools::CaseSpec> cases = tools::fixture_set(set);
  if (cases.empty()) {
    std::fprintf(stderr, "generate: unknown --set '%s' (known: default, faults)\n", set.c_str());
    return kExitUsage;
  }
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
    Status s = tools::build_case(c, seed, &f);
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

int cmd_replay(int argc, char** argv) {
  bool want_cpu = true, want_gpu = false;
  std::string backend = "cpu";
  SplitPolicy policy = SplitPolicy::automatic();
  std::vector<std::string> files;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const char* next = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--backend" && next) {
      backend = argv[++i];
      if (backend != "cpu" && backend != "gpu" && backend != "both") {
        std::fprintf(stderr, "replay: --backend '%s', expected cpu, gpu or both\n",
                     backend.c_str());
        return kExitUsage;
      }
      want_cpu = backend != "gpu";
      want_gpu = backend != "cpu";
    } else if (a == "--policy" && next) {
      const Status s = parse_policy(argv[++i], &policy);
      if (s != Status::kSuccess) {
        std::fprintf(stderr, "replay: %s\n", status_message(s).c_str());
        return kExitUsage;
      }
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "replay: unknown or incomplete argument '%s'\n", a.c_str());
      usage();
      return kExitUsage;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no fixture files given\n");
    return kExitUsage;
  }
  int failed = 0, cpu_passed = 0, gpu_passed = 0;
  bool gpu_skipped = false;
  for (const std::string& path : files) {
    Fixture f;
    const Status rs = read_fixture(path, &f);
    if (rs != Status::kSuccess) {
      std::printf("%s: ERROR %s\n", path.c_str(), status_message(rs).c_str());
      ++failed;
      continue;
    }
    if (want_cpu) {
      std::string report;
      const Status s = replay_loaded(f, path, Backend::kCpu, policy, &report);
      std::fputs(report.c_str(), stdout);
      if (s == Status::kSuccess) ++cpu_passed;
      else {
        if (s != Status::kMismatch)
          std::printf("%s [cpu]: ERROR %s\n", path.c_str(), status_message(s).c_str());
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
  std::printf("replay: %zu file(s); cpu %s; gpu %s; %d failure(s)\n", files.size(),
              want_cpu ? (std::to_string(cpu_passed) + " passed").c_str() : "not run",
              !want_gpu      ? "not run"
              : gpu_skipped ? "skipped (no CUDA device)"
                            : (std::to_string(gpu_passed) + " passed, policy " +
                               policy_text(policy))
                                  .c_str(),
              failed);
  if (failed > 0) return kExitFail;
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
    const int64_t need = (n + p.page_size - 1) / p.page_size;
    for (int64_t j = need; j < p.max_pages_per_seq; ++j) {
      const int32_t id = p.block_table[size_t(b) * p.max_pages_per_seq + size_t(j)];
      ++past_entries;
      bad_entries += id < 0 || id >= p.num_pages;
    }
  }
  const int64_t rows = int64_t(p.num_pages) * p.page_size;
  for (int64_t r = 0; r < rows; ++r)
    nan_rows += std::isnan(half_bits_to_float(p.dtype, p.kv_cache[size_t(r) * kHeadDimQK]));
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
  if (argc == 0) {
    std::fprintf(stderr, "inspect: no fixture files given\n");
    return kExitUsage;
  }
  int failed = 0;
  for (int i = 0; i < argc; ++i) {
    Fixture f;
    const Status s = read_fixture(argv[i], &f);
    if (s != Status::kSuccess) {
      std::printf("%s: ERROR %s\n", argv[i], status_message(s).c_str());
      ++failed;
      continue;
    }
    const HostProblem& p = f.problem;
    std::printf("%s\n", argv[i]);
    std::printf("  format: splitmla-fixture, version 1\n");
    std::printf("  dtype: %s\n  softmax_scale: %.17g\n", dtype_name(p.dtype), p.softmax_scale);
    std::printf("  page_size: %d\n  num_heads: %d\n  q_len: %d\n", p.page_size, p.num_heads,
                p.q_len);
    std::printf("  head_dim_qk: %d\n  head_dim_v: %d\n", kHeadDimQK, kHeadDimV);
    std::printf("  source: %s\n  description: %s\n", f.source.c_str(), f.description.c_str());
    if (f.has_seed) std::printf("  seed: %lld\n", static_cast<long long>(f.seed));
    if (f.has_splits) std::printf("  num_splits: %d\n", f.splits.num_splits);
    std::printf("  /inputs/q: [%d, %d, %d, %d] uint16\n", p.batch, p.q_len, p.num_heads,
                kHeadDimQK);
    std::printf("  /inputs/kv_cache: [%d, %d, %d] uint16\n", p.num_pages, p.page_size,
                kHeadDimQK);
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
  }
  return failed == 0 ? 0 : kExitFail;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return kExitUsage;
  }
  const std::string cmd = argv[1];
  if (cmd == "generate") return cmd_generate(argc - 2, argv + 2);
  if (cmd == "replay") return cmd_replay(argc - 2, argv + 2);
  if (cmd == "inspect") return cmd_inspect(argc - 2, argv + 2);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage();
    return 0;
  }
  std::fprintf(stderr, "splitmla_fixture: unknown command '%s'\n", cmd.c_str());
  usage();
  return kExitUsage;
}
