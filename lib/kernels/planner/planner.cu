// Device planner: one block reads seq_lens on the GPU and writes the split schedule (pieces,
// per-CTA piece ranges, the list of requests part2 must merge) into the workspace. Keeping this
// on the device makes plan + run one capturable graph whose grids depend only on planned bounds.
//
// First it writes the per-token visible lengths (token_limits, [batch, q_len]); every request
// is then cut along its longest row n = max over t of token_limits[b][t] (a piece past a shorter
// row's limit is an empty partial for that row). The cost of a piece is its tokens: each of the
// plan's row blocks streams them, and work_ctas = SMs / row_blocks already counts the blocks.
//
// Policies (docs/semantics.md; the counts, lengths and cost model are lib/core/split_rule.hpp):
//   forced S : request b gets S pieces of ceil(n/S) positions (the last may be short or empty).
//   chunk C  : request b gets max(1, ceil(n/C)) pieces of C positions.
//   auto     : request b costs n + kAutoRequestOverhead units; the total is cut into work_ctas
//              equal shares (at least kAutoMinPerCta), one per persistent CTA, so every CTA
//              streams about the same number of KV rows; a request crossing a share boundary
//              is split there (every length rounded up to the part1 key tile, so pieces hold
//              whole tiles). If instead giving each request whole to the CTA holding its
//              cost midpoint leaves no CTA busier than a share plus kAutoSplitPenalty, nothing
//              is split (no partials, no part2 work). Otherwise, with at most work_ctas
//              requests, the even shape may apply (split_rule::auto_even_length): request b
//              gets work CTAs b * S .. b * S + S - 1 (S = work_ctas / batch) and is cut into
//              equal pieces, one a CTA.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "core/split_rule.hpp"
#include "core/visibility.hpp"
#include "kernels/common/env_switch.hpp"
#include "kernels/common/params.hpp"

namespace splitmla::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kMaxWholeCtas = split_rule::kAutoMaxWholeCtas;  // one load counter per work CTA

struct MaxOp {
  __device__ long long operator()(long long a, long long b) const { return a > b ? a : b; }
};

struct Counts {
  int32_t pieces, multi, slots;
};
struct CountsSum {
  __device__ Counts operator()(const Counts& a, const Counts& b) const {
    return {a.pieces + b.pieces, a.multi + b.multi, a.slots + b.slots};
  }
};

// The per-token visible lengths of request b: the one place they are computed. Writes
// token_limits[b][t] for every token (0 for each token of a request with a bad seq_len) and
// returns false for a bad seq_len. Everything downstream (the split rule below, part1's row
// masks) reads only the array. On a context-parallel shard (p.sharded) seq_len is the global
// length and each token's limit is this rank's count below its global limit: the local limits.
__device__ __forceinline__ bool write_token_limits(const PlannerParams& p, int b) {
  const int64_t s = p.seq_lens[b];
  int32_t* lim = p.token_limits + static_cast<int64_t>(b) * p.q_len;
  bool ok = true;
  for (int t = 0; t < p.q_len; ++t) {
    const int64_t n =
        p.sharded != 0
            ? visibility::shard_token_limit(p.shard, s, p.capacity, p.q_len, t, p.causal != 0)
            : visibility::token_limit(s, p.capacity, p.q_len, t, p.causal != 0);
    if (n < 0) ok = false;
    lim[t] = static_cast<int32_t>(n < 0 ? 0 : n);
  }
  return ok;
}

// The longest row of request b (the range its pieces cut), from the token-limit array.
__device__ __forceinline__ int64_t longest_row(const PlannerParams& p, int b) {
  const int32_t* lim = p.token_limits + static_cast<int64_t>(b) * p.q_len;
  int32_t n = 0;
  for (int t = 0; t < p.q_len; ++t) n = lim[t] > n ? lim[t] : n;
  return n;
}

__global__ void __launch_bounds__(kThreads) planner_kernel(const __grid_constant__ PlannerParams p) {
  using CostReduce = cub::BlockReduce<long long, kThreads>;
  using CostScan = cub::BlockScan<long long, kThreads>;
  using CountScan = cub::BlockScan<Counts, kThreads>;
  __shared__ union {
    typename CostReduce::TempStorage reduce;
    typename CostScan::TempStorage cost;
    typename CountScan::TempStorage count;
  } tmp;
  __shared__ long long s_total;
  __shared__ unsigned long long s_load[kMaxWholeCtas];
  __shared__ bool s_whole;
  __shared__ long long s_nmax;
  bool whole = false;
  long long even_len = 0, even_slots = 0;  // the even shape (auto): 0 when not taken

  const int tid = threadIdx.x;
  const bool is_auto = p.policy_kind == static_cast<int>(SplitPolicyKind::kAuto);
  const bool is_forced = p.policy_kind == static_cast<int>(SplitPolicyKind::kForced);

  // Pass 0: per-token visible lengths and per-request error flags. Every later pass reads the
  // array (each thread its own requests; the barrier makes that order explicit).
  for (int b = tid; b < p.batch; b += kThreads)
    p.req_error[b] = write_token_limits(p, b) ? 0u : kErrBadSeqLen;
  __syncthreads();

  // The auto rule's constants (split_rule.hpp) with this plan's key tile: every cost length is
  // a whole number of tiles, so pieces start and end on tile boundaries.
  split_rule::AutoConstants ac{};
  ac.key_tile = p.key_tile;
  if (p.auto_even == 0) ac.even_slack = 0;

  // Pass 1 (auto): total cost, then the share of one work CTA.
  long long per = 1;
  if (is_auto) {
    // The even shape's work CTAs a request (0: more requests than work CTAs, no even shape).
    const long long slots = split_rule::auto_even_slots(p.batch, p.work_ctas);
    long long mine = 0, mine_max = 0;
    for (int b = tid; b < p.batch; b += kThreads) {
      const long long n = longest_row(p, b);
      mine += split_rule::auto_request_cost(n, ac);
      mine_max = n > mine_max ? n : mine_max;
    }
    const long long total = CostReduce(tmp.reduce).Sum(mine);
    if (tid == 0) s_total = total;
    __syncthreads();
    if (slots > 0) {  // the batch's longest row, for the even shape (uniform condition)
      const long long n_max = CostReduce(tmp.reduce).Reduce(mine_max, MaxOp());
      if (tid == 0) s_nmax = n_max;
      __syncthreads();
    }
    per = split_rule::auto_share(s_total, p.work_ctas, ac);

    // Would whole requests do? Give each request to the CTA holding its cost midpoint and take
    // the busiest CTA's load; splitting costs partial writes and a part2 launch, counted as
    // kAutoSplitPenalty cost units. Whole requests win when they are not slower than that.
    if (p.work_ctas <= kMaxWholeCtas) {
      for (int c = tid; c < p.work_ctas; c += kThreads) s_load[c] = 0;
      __syncthreads();
      long long carry_w = 0;
      for (int base = 0; base < p.batch; base += kThreads) {
        const int b = base + tid;
        const long long cost = b < p.batch ? split_rule::auto_request_cost(longest_row(p, b), ac) : 0;
        long long origin = 0, aggregate = 0;
        CostScan(tmp.cost).ExclusiveSum(cost, origin, aggregate);
        __syncthreads();
        origin += carry_w;
        carry_w += aggregate;
        if (b < p.batch) {
          const long long c = split_rule::auto_whole_cta(origin, cost, per, p.work_ctas);
          atomicAdd(&s_load[c], static_cast<unsigned long long>(cost));
        }
      }
      __syncthreads();
      long long busiest = 0;
      for (int c = tid; c < p.work_ctas; c += kThreads)
        busiest = busiest > static_cast<long long>(s_load[c]) ? busiest : static_cast<long long>(s_load[c]);
      __syncthreads();
      busiest = CostReduce(tmp.reduce).Reduce(busiest, MaxOp());
      if (tid == 0) s_whole = busiest <= split_rule::auto_whole_limit(per, ac);
      __syncthreads();
      whole = s_whole;
    }

    // The even shape, when requests are not kept whole: equal pieces, one a CTA, from the
    // longest row of the batch.
    if (!whole && slots > 0) {
      even_len = split_rule::auto_even_length(s_nmax, p.batch, p.work_ctas, per, ac);
      even_slots = even_len > 0 ? slots : 0;
    }
  }

  // Pass 2: pieces per request, prefix sums, then the pieces themselves.
  long long cost_carry = 0;
  Counts carry{0, 0, 0};
  for (int base = 0; base < p.batch; base += kThreads) {
    const int b = base + tid;
    const bool live = b < p.batch;
    const int64_t n = live ? longest_row(p, b) : 0;

    // Auto: where this request's cost interval starts (every thread takes part in the scan).
    long long origin = 0;
    if (is_auto) {
      long long aggregate = 0;
      CostScan(tmp.cost).ExclusiveSum(live ? split_rule::auto_request_cost(n, ac) : 0LL, origin,
                                      aggregate);
      __syncthreads();
      origin += cost_carry;
      cost_carry += aggregate;
    }

    int k = 0;
    long long first_cta = 0;
    if (live) {
      if (is_auto && whole) {
        first_cta =
            split_rule::auto_whole_cta(origin, split_rule::auto_request_cost(n, ac), per, p.work_ctas);
        k = 1;
      } else if (is_auto && even_len > 0) {
        first_cta = static_cast<long long>(b) * even_slots;
        k = split_rule::auto_even_pieces(n, even_len);
      } else if (is_auto) {
        k = split_rule::auto_split_pieces(origin, n, per, &first_cta, ac);
      } else if (is_forced) {
        k = p.policy_value;
      } else {
        k = split_rule::chunk_pieces(n, p.policy_value);
      }
    }
    const bool multi = k >= 2 || (live && p.all_slots != 0);
    Counts mine{k, multi ? 1 : 0, multi ? k : 0};
    Counts offs{0, 0, 0}, aggregate{0, 0, 0};
    CountScan(tmp.count).ExclusiveScan(mine, offs, Counts{0, 0, 0}, CountsSum(), aggregate);
    __syncthreads();
    offs = CountsSum()(offs, carry);
    carry = CountsSum()(carry, aggregate);

    if (live) {
      if (multi) p.multi[offs.multi] = MultiEntry{b, offs.slots, k, 0};
      const long long chunk = is_forced ? split_rule::forced_piece_length(n, p.policy_value)
                                        : static_cast<long long>(p.policy_value);
      for (int j = 0; j < k; ++j) {
        Piece pc{};
        pc.b = b;
        pc.slot = multi ? offs.slots + j : -1;
        long long lo, hi;
        if (is_auto && whole) {
          pc.cta = static_cast<int32_t>(first_cta);
          lo = 0;
          hi = n;
        } else if (is_auto && even_len > 0) {
          pc.cta = static_cast<int32_t>(first_cta + j);
          lo = j * even_len;
          hi = lo + even_len;
        } else if (is_auto) {
          pc.cta = static_cast<int32_t>(first_cta + j);
          lo = split_rule::auto_piece_begin(origin, first_cta, j, per, ac);
          hi = lo + per;
        } else {
          pc.cta = offs.pieces + j;
          lo = j * chunk;
          hi = lo + chunk;
        }
        lo = lo < 0 ? 0 : (lo > n ? n : lo);
        hi = hi < lo ? lo : (hi > n ? n : hi);
        pc.begin = static_cast<int32_t>(lo);
        pc.end = static_cast<int32_t>(hi);
        p.pieces[offs.pieces + j] = pc;
      }
    }
  }

  // Pass 3 (auto): cta_begin[c] = first piece owned by work CTA >= c. Pieces are written in
  // request order and their CTAs never decrease, so each CTA's pieces are contiguous.
  __syncthreads();  // pieces written by other threads of this block are visible after this
  const int num_pieces = carry.pieces;
  if (is_auto) {
    for (int i = tid; i < num_pieces; i += kThreads) {
      const int c = p.pieces[i].cta;
      const int prev = i > 0 ? p.pieces[i - 1].cta : -1;
      for (int cc = prev + 1; cc <= c; ++cc) p.cta_begin[cc] = i;
    }
    const int last = num_pieces > 0 ? p.pieces[num_pieces - 1].cta : -1;
    for (int cc = last + 1 + tid; cc <= p.work_ctas; cc += kThreads) p.cta_begin[cc] = num_pieces;
  }
  if (tid == 0) {
    p.header->num_pieces = num_pieces;
    p.header->num_multi = carry.multi;
    p.header->per_cta_cost = per;
  }
}

}  // namespace

cudaError_t load_planner() {
  cudaFuncAttributes a;
  return cudaFuncGetAttributes(&a, planner_kernel);
}

namespace {
// SPLITMLA_AUTO_EVEN=0 in the environment plans auto without the even shape (for the A/B).
bool auto_even_on() {
  static const bool on = env_switch_on("SPLITMLA_AUTO_EVEN");
  return on;
}
}  // namespace

cudaError_t launch_planner(const PlannerParams& params, cudaStream_t stream) {
  PlannerParams p = params;
  p.auto_even = auto_even_on() ? 1 : 0;
  planner_kernel<<<1, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace splitmla::kernels
