// The split rule, written once: how many pieces a request gets under each split policy, how long
// they are, what the auto policy's cost model counts, and the bounds the host plans from (the most
// pieces, slots and part2 entries the device planner can produce). Used by make_plan
// (lib/api/plan.cpp, the bounds) and by the device planner (lib/kernels/planner/planner.cu, the
// pieces themselves); docs/semantics.md states the policies.
//
// `n` is a request's longest row: the largest visible length over its query tokens.
//   forced S : S pieces of ceil(n / S) positions (the last may be short or empty).
//   chunk C  : max(1, ceil(n / C)) pieces of C positions.
//   auto     : a request costs n + kAutoRequestOverhead units; the total is cut into work_ctas
//              equal shares of at least kAutoMinPerCta units, one per persistent CTA; splitting
//              is worth it only if it saves more than kAutoSplitPenalty units (planner.cu runs
//              the passes; the per-request steps are the auto_* functions below, which the
//              re-fit tool experiments/tools/split_refit.cpp runs on the host with candidates).
//              Every length of the model (n, the overhead, a share) is rounded up to a multiple
//              of the part1 kernel's key tile, so every piece starts on a tile boundary and holds
//              whole tiles: a piece cut mid-tile streams and multiplies the whole tile anyway.
//              Between the two, the even shape: with at most work_ctas requests, each request
//              gets work_ctas / batch CTAs of its own and is cut into equal pieces, one a CTA,
//              when those pieces are at least kAutoEvenMinLen long and at most a share plus
//              1 / kAutoEvenSlack of it (auto_even_length).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "splitmla/types.hpp"

#if defined(__CUDACC__)
#define SPLITMLA_SPLIT_HD __host__ __device__ __forceinline__
#else
#define SPLITMLA_SPLIT_HD inline
#endif

namespace splitmla::split_rule {

// Auto policy cost model: a piece costs its tokens plus a fixed overhead per request (loading
// q, writing the output), a work CTA's share is never cut below kAutoMinPerCta tokens, and
// splitting a request is worth it only if it saves more than kAutoSplitPenalty units.
// Re-fitted with experiments/tools/split_refit.cpp on the 2026-11-30 study with pieces aligned to
// the key tile (AutoConstants::key_tile): 80 of 80 points within 10% on the tool's estimate;
// measured by the next full study (data/results/study-h200-2026-11-30-42fbbfc.csv): 74 of 80.
inline constexpr int kAutoRequestOverhead = 256;
inline constexpr int kAutoMinPerCta = 32;      // tokens; the key tile rounds it up (64 on wgmma)
inline constexpr int kAutoSplitPenalty = 512;  // partial writes + merge, in cost units
// Per-piece cost (0 turns it off): added to every work CTA's share, so a small batch is cut
// into fewer, longer pieces (fixed costs per piece: q load, pipeline fill, the partial write).
// Off: with pieces holding whole tiles, 0 scored best on the study the constants were fitted to.
inline constexpr int kAutoPieceCost = 0;
// The even shape (auto_even_length): a request's equal pieces must hold at least this many
// positions, and may be up to a share + share / kAutoEvenSlack long (0 turns the shape off).
// Why: cutting at share boundaries balances the positions to the tile but gives most CTAs two
// pieces of two requests. The 2026-12-01 H200 study (523bca3) put that plan 2-12% behind equal
// pieces a CTA each wherever those were at most ~3-6% longer than a share, partly its order of
// timing (lib/kernels/NOTES.md, "Sixteenth session"); alternated in the bench the shape gains
// 0.2-1.9% (H64_B16_L16k_p16 the most). Below ~512 positions a piece the fixed cost of each piece
// wins instead (H128_B1_L4k: 64 one-tile pieces 12% slower than 34 shares).
inline constexpr int kAutoEvenMinLen = 512;
inline constexpr int kAutoEvenSlack = 16;
// The whole-request check keeps one load counter per work CTA in the planner's shared memory: it
// runs for at most this many work CTAs (more: requests are always cut at share boundaries).
inline constexpr int kAutoMaxWholeCtas = 1024;

// The auto constants as one value: the planner uses the defaults (compile-time constants); the
// re-fit tool passes candidates through the same functions, so the rule is written once.
struct AutoConstants {
  int request_overhead = kAutoRequestOverhead;
  int min_per_cta = kAutoMinPerCta;
  int split_penalty = kAutoSplitPenalty;
  int piece_cost = kAutoPieceCost;
  // Not a fitted constant: the plan's part1 key tile (Plan::key_tile), 1 = no alignment.
  int key_tile = 1;
  int even_min_len = kAutoEvenMinLen;
  int even_slack = kAutoEvenSlack;  // 0: no even shape
};

// v rounded up to a multiple of the key tile (a tile below 1 counts as 1).
SPLITMLA_SPLIT_HD long long round_to_tile(long long v, const AutoConstants& k) {
  const long long t = k.key_tile > 1 ? k.key_tile : 1;
  return (v + t - 1) / t * t;
}

// auto: the fixed cost units of a request (ahead of its positions), in whole tiles.
SPLITMLA_SPLIT_HD long long auto_overhead(const AutoConstants& k) {
  return round_to_tile(k.request_overhead, k);
}

// forced: the piece count is the policy value; each piece holds ceil(n / splits) positions.
SPLITMLA_SPLIT_HD long long forced_piece_length(int64_t n, int32_t splits) {
  return (n + splits - 1) / splits;
}

// chunk: max(1, ceil(n / chunk)) pieces (one empty piece for an empty request). n is at most
// kMaxSeqLen (int32 positions), so the count fits an int.
SPLITMLA_SPLIT_HD int chunk_pieces(int64_t n, int32_t chunk) {
  return n == 0 ? 1 : static_cast<int>((n + chunk - 1) / chunk);
}

// auto: the cost units of a request whose longest row is n.
SPLITMLA_SPLIT_HD long long auto_request_cost(int64_t n, const AutoConstants& k = AutoConstants{}) {
  return round_to_tile(n, k) + auto_overhead(k);
}

// auto: the share of one work CTA, given the batch's total cost.
SPLITMLA_SPLIT_HD long long auto_share(long long total, int32_t work_ctas,
                                       const AutoConstants& k = AutoConstants{}) {
  long long per = (total + work_ctas - 1) / work_ctas + k.piece_cost;
  if (per < k.min_per_cta) per = k.min_per_cta;
  return round_to_tile(per, k);
}

// auto, whole requests: the work CTA holding the cost midpoint of a request whose cost interval
// starts at `origin` (the exclusive prefix sum of the costs before it), at most the last one.
SPLITMLA_SPLIT_HD long long auto_whole_cta(long long origin, long long cost, long long per,
                                           int32_t work_ctas) {
  long long c = (origin + cost / 2) / per;
  if (c > work_ctas - 1) c = work_ctas - 1;
  return c;
}

// auto: whole requests win when the busiest work CTA under auto_whole_cta carries at most this
// load: a share plus the split penalty.
SPLITMLA_SPLIT_HD long long auto_whole_limit(long long per,
                                             const AutoConstants& k = AutoConstants{}) {
  return per + k.split_penalty;
}

// auto, even shape: the work CTAs of each request (work_ctas / batch; 0 when batch > work_ctas).
SPLITMLA_SPLIT_HD long long auto_even_slots(int64_t batch, int32_t work_ctas) {
  return batch > 0 && batch <= work_ctas ? work_ctas / batch : 0;
}

// auto, even shape: the length of every piece (a multiple of the key tile) for a batch whose
// longest row is n_max, or 0 when the shape does not apply: more requests than work CTAs, pieces
// shorter than even_min_len, or longer than per + per / even_slack. Checked after the
// whole-request check (whole requests win first) and before cutting at share boundaries.
SPLITMLA_SPLIT_HD long long auto_even_length(long long n_max, int64_t batch, int32_t work_ctas,
                                             long long per,
                                             const AutoConstants& k = AutoConstants{}) {
  const long long slots = auto_even_slots(batch, work_ctas);
  if (k.even_slack <= 0 || slots == 0 || n_max <= 0) return 0;
  const long long len = round_to_tile((n_max + slots - 1) / slots, k);
  if (len < k.even_min_len || len > per + per / k.even_slack) return 0;
  return len;
}

// auto, even shape: the pieces of a request of longest row n (one for an empty request); piece j
// holds positions [j * len, (j + 1) * len) and runs on work CTA b * slots + j.
SPLITMLA_SPLIT_HD int auto_even_pieces(int64_t n, long long len) {
  return n <= 0 ? 1 : static_cast<int>((n + len - 1) / len);
}

// auto, split: the first work CTA and the piece count of a request of longest row n whose cost
// interval starts at `origin`; the pieces are the request's positions cut at share boundaries.
SPLITMLA_SPLIT_HD int auto_split_pieces(long long origin, int64_t n, long long per,
                                        long long* first_cta,
                                        const AutoConstants& k = AutoConstants{}) {
  if (n == 0) {
    *first_cta = origin / per;
    return 1;
  }
  const long long tok0 = origin + auto_overhead(k);  // cost of position 0
  *first_cta = tok0 / per;
  return static_cast<int>((tok0 + n - 1) / per - *first_cta + 1);
}

// auto, split: piece j's first position before clamping to [0, n] (it ends `per` later).
SPLITMLA_SPLIT_HD long long auto_piece_begin(long long origin, long long first_cta, int j,
                                             long long per,
                                             const AutoConstants& k = AutoConstants{}) {
  return (first_cta + j) * per - (origin + auto_overhead(k));
}

// The planner's auto passes for one batch of longest rows n, run on the host with the functions
// above (lib/kernels/planner/planner.cu runs them on the GPU): the share, the whole-request check,
// then the even shape, then for each request b in order on_request(b, origin, first_cta, count,
// plan), origin being the exclusive prefix sum of the costs before it, count its pieces (1 when
// plan.whole, first_cta then the CTA holding it; under the even shape piece j runs on first_cta
// + j) and plan the share, the whole-request decision and the even shape. For the re-fit tool
// and the host tests; nothing on the device path.
struct AutoPlanHost {
  long long per = 0;       // the share of one work CTA
  bool whole = false;      // every request kept whole
  long long even_len = 0;  // the even shape's piece length (0: not that shape)
  long long even_slots = 0;  // its work CTAs a request
};
template <class OnRequest>
inline AutoPlanHost plan_auto_host(const std::vector<long long>& n, int32_t work_ctas,
                                   const AutoConstants& k, OnRequest&& on_request) {
  long long total = 0;
  for (long long v : n) total += auto_request_cost(v, k);
  AutoPlanHost plan;
  plan.per = auto_share(total, work_ctas, k);
  if (work_ctas <= kAutoMaxWholeCtas) {
    std::vector<long long> load(static_cast<size_t>(work_ctas), 0);
    long long origin = 0;
    for (long long v : n) {
      const long long cost = auto_request_cost(v, k);
      load[static_cast<size_t>(auto_whole_cta(origin, cost, plan.per, work_ctas))] += cost;
      origin += cost;
    }
    plan.whole = *std::max_element(load.begin(), load.end()) <= auto_whole_limit(plan.per, k);
  }
  if (!plan.whole) {
    const long long n_max = n.empty() ? 0 : *std::max_element(n.begin(), n.end());
    const int64_t batch = static_cast<int64_t>(n.size());
    plan.even_len = auto_even_length(n_max, batch, work_ctas, plan.per, k);
    plan.even_slots = plan.even_len > 0 ? auto_even_slots(batch, work_ctas) : 0;
  }
  long long origin = 0;
  for (size_t b = 0; b < n.size(); ++b) {
    const long long cost = auto_request_cost(n[b], k);
    long long first = 0;
    int count = 1;
    if (plan.whole) {
      first = auto_whole_cta(origin, cost, plan.per, work_ctas);
    } else if (plan.even_len > 0) {
      first = static_cast<long long>(b) * plan.even_slots;
      count = auto_even_pieces(n[b], plan.even_len);
    } else {
      count = auto_split_pieces(origin, n[b], plan.per, &first, k);
    }
    on_request(b, origin, first, count, static_cast<const AutoPlanHost&>(plan));
    origin += cost;
  }
  return plan;
}

// The host's bounds for a plan (make_plan): everything the device planner can produce for any
// batch of up to max_batch requests of up to max_seq positions.
struct Bounds {
  int64_t work_ctas = 0;  // persistent CTAs (auto) or one per piece (forced, chunk)
  int64_t pieces = 0;     // most (request, split) pieces
  int64_t slots = 0;      // most partial-output slots (pieces of multi-piece requests)
  int64_t multi = 0;      // most requests that need part2
};

// `row_blocks`: part1 CTAs per work CTA (ceil(rows / rows_per_cta)); `num_sms`: the device's.
inline Bounds plan_bounds(const SplitPolicy& policy, int64_t max_batch, int64_t max_seq,
                          int64_t num_sms, int64_t row_blocks) {
  Bounds b;
  switch (policy.kind) {
    case SplitPolicyKind::kAuto:
      // One wave: part1 holds one CTA per SM (its shared memory is ~200 KB), and every work
      // CTA is row_blocks CTAs of the grid: the cost of a piece counts its row blocks.
      b.work_ctas = std::max<int64_t>(1, num_sms / row_blocks);
      b.pieces = max_batch + b.work_ctas;
      // Pieces of multi-piece requests: sum k <= 2 * sum (k - 1) <= 2 * work. The even shape
      // stays inside all three: at most batch x (work / batch) <= work pieces.
      b.slots = 2 * b.work_ctas;
      b.multi = b.work_ctas;
      break;
    case SplitPolicyKind::kForced:
    case SplitPolicyKind::kChunk: {
      const int64_t k = policy.kind == SplitPolicyKind::kForced
                            ? policy.value
                            : chunk_pieces(max_seq, policy.value);
      b.pieces = max_batch * k;
      b.work_ctas = b.pieces;
      b.slots = k >= 2 ? b.pieces : 0;
      b.multi = k >= 2 ? max_batch : 0;
      break;
    }
  }
  return b;
}

}  // namespace splitmla::split_rule
