// splitmla_soak: phase 3, graph (soak.cu describes the phases).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "soak.hpp"

namespace splitmla::soak {
namespace {

// ---- phase 3: graph -------------------------------------------------------------------------

struct GraphCase {
  DType dtype;
  int32_t heads, page, batch, width;
  SplitPolicy policy;
  bool with_lse;
};

}  // namespace

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

}  // namespace splitmla::soak
