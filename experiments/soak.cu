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
//
// The pieces: soak.hpp / soak_calls.cu (shared), soak_differential.cu, soak_streams.cu,
// soak_graph.cu, soak_bigoffsets.cu (one phase each), and here the options and main.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "soak.hpp"
#include "tools/cli.hpp"

namespace splitmla::soak {

Log g_log;

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

}  // namespace splitmla::soak

int main(int argc, char** argv) {
  using namespace splitmla::soak;
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
