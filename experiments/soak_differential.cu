// splitmla_soak: phase 1, differential (soak.cu describes the phases).
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

// ---- phase 1: differential ------------------------------------------------------------------

int32_t draw_length(Rng& rng, int32_t page) {
  const double u = rng.uniform();
  int32_t n;
  if (u < 0.08)
    n = 0;
  else if (u < 0.63)
    n = rng.log_uniform(1, 256);
  else if (u < 0.85)
    n = rng.log_uniform(257, 4096);
  else if (u < 0.95)
    n = rng.log_uniform(4097, 16384);
  else
    n = rng.chance(0.2) ? 65536 : rng.log_uniform(16385, 65536);
  if (n > 0 && rng.chance(0.15)) {  // one below, at or one above a page boundary
    const int32_t k = std::max(1, n / page);
    n = std::clamp(k * page + rng.between(-1, 1), 0, 65536);
  }
  return n;
}

}  // namespace

// Lengths for `batch` requests within the pool's pages and the per-call token budget.
std::vector<int32_t> fit_lengths(Ctx& ctx, int32_t batch, int32_t page, Rng& rng,
                                 const std::function<int32_t(Rng&)>& draw) {
  int64_t rows_left = int64_t(ctx.num_pages(page)) * page;
  int64_t tokens_left = ctx.opt.max_call_tokens;
  std::vector<int32_t> lens(static_cast<size_t>(batch));
  for (auto& n : lens) {
    n = draw(rng);
    const int64_t fit = std::min<int64_t>(tokens_left, rows_left / page * page);
    if (n > fit) n = int32_t(fit);
    rows_left -= int64_t(pages_needed(n, page)) * page;
    tokens_left -= n;
  }
  return lens;
}

void phase_differential(Ctx& ctx, PhaseStats& st) {
  const Options& o = ctx.opt;
  OutBuffers ob(size_t(512) * (128 * (kHeadDimV + 8) + 520), size_t(512) * (128 * 2 + 3));
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");
  const size_t budget = size_t(o.ws_budget_gib * double(size_t(1) << 30));
  const std::vector<int32_t> edge_heads = {1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128};
  int64_t adjusted = 0, padded_calls = 0, empty_requests = 0, tokens = 0, forced_over = 0;
  int64_t by_policy[3] = {0, 0, 0}, by_page[8] = {0}, by_dtype[2] = {0, 0};
  const double t0 = elapsed_s();
  double t_prep = 0.0, t_wait = 0.0, t_submit = 0.0;  // where the issuing thread's time goes
  bool self_checked = false;

  for (int call = 0; call < o.calls; ++call) {
    const double t_call = elapsed_s();
    Rng rng(o.seed * 1000003ull + uint64_t(call));
    Call c;
    c.dtype = rng.chance(0.5) ? DType::kBFloat16 : DType::kFloat16;
    c.heads = rng.chance(0.3) ? rng.pick(edge_heads) : rng.between(1, 128);
    c.page = 1 << rng.below(8);
    const double ub = rng.uniform();
    c.batch =
        ub < 0.85 ? rng.between(1, 64) : (ub < 0.95 ? rng.between(65, 256) : rng.between(257, 512));
    c.lens = fit_lengths(ctx, c.batch, c.page, rng, [&](Rng& r) { return draw_length(r, c.page); });
    int32_t widest = 0;
    for (int32_t n : c.lens) widest = std::max(widest, pages_needed(n, c.page));
    c.width = std::max(1, widest + int32_t(rng.below(4)));
    c.with_lse = rng.chance(0.75);
    c.scale = float(std::exp(std::log(0.02) + rng.uniform() * std::log(25.0)));
    c.dense();
    const bool padded = rng.chance(0.25);
    if (padded) {
      c.q_sh = kHeadDimQK + 8 * rng.between(0, 8);
      c.q_sb = int64_t(c.heads) * c.q_sh + 8 * rng.between(0, 17);
      c.o_sh = kHeadDimV + 8 * rng.between(0, 1);
      c.o_sb = int64_t(c.heads) * c.o_sh + 8 * rng.between(0, 65);
      c.l_sh = rng.between(1, 2);
      c.l_sb = int64_t(c.heads) * c.l_sh + rng.between(0, 3);
      c.bt_stride = c.width + rng.between(0, 5);
      ++padded_calls;
    }
    const ValuePool& qp = ctx.q_of(c.dtype);
    c.q_off = 8 * rng.below((int64_t(qp.elems) - c.q_extent()) / 8 + 1);

    DecodeConfig& cfg = c.config;
    cfg.dtype = c.dtype;
    cfg.num_heads = c.heads;
    cfg.q_len = 1;
    cfg.page_size = c.page;
    cfg.max_batch =
        rng.chance(0.25) ? rng.between(c.batch, std::min(kMaxBatch, 2 * c.batch)) : c.batch;
    cfg.max_pages_per_seq = rng.chance(0.25) ? c.width + int32_t(rng.below(c.width + 1)) : c.width;
    const int kind = int(rng.below(3));
    if (kind == 0)
      cfg.policy = SplitPolicy::automatic();
    else if (kind == 1)
      cfg.policy = SplitPolicy::forced(
          rng.chance(0.3) ? rng.pick(std::vector<int32_t>{1, 2, 63, 64}) : rng.between(1, 64));
    else
      cfg.policy = SplitPolicy::chunk(rng.log_uniform(16, 4096));
    cfg.num_sms = rng.chance(0.1) ? rng.between(1, 2 * ctx.gpu.num_sms) : 0;
    cfg.device = -1;

    Plan plan;
    if (!plan_within(c, budget, o.max_ctas, &plan, st, &adjusted)) continue;
    c.label = label_of(c, padded);
    const std::string where = strf("call %d", call);
    ++st.calls;
    ++by_policy[int(cfg.policy.kind)];
    ++by_page[__builtin_ctz(unsigned(c.page))];
    ++by_dtype[int(c.dtype)];
    for (int32_t n : c.lens) {
      tokens += n;
      empty_requests += n == 0;
      forced_over += cfg.policy.kind == SplitPolicyKind::kForced && cfg.policy.value > n;
    }

    Status s = pool.reserve_for(plan, ctx.stream);
    if (s != Status::kSuccess) {
      st.failure(where + ": reserve_for: " + status_message(s) + " (" + c.label + ")");
      continue;
    }
    Workspace ws;
    s = pool.workspace_for(plan, &ws);
    const DecodeArgs a = make_args(ctx, c, ob);
    if (s == Status::kSuccess) s = can_implement(plan, a);
    if (s != Status::kSuccess) {
      st.failure(where + ": " + status_message(s) + " (" + c.label + ")");
      continue;
    }
    const int tails = deal_pages(ctx, c, rng);
    upload_and_poison(ctx, c, tails);
    poison_outputs(ctx, c, ob);
    t_prep += elapsed_s() - t_call;
    s = decode(plan, a, ws, ctx.stream);
    if (s != Status::kSuccess)
      st.failure(where + ": decode: " + status_message(s) + " (" + c.label + ")");
    count_outputs(ctx, c, ob, 0);
    restore_tails(ctx, c, tails);
    const auto rows = pick_rows(c, rng, 0.15);
    copy_rows(ctx, c, ob, rows);
    check_cuda(cudaMemcpyAsync(ctx.h_counts.get(), ctx.d_counts.get(),
                               4 * sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx.stream),
               "copy counts");
    ErrorReport er;
    const double t_sync = elapsed_s();
    const Status se = read_errors(plan, ws, c.batch, ctx.stream, &er);  // synchronizes the stream
    t_wait += elapsed_s() - t_sync;
    check_cuda(cudaGetLastError(),
               (where + ": CUDA error after the call (" + c.label + ")").c_str());
    if (se != Status::kSuccess)
      st.failure(where + ": read_errors: " + status_message(se));
    else if (er.any != 0)
      st.failure(where +
                 strf(": error flags 0x%x on valid inputs, first bad request %d (", er.any,
                      er.bad_requests().front()) +
                 c.label + ")");
    if (s != Status::kSuccess) continue;
    judge_counts(ctx, c, 0, where, st);
    if (call == 0) {  // the rows' bits are in h_rows already; the self-check may damage out now
      std::string why;
      if (!self_check(ctx, c, ob, rows[0].first, rows[0].second, &why))
        st.failure("harness self-check on " + c.label + ":" + why);
      else
        self_checked = true;
    }
    const double t_queue = elapsed_s();
    submit_rows(
        ctx, c, rows,
        [&](size_t i) {
          return std::make_pair(ctx.h_rows.get() + i * kHeadDimV,
                                c.with_lse ? ctx.h_row_lse[i] : 0.f);
        },
        where, st);
    t_submit += elapsed_s() - t_queue;

    if ((call + 1) % 1000 == 0 || call + 1 == o.calls) {
      const double dt = elapsed_s() - t0;
      std::printf(
          "  differential %6d/%d calls, %.0f calls/s, %lld rows checked, %lld mismatches, "
          "%lld failures, %zu checks queued (s: host %.1f, GPU wait %.1f, queue wait %.1f)\n",
          call + 1, o.calls, (call + 1) / dt, (long long)st.rows.load(),
          (long long)st.mismatches.load(), (long long)st.failures.load(), ctx.verifier->queued(),
          t_prep, t_wait, t_submit);
      std::fflush(stdout);
    }
  }
  const double gpu_side = elapsed_s() - t0;
  ctx.verifier->drain();
  st.seconds = elapsed_s() - t0;
  st.notes = strf(
      "%s%.0f calls/s (%.1f s issuing: %.1f s preparing inputs on the host, %.1f s waiting for "
      "the GPU, %.1f s waiting for the verifier queue; verification done at %.1f s); %lld rows vs "
      "reference; policies auto/forced/chunk %lld/%lld/%lld; bf16/fp16 %lld/%lld; "
      "pages 1..128 %lld/%lld/%lld/%lld/%lld/%lld/%lld/%lld; %lld padded; "
      "%lld empty requests; %lld forced requests shorter than their split count; "
      "%.3g tokens; %lld policies shrunk to the %.2g GiB workspace / %lld-CTA budgets",
      self_checked ? "harness self-check passed (a planted unwritten element, stray write and "
                     "wrong value were each caught); "
                   : "",
      double(st.calls.load()) / gpu_side, gpu_side, t_prep, t_wait, t_submit, st.seconds,
      (long long)st.rows.load(), (long long)by_policy[0], (long long)by_policy[1],
      (long long)by_policy[2], (long long)by_dtype[0], (long long)by_dtype[1],
      (long long)by_page[0], (long long)by_page[1], (long long)by_page[2], (long long)by_page[3],
      (long long)by_page[4], (long long)by_page[5], (long long)by_page[6], (long long)by_page[7],
      (long long)padded_calls, (long long)empty_requests, (long long)forced_over, double(tokens),
      (long long)adjusted, o.ws_budget_gib, (long long)o.max_ctas);
}

}  // namespace splitmla::soak
