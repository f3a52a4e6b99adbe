// The auto split rule (lib/core/split_rule.hpp) on the host: the device planner
// (lib/kernels/planner/planner.cu) cuts requests with these functions, so their invariants are
// checked here without a GPU, over random batches: pieces start on the plan's key tile and hold
// whole tiles, cover each request once, stay within the host's bounds, and no work CTA streams
// more than its share (under the even shape: than the shape's piece, at most a share and a
// sixteenth); the even shape where it applies and where it must not; and the benchmark cases'
// plans.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/split_rule.hpp"
#include "splitmla/types.hpp"
#include "support/random.hpp"

namespace sr = splitmla::split_rule;

namespace {

struct HostPiece {
  int b = 0;
  long long cta = 0, lo = 0, hi = 0;
};

struct HostPlan {
  bool whole = false;
  long long per = 0;
  long long even_len = 0;  // the even shape's piece length, 0 when not that shape
  std::vector<HostPiece> pieces;
  int multi = 0;       // requests with two pieces or more (part2 entries)
  long long slots = 0;  // their pieces (partial-output slots)
  int most = 0;         // most pieces of one request
};

// The planner's auto passes for one batch of longest rows n (split_rule::plan_auto_host), with
// each request's pieces as planner.cu cuts them: lengths clamped to [0, n].
HostPlan plan_auto(const std::vector<long long>& n, int work_ctas, int key_tile,
                   bool even = true) {
  sr::AutoConstants k{};
  k.key_tile = key_tile;
  if (!even) k.even_slack = 0;
  HostPlan plan;
  const sr::AutoPlanHost result = sr::plan_auto_host(
      n, work_ctas, k,
      [&](size_t b, long long origin, long long first, int count, const sr::AutoPlanHost& shape) {
        const int rb = static_cast<int>(b);
        if (shape.whole) {
          plan.pieces.push_back({rb, first, 0, n[b]});
        } else if (shape.even_len > 0) {
          for (int j = 0; j < count; ++j) {
            const long long lo = std::min(j * shape.even_len, n[b]);
            const long long hi = std::min(lo + shape.even_len, n[b]);
            plan.pieces.push_back({rb, first + j, lo, hi});
          }
        } else {
          for (int j = 0; j < count; ++j) {
            long long lo = sr::auto_piece_begin(origin, first, j, shape.per, k);
            long long hi = lo + shape.per;
            lo = std::clamp(lo, 0LL, n[b]);
            hi = std::clamp(hi, lo, n[b]);
            plan.pieces.push_back({rb, first + j, lo, hi});
          }
        }
        if (count >= 2) {
          ++plan.multi;
          plan.slots += count;
        }
        plan.most = std::max(plan.most, count);
      });
  plan.whole = result.whole;
  plan.per = result.per;
  plan.even_len = result.even_len;
  return plan;
}

long long round_up(long long v, long long t) { return (v + t - 1) / t * t; }

// Batches of every kind: short and long, equal and mixed lengths, empty requests among them.
std::vector<long long> random_batch(splitmla::testsupport::Rng& rng) {
  const int batch = 1 + rng.below(300);
  const int kind = rng.below(4);
  const long long common = 1 + rng.below(140000);
  std::vector<long long> n(static_cast<size_t>(batch));
  for (long long& v : n) {
    switch (kind) {
      case 0: v = common; break;                             // all equal
      case 1: v = rng.below(4097); break;                    // short, some empty
      case 2: v = rng.below(3) == 0 ? 0 : rng.below(140001); // mixed, a third empty
        break;
      default: v = 1 + rng.below(300000); break;             // long
    }
  }
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(auto_rule)

BOOST_AUTO_TEST_CASE(pieces_hold_whole_tiles_cover_each_request_and_fit_the_bounds) {
  splitmla::testsupport::Rng rng(20261130);
  int checked = 0, split_plans = 0, even_plans = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const std::vector<long long> n = random_batch(rng);
    const int work_ctas = std::vector<int>{1, 33, 66, 132, 264, 1100}[static_cast<size_t>(rng.below(6))];
    const int tile = rng.below(2) == 0 ? 32 : 64;
    const HostPlan plan = plan_auto(n, work_ctas, tile);
    const std::string what = "trial " + std::to_string(trial) + ", batch " +
                             std::to_string(n.size()) + ", work CTAs " +
                             std::to_string(work_ctas) + ", key tile " + std::to_string(tile);
    BOOST_TEST_CONTEXT(what) {
      BOOST_TEST(plan.per % tile == 0);
      // The host's bounds (make_plan sizes the workspace from them).
      const sr::Bounds bounds = sr::plan_bounds(splitmla::SplitPolicy::automatic(),
                                                static_cast<int64_t>(n.size()), 1 << 20,
                                                work_ctas, 1);
      BOOST_TEST(static_cast<int64_t>(plan.pieces.size()) <= bounds.pieces);
      BOOST_TEST(plan.slots <= bounds.slots);
      BOOST_TEST(plan.multi <= bounds.multi);
      // Per request: contiguous pieces from 0 to n, each starting on a tile boundary and ending
      // on one or at n; CTAs in range and never decreasing (the planner's cta_begin needs it).
      std::vector<long long> next(n.size(), 0);
      std::vector<long long> streamed(static_cast<size_t>(work_ctas), 0);
      long long last_cta = 0;
      bool ok = true;
      for (const HostPiece& pc : plan.pieces) {
        const size_t b = static_cast<size_t>(pc.b);
        ok = ok && pc.lo == next[b] && pc.lo % tile == 0 && (pc.hi % tile == 0 || pc.hi == n[b]);
        ok = ok && pc.cta >= last_cta && pc.cta >= 0 && pc.cta < work_ctas;
        next[b] = pc.hi;
        last_cta = pc.cta;
        streamed[static_cast<size_t>(pc.cta)] += round_up(pc.hi, tile) - pc.lo;
      }
      for (size_t b = 0; b < n.size(); ++b) ok = ok && next[b] == n[b];
      BOOST_TEST(ok);
      // Split plans: no work CTA streams more than its share, in whole tiles; under the even
      // shape no more than its piece, which is at most a share and a sixteenth, at least 512
      // positions, and a request's pieces have CTAs of their own.
      const long long most = *std::max_element(streamed.begin(), streamed.end());
      if (!plan.whole && plan.even_len == 0) {
        ++split_plans;
        BOOST_TEST(most <= plan.per);
      } else if (plan.even_len > 0) {
        ++even_plans;
        BOOST_TEST(most <= plan.even_len);
        BOOST_TEST(plan.even_len % tile == 0);
        BOOST_TEST(plan.even_len <= plan.per + plan.per / sr::kAutoEvenSlack);
        BOOST_TEST(plan.even_len >= sr::kAutoEvenMinLen);
        BOOST_TEST(static_cast<long long>(n.size()) <= work_ctas);
        const long long slots = work_ctas / static_cast<long long>(n.size());
        bool own = true;
        for (const HostPiece& pc : plan.pieces) own = own && pc.cta / slots == pc.b;
        BOOST_TEST(own);
      }
    }
    ++checked;
  }
  BOOST_TEST(checked == 600);
  BOOST_TEST(split_plans > 100);  // the random batches reach the split path, not only whole plans
  BOOST_TEST(even_plans > 20);    // and the even shape
}

BOOST_AUTO_TEST_CASE(a_key_tile_of_one_is_the_unaligned_rule) {
  sr::AutoConstants k{};
  k.key_tile = 1;
  for (long long n : {0LL, 1LL, 63LL, 64LL, 65LL, 4095LL, 131072LL}) {
    BOOST_TEST(sr::auto_request_cost(n, k) == n + k.request_overhead);
    long long first = 0;
    const int count = sr::auto_split_pieces(1000, n, 333, &first, k);
    if (n > 0) {
      const long long tok0 = 1000 + k.request_overhead;
      BOOST_TEST(first == tok0 / 333);
      BOOST_TEST(count == (tok0 + n - 1) / 333 - first + 1);
      BOOST_TEST(sr::auto_piece_begin(1000, first, 1, 333, k) == (first + 1) * 333 - tok0);
    }
  }
  BOOST_TEST(sr::auto_share(1000, 7, k) == std::max<long long>((1000 + 6) / 7 + k.piece_cost,
                                                               k.min_per_cta));
  k.key_tile = 0;  // below 1 counts as 1
  BOOST_TEST(sr::round_to_tile(71, k) == 71);
  k.key_tile = 64;
  BOOST_TEST(sr::round_to_tile(71, k) == 128);
  BOOST_TEST(sr::round_to_tile(128, k) == 128);
}

// The plans the H200 benchmark recorded at 42fbbfc (data/results/bench-h200-2026-11-30-42fbbfc.csv,
// `splits`: most pieces of one request) come back from the host rule without the even shape
// (SPLITMLA_AUTO_EVEN=0, the rule of then) with the same inputs: 132 SMs, work CTAs = 132 / row
// blocks, the kernel's key tile of then.
BOOST_AUTO_TEST_CASE(the_benchmarks_recorded_plans_come_back) {
  struct Case {
    const char* name;
    int batch;
    long long n;
    int work_ctas, tile, splits;
  };
  const Case cases[] = {
      {"H128_B128_L4k", 128, 4096, 66, 64, 1},  {"H128_B1_L128k", 1, 131072, 66, 64, 65},
      {"H128_B32_L32k", 32, 32768, 66, 64, 4},  {"H16_B128_L4k", 128, 4096, 132, 32, 1},
      {"H16_B4_L128k", 4, 131072, 132, 32, 34}, {"H64_B16_L16k_p16", 16, 16384, 132, 64, 9},
      {"H128_B64_L8k_q2", 64, 8192, 33, 64, 1},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const HostPlan plan = plan_auto(std::vector<long long>(static_cast<size_t>(c.batch), c.n),
                                      c.work_ctas, c.tile, /*even=*/false);
      BOOST_TEST(plan.most == c.splits);
    }
  }
}

// The even shape on the benchmark cases, today's key tiles (64 on wgmma and on the 16-row
// mma.sync kernel): where the batch fills the work CTAs with equal pieces at most a sixteenth
// over a share, each request gets work_ctas / batch pieces of one CTA each; whole plans stay
// whole; more requests than work CTAs never take it. The benchmark cases' splits and pieces are
// the ones the H200 run of 71d05c4 recorded (data/results/bench-h200-2026-12-02-71d05c4.csv).
BOOST_AUTO_TEST_CASE(the_even_shape_on_the_benchmark_cases) {
  struct Case {
    const char* name;
    int batch;
    long long n;
    int work_ctas, splits;
    long long even_len;  // 0: not the even shape
  };
  const Case cases[] = {
      {"H128_B32_L32k", 32, 32768, 66, 2, 16384},     // share-cut: 4 (97 pieces)
      {"H64_B16_L16k_p16", 16, 16384, 132, 8, 2048},  // share-cut: 9 (142 pieces)
      {"H16_B4_L128k", 4, 131072, 132, 33, 4032},     // share-cut: 34 (134 pieces)
      {"H128_B1_L128k", 1, 131072, 66, 64, 2048},     // share-cut: 65
      {"H128_B128_L4k", 128, 4096, 66, 1, 0},         // whole; 128 requests > 66 CTAs anyway
      {"H16_B128_L4k", 128, 4096, 132, 1, 0},         // whole
      {"H128_B64_L8k_q2", 64, 8192, 33, 1, 0},        // whole (64 requests > 33 CTAs)
      {"H128_B1_L4k", 1, 4096, 66, 32, 0},            // 64-position pieces: under the minimum
      {"H128_B40_L32k", 40, 32768, 66, 3, 0},         // 40 of 66 CTAs: 65% over a share
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const HostPlan plan = plan_auto(std::vector<long long>(static_cast<size_t>(c.batch), c.n),
                                      c.work_ctas, 64);
      BOOST_TEST(plan.most == c.splits);
      BOOST_TEST(plan.even_len == c.even_len);
      if (c.even_len > 0) {
        BOOST_TEST(plan.pieces.size() == static_cast<size_t>(c.batch) * c.splits);
        BOOST_TEST(plan.pieces.back().cta == static_cast<long long>(c.batch - 1) *
                                                 (c.work_ctas / c.batch) + c.splits - 1);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
