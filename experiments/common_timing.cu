// The experiment drivers' timing: one decode configuration planned, checked and timed in CUDA
// graphs (measure_point).
#include <chrono>
#include <memory>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <vector>

#include "common.hpp"
#include "common_device.hpp"

namespace splitmla::experiments {
namespace {

// Holds the stream until the host has queued the timed launches (bounded by `ns`).
__global__ void spin_ns(uint64_t ns) {
  uint64_t start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

}  // namespace

using detail::L2Flusher;
using detail::median;

// ---- timing ---------------------------------------------------------------------------------

bool have_part_timing() {
#ifdef SPLITMLA_HAVE_PART_TIMING
  return true;
#else
  return false;
#endif
}

bool have_part1_occupancy() {
#ifdef SPLITMLA_HAVE_PART1_OCCUPANCY
  return true;
#else
  return false;
#endif
}

namespace {

// Captures what `enqueue` puts on `stream` into an instantiated graph.
template <class F>
cudaGraphExec_t capture(cudaStream_t stream, const char* what, F&& enqueue) {
  check_cuda(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  const Status st = enqueue();
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream, &graph);
  check(st, what);
  check_cuda(e, "end capture");
  cudaGraphExec_t exec = nullptr;
  check_cuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  cudaGraphDestroy(graph);
  return exec;
}

// Median time of one replay, rotating over `execs`. The stream is first held by a spin kernel so
// that the host can queue the replays ahead of the GPU; each replay sits between its own pair of
// events (an L2 flush, when asked, goes before the first event of the pair).
double time_graphs(const std::vector<cudaGraphExec_t>& execs, const TimingOptions& opt,
                   const L2Flusher* flush, cudaStream_t stream) {
  const int reps = std::max(opt.reps, 1);
  std::vector<cudaEvent_t> ev(size_t(reps) * 2);
  for (auto& e : ev) check_cuda(cudaEventCreate(&e), "cudaEventCreate");
  const uint64_t hold_ns = std::min<uint64_t>(50'000'000, 1'000'000 + uint64_t(reps + opt.warmup) * 25'000);
  spin_ns<<<1, 1, 0, stream>>>(hold_ns);
  for (int i = 0; i < opt.warmup; ++i) {
    if (flush) flush->launch(stream);
    check_cuda(cudaGraphLaunch(execs[i % execs.size()], stream), "cudaGraphLaunch");
  }
  for (int i = 0; i < reps; ++i) {
    if (flush) flush->launch(stream);
    cudaEventRecord(ev[2 * i], stream);
    check_cuda(cudaGraphLaunch(execs[i % execs.size()], stream), "cudaGraphLaunch");
    cudaEventRecord(ev[2 * i + 1], stream);
  }
  check_cuda(cudaStreamSynchronize(stream), "timed replays");
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    float ms = 0.f;
    check_cuda(cudaEventElapsedTime(&ms, ev[2 * i], ev[2 * i + 1]), "cudaEventElapsedTime");
    us.push_back(double(ms) * 1e3);
  }
  for (auto& e : ev) cudaEventDestroy(e);
  return median(us);
}

#ifdef SPLITMLA_TRACE_V2
}  // namespace
}  // namespace splitmla::experiments
extern "C" cudaError_t splitmla_v2_trace_take(unsigned long long* host, int rows);
extern "C" cudaError_t splitmla_r16_trace_take(unsigned long long* host, int rows);
namespace splitmla::experiments {
namespace {
// The part1 kernels' per-CTA timelines of the last replay (a measurement build,
// -DSPLITMLA_TRACE_V2; lib/kernels/common/trace.cuh, the points in each kernel): a few lines of
// medians and maxima over the CTAs, in microseconds from the earliest CTA's entry or between two
// points of one CTA.
struct Trace {
  std::vector<unsigned long long> t;
  std::vector<const unsigned long long*> rows;  // the CTAs that reached `first` and every `ends`
  unsigned long long t0 = ~0ull, tend = 0;      // earliest entry, latest end
};
template <class Take>
bool take_trace(Take take, int slots, int entry, std::initializer_list<int> ends, const char* what, Trace* tr) {
  constexpr int kCtas = 264;
  tr->t.assign(size_t(kCtas) * slots, 0ull);
  if (take(tr->t.data(), kCtas) != cudaSuccess) {
    std::fprintf(stderr, "%s: read failed\n", what);
    return false;
  }
  for (int i = 0; i < kCtas; ++i) {
    const unsigned long long* r = &tr->t[size_t(i) * slots];
    bool ok = r[entry] != 0;
    for (int e : ends) ok = ok && r[e] != 0;
    if (!ok) continue;
    tr->rows.push_back(r);
    tr->t0 = std::min(tr->t0, r[entry]);
    for (int e : ends) tr->tend = std::max(tr->tend, r[e]);
  }
  return !tr->rows.empty();
}
double trace_us(unsigned long long a, unsigned long long b) { return (double(a) - double(b)) * 1e-3; }
template <class F>
void trace_line(const char* what, const std::vector<const unsigned long long*>& rows, F f) {
  if (rows.empty()) return;
  std::vector<double> v;
  for (auto r : rows) v.push_back(f(r));
  std::sort(v.begin(), v.end());
  std::fprintf(stderr, "    %-44s med %8.2f  max %8.2f\n", what, v[v.size() / 2], v.back());
}

// The mma.sync kernel's 16-row bf16 instance (points in part1.cuh).
void r16_trace_report(const DecodeConfig& config, double time_us) {
  Trace tr;
  if (!take_trace(splitmla_r16_trace_take, 9, 0, {3}, "trace16", &tr)) return;
  const auto& all = tr.rows;
  const unsigned long long t0 = tr.t0;
  std::fprintf(stderr, "trace16: heads %d q_len %d: %zu CTAs, event time %.1f us, span %.1f us\n",
               config.num_heads, config.q_len, all.size(), time_us, trace_us(tr.tend, t0));
  trace_line("entry after the first CTA's", all, [&](auto r) { return trace_us(r[0], t0); });
  trace_line("tile 0 landed (from entry)", all, [&](auto r) { return trace_us(r[1], r[0]); });
  trace_line("tile 0 -> last tile loop done, us a tile", all,
             [&](auto r) { return r[8] > 1 ? trace_us(r[2], r[1]) / double(r[8] - 1) : 0.0; });
  trace_line("last tile loop done -> end", all, [&](auto r) { return trace_us(r[3], r[2]); });
  trace_line("CTA end (from the first entry)", all, [&](auto r) { return trace_us(r[3], t0); });
  trace_line("tiles", all, [&](auto r) { return double(r[8]); });
  trace_line("SM GHz (clock64 / globaltimer)", all, [&](auto r) { return double(r[7] - r[4]) / double(r[3] - r[0]); });
}

// v2 (points in lib/kernels/part1/wgmma/part1_wgmma.cuh).
void v2_trace_report(const DecodeConfig& config, double time_us) {
  Trace tr;
  if (!take_trace(splitmla_v2_trace_take, 24, 0, {8, 9}, "trace", &tr)) return;
  const auto& all = tr.rows;
  const unsigned long long t0 = tr.t0;
  std::vector<const unsigned long long*> multi;  // (A) of the last piece after the first piece's Q
  for (auto r : all)
    if (r[3] > r[1]) multi.push_back(r);
  std::fprintf(stderr, "trace: heads %d q_len %d: %zu CTAs (%zu with two pieces or more), event time %.1f us, span %.1f us\n",
               config.num_heads, config.q_len, all.size(), multi.size(), time_us, trace_us(tr.tend, t0));
  trace_line("entry after the first CTA's", all, [&](auto r) { return trace_us(r[0], t0); });
  trace_line("first piece: WG0 has Q (from entry)", all, [&](auto r) { return trace_us(r[1], r[0]); });
  trace_line("first piece: WG0 has tile 0 (from entry)", all, [&](auto r) { return trace_us(r[2], r[0]); });
  trace_line("boundary: WG0 waits at (A)", multi, [&](auto r) { return trace_us(r[4], r[3]); });
  trace_line("boundary: WG1 stored the first output (from WG0 at A)", multi, [&](auto r) { return trace_us(r[11], r[3]); });
  trace_line("boundary: WG0 has Q (from A)", multi, [&](auto r) { return trace_us(r[5], r[4]); });
  trace_line("boundary: WG0 has tile 0 (from Q)", multi, [&](auto r) { return trace_us(r[6], r[5]); });
  trace_line("first tile 0 -> last pready, us a tile", all,
             [&](auto r) { return r[23] > 1 ? trace_us(r[7], r[2]) / double(r[23] - 1) : 0.0; });
  trace_line("last pready -> WG1 passes (B)", all, [&](auto r) { return trace_us(r[10], r[7]); });
  trace_line("last pready -> WG0 end", all, [&](auto r) { return trace_us(r[8], r[7]); });
  trace_line("WG1 (B) -> WG1 end (the output store)", all, [&](auto r) { return trace_us(r[9], r[10]); });
  trace_line("CTA end (from the first entry)", all, [&](auto r) { return trace_us(std::max(r[8], r[9]), t0); });
  trace_line("tiles", all, [&](auto r) { return double(r[23]); });
  trace_line("SM GHz (clock64 / globaltimer, entry to WG0 end)", all,
             [&](auto r) { return double(r[20] - r[12]) / double(r[8] - r[0]); });
}
#endif

}  // namespace

PointResult measure_point(const DecodeConfig& config, const std::vector<DeviceInputs*>& sets,
                          ScratchPool& pool, cudaStream_t stream, const TimingOptions& opt,
                          const GpuInfo& gpu, const ValidationSample* sample) {
  PointResult r;
  Plan plan;
  check(make_plan(config, &plan), "make_plan");
  r.part1 = plan.part1;
  r.key_tile = plan.key_tile;
  check(pool.reserve_for(plan), "ScratchPool::reserve_for");
  Workspace ws;
  check(pool.workspace_for(plan, &ws), "ScratchPool::workspace_for");
  for (DeviceInputs* in : sets) check(can_implement(plan, in->args()), "can_implement");

  // One untimed run on set 0: error word, schedule, outputs. Every set shares the seq_lens, so
  // the schedule left in the workspace serves the run-only graphs of every set.
  check_cuda(cudaMemsetAsync(sets[0]->args().out, 0xff,
                             size_t(sets[0]->shape().batch()) * config.q_len * config.num_heads * kHeadDimV * 2,
                             stream),
             "poison out");
  check(decode(plan, sets[0]->args(), ws, stream), "decode");
  check_cuda(cudaStreamSynchronize(stream), "first decode");
  ErrorReport errors;
  check(read_errors(plan, ws, sets[0]->shape().batch(), stream, &errors), "read_errors");
  if (errors.any != 0) die("the device recorded error flags 0x%x on valid inputs", errors.any);
  ScheduleInfo sched;
  check(read_schedule(plan, ws, sets[0]->shape().batch(), stream, &sched), "read_schedule");
  r.pieces = sched.num_pieces;
  for (int32_t n : sched.splits_per_request) r.splits_max = std::max(r.splits_max, int(n));
  if (sample) {
    r.validation = validate(*sample, *sets[0]);
    r.validated = true;
    if (!r.validation.ok) {
      r.time_us = -1.0;  // wrong outputs are not timed
      return r;
    }
  }

  r.grid_ctas = plan.work_ctas * plan.row_blocks;
#ifdef SPLITMLA_HAVE_PART1_OCCUPANCY
  {
    int per_sm = 0, grid = 0;
    check(part1_occupancy(plan, &per_sm, &grid), "part1_occupancy");
    r.grid_ctas = grid;
    r.blocks_per_sm = per_sm;
    const double wave = double(per_sm) * gpu.num_sms;
    if (wave > 0) {
      r.waves = grid / wave;
      const double rem = std::fmod(double(grid), wave);
      r.last_wave_fill = grid == 0 ? 0.0 : (rem == 0.0 ? 1.0 : rem / wave);
    }
  }
#else
  (void)gpu;  // TODO(experiments): waves need splitmla::part1_occupancy once decode.hpp has it.
#endif

  std::unique_ptr<L2Flusher> flush;
  if (opt.flush_l2) flush = std::make_unique<L2Flusher>(gpu.l2_bytes);

  auto time_each = [&](const char* what, auto&& enqueue) {
    std::vector<cudaGraphExec_t> execs;
    for (DeviceInputs* in : sets)
      execs.push_back(capture(stream, what, [&] { return enqueue(in->args()); }));
    const double t = time_graphs(execs, opt, flush.get(), stream);
    for (auto e : execs) cudaGraphExecDestroy(e);
    return t;
  };

#ifdef SPLITMLA_TRACE_V2
  v2_trace_report(config, 0.0);  // clears what the untimed run left
  r16_trace_report(config, 0.0);
#endif
  r.time_us = time_each("enqueue_run", [&](const DecodeArgs& a) {
    return enqueue_run(plan, a, ws, stream);
  });
#ifdef SPLITMLA_TRACE_V2
  v2_trace_report(config, r.time_us);
  r16_trace_report(config, r.time_us);
#endif
  if (opt.with_plan)
    r.time_with_plan_us = time_each("decode", [&](const DecodeArgs& a) {
      return decode(plan, a, ws, stream);
    });
#ifdef SPLITMLA_HAVE_PART_TIMING
  if (opt.parts) {
    r.part1_us = time_each("enqueue_part1", [&](const DecodeArgs& a) {
      return enqueue_part1(plan, a, ws, stream);
    });
    r.part2_us = time_each("enqueue_part2", [&](const DecodeArgs& a) {
      return enqueue_part2(plan, a, ws, stream);
    });
  }
#endif
  if (opt.host) {
    // Host cost of one enqueue_run call: launches only, no synchronization inside the loop.
    std::vector<double> us;
    for (int i = 0; i < opt.host_reps; ++i) {
      const DecodeArgs& a = sets[size_t(i) % sets.size()]->args();
      const auto t0 = std::chrono::steady_clock::now();
      const Status st = enqueue_run(plan, a, ws, stream);
      const auto t1 = std::chrono::steady_clock::now();
      check(st, "enqueue_run (host timing)");
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      if (i % 64 == 63) check_cuda(cudaStreamSynchronize(stream), "host timing drain");
    }
    check_cuda(cudaStreamSynchronize(stream), "host timing");
    r.host_us = median(us);
  }
  check_cuda(cudaGetLastError(), "after timing");
  if (sample) {
    // Validate again through one more graph replay, after all the timed ones: a replay that
    // corrupts its own outputs or the workspace would otherwise go unseen.
    check_cuda(cudaMemsetAsync(sets[0]->args().out, 0xff,
                               size_t(sets[0]->shape().batch()) * config.q_len * config.num_heads * kHeadDimV * 2,
                               stream),
               "poison out");
    cudaGraphExec_t again = capture(stream, "decode", [&] {
      return decode(plan, sets[0]->args(), ws, stream);
    });
    check_cuda(cudaGraphLaunch(again, stream), "cudaGraphLaunch (validation)");
    check_cuda(cudaStreamSynchronize(stream), "validation replay");
    cudaGraphExecDestroy(again);
    const ValidationResult after = validate(*sample, *sets[0]);
    r.validation.max_out_err = std::max(r.validation.max_out_err, after.max_out_err);
    r.validation.max_lse_err = std::max(r.validation.max_lse_err, after.max_lse_err);
    if (!after.ok) {
      r.validation.ok = false;
      r.validation.text = "after the timed replays: " + after.text;
    } else {
      r.validation.text += ", again after the timed replays";
    }
  }
  return r;
}

}  // namespace splitmla::experiments
