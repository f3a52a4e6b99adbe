// splitmla_cp_bench: the multi-GPU (context-parallel) suite of docs/benchmark.md.
//
// Question: at which context length does a request sharded over two GPUs of one host (NCCL
// all-gather or all-to-all of the shard partials, then the merge) beat the same request on one
// GPU, and what do the exchange and the merge cost per call?
//
// Cases: batch 1 and 8, 128k / 512k / 1M tokens per request, 16 and 128 heads, bf16, page 64;
// layouts interleaved with g = 64 (one page per block, vLLM's interleave size = page) and
// contiguous ranges of half the context (Helix); partials fp32 + all-gather, bf16 + all-gather
// (the default: partials in q's dtype), bf16 + all-to-all. One process, one thread per GPU, ncclCommInitAll.
// The one-GPU decode of the same inputs runs on GPU 0 in the same process (graph replays, median,
// planner included as in the CP step); the CP step's output on rank 0 is compared with it
// (bf16 tolerance) before timing. Timed: the whole CP step (shard + exchange + merge) as one
// graph, the shard alone, and exchange + merge alone, each replayed back to back on both ranks
// with events on rank 0 between replays, median.
//
// Command (2-GPU machine, from the repository root, after building):
//   build/experiments/splitmla_cp_bench                    # -> data/results/cp-<gpu>x2-<date>.csv
//   build/experiments/splitmla_cp_bench --quick --out /tmp/cp.csv   # 128k, batch 1 only
// Exit 77 (skipped) with fewer than 2 GPUs or a build without NCCL.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "splitmla/cp_nccl.hpp"
#include "tools/cli.hpp"

using namespace splitmla;
using namespace splitmla::experiments;

namespace {

constexpr int kWorld = 2;

struct Options {
  bool quick = false;
  int reps = 50;
  std::string out;
};

Options parse(int argc, char** argv) {
  Options o;
  cli::Parser cli("splitmla_cp_bench", "splitmla_cp_bench [--quick] [--reps N] [--out FILE.csv]",
                  "Two-GPU context-parallel decode against one GPU (docs/benchmark.md).");
  cli.flag("--quick", "128k tokens, batch 1 only", &o.quick)
      .int_option("--reps", "timed graph replays per point (median)", 5, 100000, &o.reps)
      .option("--out", "FILE.csv", "results file (default: data/results/cp-<gpu>x2-<date>.csv)",
              &o.out);
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) std::exit(rc);
  return o;
}

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) die("%s: %s", what, ncclGetErrorString(r));
}

// Runs f(rank) on one thread per GPU.
void on_both(const std::function<void(int)>& f) {
  std::array<std::thread, kWorld> t;
  for (int r = 0; r < kWorld; ++r)
    t[r] = std::thread([&, r] {
      check_cuda(cudaSetDevice(r), "cudaSetDevice");
      f(r);
    });
  for (auto& th : t) th.join();
}

struct Mode {
  PartialType type;
  CpExchange exchange;
};

// One rank's buffers for one case: q/kv/lens shared with the inputs on GPU 0, copies on GPU 1.
struct RankBufs {
  void* q = nullptr;
  void* kv = nullptr;
  int32_t* lens = nullptr;
  int32_t* table = nullptr;
  void* out = nullptr;
  float* lse = nullptr;
  bool owns_inputs = false;
  cudaStream_t stream = nullptr;
  // The per-mode buffers (table, outputs, stream).
  void release_mode(int dev) {
    cudaSetDevice(dev);
    cudaFree(table);
    cudaFree(out);
    cudaFree(lse);
    if (stream) cudaStreamDestroy(stream);
    table = nullptr;
    out = nullptr;
    lse = nullptr;
    stream = nullptr;
  }
  // The per-case inputs, where this rank owns a copy.
  void release_inputs(int dev) {
    cudaSetDevice(dev);
    if (owns_inputs) {
      cudaFree(q);
      cudaFree(kv);
      cudaFree(lens);
    }
    q = kv = nullptr;
    lens = nullptr;
  }
};

// Median of the gaps between consecutive events recorded around back-to-back launches of `exec`.
double time_graph(cudaGraphExec_t exec, cudaStream_t s, int reps, bool record) {
  for (int i = 0; i < 3; ++i) check_cuda(cudaGraphLaunch(exec, s), "warm-up replay");
  std::vector<cudaEvent_t> ev(static_cast<size_t>(reps) + 1);
  for (auto& e : ev) check_cuda(cudaEventCreate(&e), "cudaEventCreate");
  for (int i = 0; i < reps; ++i) {
    if (record) check_cuda(cudaEventRecord(ev[static_cast<size_t>(i)], s), "cudaEventRecord");
    check_cuda(cudaGraphLaunch(exec, s), "replay");
  }
  if (record) check_cuda(cudaEventRecord(ev[static_cast<size_t>(reps)], s), "cudaEventRecord");
  check_cuda(cudaStreamSynchronize(s), "replays");
  std::vector<double> t;
  if (record)
    for (int i = 0; i < reps; ++i) {
      float ms = 0.f;
      check_cuda(cudaEventElapsedTime(&ms, ev[static_cast<size_t>(i)], ev[static_cast<size_t>(i) + 1]), "elapsed");
      t.push_back(ms * 1000.0);
    }
  for (auto& e : ev) cudaEventDestroy(e);
  if (t.empty()) return -1.0;
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

template <class F>
cudaGraphExec_t capture(cudaStream_t s, F&& enqueue) {
  cudaGraph_t g = nullptr;
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "begin capture");
  const Status st = enqueue();
  check_cuda(cudaStreamEndCapture(s, &g), "end capture");
  check(st, "captured call");
  check_cuda(cudaGraphInstantiate(&exec, g, 0), "instantiate");
  cudaGraphDestroy(g);
  return exec;
}

float bf16_value(uint16_t b) { return bf16_to_float(b); }

}  // namespace

int main(int argc, char** argv) {
  elapsed_s();
  const Options opt = parse(argc, argv);
  GpuInfo gpu;
  if (!open_device(&gpu)) return cli::kExitSkipped;
  if (device_count() < kWorld) {
    std::fprintf(stderr, "skipped: needs 2 CUDA devices, found %d\n", device_count());
    return cli::kExitSkipped;
  }
  if (!cp_nccl_built()) {
    std::fprintf(stderr, "skipped: splitmla_nccl was built without NCCL\n");
    return cli::kExitSkipped;
  }
  const std::string commit = build_commit();
  const std::string out = opt.out.empty()
                              ? "data/results/cp-" + gpu.short_name + "x2-" + today() + ".csv"
                              : opt.out;
  std::printf("splitmla_cp_bench on 2 x %s, CUDA %s, NCCL %d, commit %s\n", gpu.name.c_str(),
              gpu.cuda.c_str(), NCCL_VERSION_CODE, commit.c_str());

  std::array<ncclComm_t, kWorld> comm{};
  const int devs[kWorld] = {0, 1};
  nccl_check(ncclCommInitAll(comm.data(), kWorld, devs), "ncclCommInitAll");

  CsvWriter csv;
  csv.open(out,
           {"case", "heads", "batch", "context", "page", "dtype", "layout", "partial_type",
            "exchange", "world", "time_1gpu_us", "time_1gpu_with_plan_us", "time_cp_us",
            "shard_us", "exchange_merge_us", "speedup", "speedup_vs_with_plan",
            "partials_bytes", "max_abs_err_vs_1gpu", "gpu", "cuda", "nccl", "commit"},
           false);

  const std::vector<int> contexts = opt.quick ? std::vector<int>{131072}
                                              : std::vector<int>{131072, 524288, 1048576};
  const std::vector<int> batches = opt.quick ? std::vector<int>{1} : std::vector<int>{1, 8};
  const Mode modes[] = {{PartialType::kFloat32, CpExchange::kAllGather},
                        {PartialType::kBFloat16, CpExchange::kAllGather},
                        {PartialType::kBFloat16, CpExchange::kAllToAll}};
  const float scale = 0.0723f;
  int failures = 0;

  for (int heads : {16, 128})
    for (int batch : batches)
      for (int ctx : contexts) {
        check_cuda(cudaSetDevice(0), "cudaSetDevice(0)");
        Shape sh;
        sh.dtype = DType::kBFloat16;
        sh.heads = heads;
        sh.page = 64;
        sh.seq_lens.assign(static_cast<size_t>(batch), ctx);
        DeviceInputs in(sh, 1234 + heads + batch + ctx, scale);
        const std::string name = "H" + std::to_string(heads) + "_B" + std::to_string(batch) + "_L" +
                                 std::to_string(ctx / 1024) + "k";

        // One GPU.
        cudaStream_t s0;
        check_cuda(cudaStreamCreateWithFlags(&s0, cudaStreamNonBlocking), "stream");
        ScratchPool pool;
        check(pool.init(), "pool.init");
        TimingOptions topt;
        topt.reps = opt.reps;
        topt.parts = false;
        const PointResult single = measure_point(config_for(sh, SplitPolicy::automatic()), {&in}, pool, s0, topt, gpu, nullptr);
        const size_t out_elems = size_t(batch) * heads * kHeadDimV;
        std::vector<uint16_t> single_out(out_elems);
        check_cuda(cudaMemcpy(single_out.data(), in.args().out, out_elems * 2, cudaMemcpyDeviceToHost), "read 1-GPU out");
        std::printf("%-16s 1 GPU: %.1f us (with plan %.1f)\n", name.c_str(), single.time_us, single.time_with_plan_us);

        // The global cache on GPU 1 as well (rank 1 reads only its pages of it).
        const int32_t width = sh.max_pages_per_seq();
        const size_t kv_bytes = size_t(sh.num_pages()) * sh.page * kHeadDimQK * 2;
        const size_t q_bytes = size_t(batch) * heads * kHeadDimQK * 2;
        std::array<RankBufs, kWorld> rb;
        rb[0].q = const_cast<void*>(in.args().q);
        rb[0].kv = const_cast<void*>(in.args().kv_cache);
        rb[0].lens = const_cast<int32_t*>(in.args().seq_lens);
        check_cuda(cudaSetDevice(1), "cudaSetDevice(1)");
        rb[1].owns_inputs = true;
        check_cuda(cudaMalloc(&rb[1].q, q_bytes), "q on GPU 1");
        check_cuda(cudaMalloc(&rb[1].kv, kv_bytes), "kv on GPU 1");
        check_cuda(cudaMalloc(reinterpret_cast<void**>(&rb[1].lens), size_t(batch) * 4), "lens on GPU 1");
        check_cuda(cudaMemcpyPeer(rb[1].q, 1, rb[0].q, 0, q_bytes), "copy q");
        check_cuda(cudaMemcpyPeer(rb[1].kv, 1, rb[0].kv, 0, kv_bytes), "copy kv");
        check_cuda(cudaMemcpyPeer(rb[1].lens, 1, rb[0].lens, 0, size_t(batch) * 4), "copy lens");

        for (const ShardSpec& base : {ShardSpec{ShardLayout::kInterleaved, kWorld, 0, 64, 0},
                                      ShardSpec{ShardLayout::kContiguous, kWorld, 0, 1, (ctx / 2 + 63) / 64 * 64}})
          for (const Mode& m : modes) {
            std::array<CpPlan, kWorld> plan;
            std::array<void*, kWorld> ws{};
            std::array<DecodeArgs, kWorld> args;
            std::array<int32_t, kWorld> first{}, count{};
            for (int r = 0; r < kWorld; ++r) {
              check_cuda(cudaSetDevice(r), "cudaSetDevice");
              ShardSpec s = base;
              s.rank = r;
              // Page-granular shards: local page j is global logical page (interleaved) j*2+r,
              // (contiguous) range/64*r + j.
              const int64_t local_cap = shard_local_length(s, int64_t(width) * sh.page);
              const int32_t lw = int32_t((local_cap + sh.page - 1) / sh.page) + 1;
              std::vector<int32_t> table(size_t(batch) * lw, sh.num_pages());
              const std::vector<int32_t>& g = in.host_block_table();
              for (int b = 0; b < batch; ++b)
                for (int32_t j = 0; j < lw; ++j) {
                  const int64_t gl = base.layout == ShardLayout::kInterleaved ? int64_t(j) * kWorld + r
                                                                              : int64_t(base.range / sh.page) * r + j;
                  if (gl < width) table[size_t(b) * lw + j] = g[size_t(b) * width + gl];
                }
              rb[r].release_mode(r);  // the previous mode's table, outputs and stream
              check_cuda(cudaMalloc(reinterpret_cast<void**>(&rb[r].table), table.size() * 4), "table");
              check_cuda(cudaMemcpy(rb[r].table, table.data(), table.size() * 4, cudaMemcpyHostToDevice), "table");
              check_cuda(cudaMalloc(&rb[r].out, out_elems * 2), "out");
              check_cuda(cudaMalloc(reinterpret_cast<void**>(&rb[r].lse), size_t(batch) * heads * 4), "lse");
              check_cuda(cudaStreamCreateWithFlags(&rb[r].stream, cudaStreamNonBlocking), "stream");
              CpConfig c;
              c.decode = config_for(sh, SplitPolicy::automatic());
              c.decode.max_pages_per_seq = lw;
              c.shard = s;
              c.partial_type = m.type;
              c.exchange = m.exchange;
              check(make_cp_plan(c, &plan[r]), "make_cp_plan");
              check_cuda(cudaMalloc(&ws[r], plan[r].workspace_bytes), "CP workspace");
              cp_rank_heads(plan[r], r, &first[r], &count[r]);
              DecodeArgs a;
              a.batch = batch;
              a.num_pages = sh.num_pages();
              a.max_pages_per_seq = lw;
              a.softmax_scale = scale;
              a.set_dense_strides(heads, 1, sh.page);
              a.q = rb[r].q;
              a.kv_cache = rb[r].kv;
              a.block_table = rb[r].table;
              a.seq_lens = rb[r].lens;
              a.out = static_cast<uint16_t*>(rb[r].out) + first[r] * a.out_stride_head;
              a.lse = rb[r].lse + first[r];
              args[r] = a;
            }

            std::array<double, kWorld> t_full{}, t_shard{}, t_xm{};
            on_both([&](int r) {
              Workspace w{ws[r], plan[r].workspace_bytes, plan[r].shard.device};
              cudaStream_t s = rb[r].stream;
              check(cp_decode_nccl(plan[r], args[r], w, comm[r], s), "cp_decode_nccl");
              check_cuda(cudaStreamSynchronize(s), "eager CP step");
              cudaGraphExec_t full = capture(s, [&] { return cp_decode_nccl(plan[r], args[r], w, comm[r], s); });
              cudaGraphExec_t shard = capture(s, [&] {
                return cp_shard_partials(plan[r], args[r], w, cp_nccl_send_buffer(plan[r], w, batch), s);
              });
              cudaGraphExec_t xm = capture(s, [&] { return cp_exchange_merge_nccl(plan[r], args[r], w, comm[r], s); });
              t_full[r] = time_graph(full, s, opt.reps, true);
              t_shard[r] = time_graph(shard, s, opt.reps, true);
              t_xm[r] = time_graph(xm, s, opt.reps, true);
              cudaGraphExecDestroy(full);
              cudaGraphExecDestroy(shard);
              cudaGraphExecDestroy(xm);
            });

            // Rank 0's heads against the one-GPU output (the last graph replay left them).
            check_cuda(cudaSetDevice(0), "cudaSetDevice(0)");
            std::vector<uint16_t> cp_out(out_elems);
            check_cuda(cudaMemcpy(cp_out.data(), rb[0].out, out_elems * 2, cudaMemcpyDeviceToHost), "read CP out");
            double max_err = 0.0;
            bool ok = true;
            for (int b = 0; b < batch; ++b)
              for (int h = first[0]; h < first[0] + count[0]; ++h)
                for (int c = 0; c < kHeadDimV; ++c) {
                  const size_t i = (size_t(b) * heads + h) * kHeadDimV + c;
                  const double x = bf16_value(cp_out[i]), y = bf16_value(single_out[i]);
                  const double e = std::fabs(x - y);
                  if (!(e <= 1e-2 + 1e-2 * std::fabs(y))) ok = false;
                  if (e > max_err || std::isnan(e)) max_err = std::isnan(e) ? INFINITY : e;
                }
            if (!ok) {
              ++failures;
              std::fprintf(stderr, "%s %s %s %s: CP output differs from one GPU (max abs err %g)\n",
                           name.c_str(), shard_layout_name(base.layout), partial_type_name(m.type),
                           cp_exchange_name(m.exchange), max_err);
            }
            CpLayout l;
            check(cp_layout(plan[0], batch, &l), "cp_layout");
            const double tcp = std::max(t_full[0], t_full[1]);
            std::printf("%-16s %-11s %-8s %-10s: CP %.1f us (shard %.1f, exchange+merge %.1f) speedup %.2f\n",
                        name.c_str(), shard_layout_name(base.layout), partial_type_name(m.type),
                        cp_exchange_name(m.exchange), tcp, t_shard[0], t_xm[0],
                        single.time_with_plan_us / tcp);
            csv.row({name, fmt_int(heads), fmt_int(batch), fmt_int(ctx), fmt_int(sh.page), "bf16",
                     shard_layout_name(base.layout), partial_type_name(m.type), cp_exchange_name(m.exchange),
                     fmt_int(kWorld), fmt(single.time_us, 2), fmt(single.time_with_plan_us, 2),
                     ok ? fmt(tcp, 2) : "", fmt(std::max(t_shard[0], t_shard[1]), 2),
                     fmt(std::max(t_xm[0], t_xm[1]), 2), ok ? fmt(single.time_us / tcp, 3) : "",
                     ok ? fmt(single.time_with_plan_us / tcp, 3) : "", fmt_int(int64_t(l.partials_bytes)),
                     fmt(max_err, 5), gpu.short_name, gpu.cuda, std::to_string(NCCL_VERSION_CODE), commit});
            for (int r = 0; r < kWorld; ++r) {
              cudaSetDevice(r);
              cudaFree(ws[r]);
            }
          }
        for (int r = 0; r < kWorld; ++r) {
          rb[r].release_mode(r);
          rb[r].release_inputs(r);  // rank 0's inputs belong to DeviceInputs (owns_inputs false)
        }
        cudaSetDevice(0);
        cudaStreamDestroy(s0);
      }
  for (ncclComm_t c : comm) ncclCommDestroy(c);
  std::printf("wrote %s%s\n", out.c_str(), failures ? " (with failures)" : "");
  return failures == 0 ? 0 : 1;
}
