// Multi-token decode (q_len 1..16, causal and not) on the GPU, through the public API only:
//  - the float64 reference with per-token limits over q_len {1,2,3,4,7,8,16} x heads
//    {1,3,16,63,64,128} x causal on/off, each combination on one page size of {1,16,32,64,128}
//    (rotating, so every page size meets every q_len) with lengths 0, 1, q_len-1, q_len, q_len+1,
//    page boundaries and a long one as far as a reference budget allows, and a rotating policy;
//  - a leak check: the positions a token must not see (the later tokens' own positions, and the
//    rows past seq_len in the last page) hold huge finite keys instead of NaN, so a leak would
//    dominate that token's softmax and move its output far outside tolerance;
//  - token t of a q_len = k call equals, bit for bit, a q_len = 1 call whose seq_len is token t's
//    visible length, under the chunk policy, on the same mma.sync tier (rows_per_cta forced:
//    tiers sum the 576-long dot products in different orders) and on the wgmma kernel.
// Auto runs multi-token calls of 32 rows or more on the wgmma kernel where it runs (mma.sync
// otherwise); the leak check and the bitwise check force each kernel, both against the reference
// too.
#include <boost/test/unit_test.hpp>

#include "gpu/gpu_test_util.hpp"

using namespace gputest;
using splitmla::SplitPolicy;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

// Row-positions per combination (q_len x heads x sum of lengths): bounds the float64 reference
// at about 1.1 kFLOP each, so the whole grid stays well under a minute on one core.
constexpr int64_t kRowPositionBudget = 200000;

const int32_t kQLens[] = {1, 2, 3, 4, 7, 8, 16};
const int32_t kHeads[] = {1, 3, 16, 63, 64, 128};
const int32_t kPages[] = {1, 16, 32, 64, 128};
const SplitPolicy kPolicies[] = {SplitPolicy::automatic(), SplitPolicy::forced(3),
                                 SplitPolicy::chunk(48), SplitPolicy::forced(1),
                                 SplitPolicy::chunk(1000)};

// Lengths of one combination: 0, 1, q_len - 1, q_len, q_len + 1, one below, at and above one and
// two pages, then one long request if the budget leaves room.
std::vector<int32_t> grid_lengths(int32_t q_len, int32_t rows, int32_t page, Rng& rng) {
  std::vector<int32_t> v{0, 1, q_len - 1, q_len, q_len + 1};
  for (int32_t k = 1; k <= 2; ++k)
    for (int32_t d = -1; d <= 1; ++d) v.push_back(k * page + d);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  v.erase(std::remove_if(v.begin(), v.end(), [](int32_t x) { return x < 0; }), v.end());
  int64_t used = 0;
  for (int32_t x : v) used += x;
  const int64_t room = kRowPositionBudget / rows - used;
  if (room > 8 * int64_t{page} && room > 64) v.push_back(static_cast<int32_t>(std::min<int64_t>(room, 5000)) - rng.below(page));
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng.below(static_cast<int32_t>(i)))]);
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multitoken)

BOOST_AUTO_TEST_CASE(reference_grid_q_len_heads_causal_pages_lengths, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const bool wgmma_runs = runnable_variants().size() > 1;
  size_t combo = 0;
  for (const int32_t q_len : kQLens)
    for (const int32_t heads : kHeads)
      for (const bool causal : {true, false}) {
        const size_t k = combo++;
        if (sanitizing() && k % 6 != 0) continue;  // a sixth of the grid under compute-sanitizer
        const int32_t page = kPages[k % 5];
        const SplitPolicy pol = kPolicies[(k / 5) % 5];
        Rng rng(0x51A7 + k);
        GenSpec g;
        g.dtype = k % 2 == 0 ? DType::kBFloat16 : DType::kFloat16;
        g.num_heads = heads;
        g.page_size = page;
        g.q_len = q_len;
        g.causal = causal;
        g.lens = grid_lengths(q_len, q_len * heads, page, rng);
        g.seed = rng.next();
        const HostProblem p = make_problem(g);
        const HostOutputs ref = reference_of(p);
        DeviceProblem dp;
        dp.upload(p, k % 3 == 0 ? Layout::padded() : Layout::dense(), /*lse_on=*/k % 7 != 3);
        const std::string label = describe(p) + " policy=" + splitmla::policy_text(pol);
        BOOST_TEST_CONTEXT(label) {
          const splitmla::Plan plan = plan_for(p, pol);
          BOOST_TEST(plan.rows == q_len * heads);
          const bool wgmma = wgmma_runs && q_len * heads >= 32;
          BOOST_TEST((plan.part1 == (wgmma ? splitmla::Part1Variant::kWgmma
                                           : splitmla::Part1Variant::kMmaSync)));
          check_matches(p, run_decode(plan, pool, dp, stream.s), ref, label);
        }
      }
}

// Every mma.sync tier serves several tokens: the same problem on 16, 32 and 64 rows per CTA
// (row blocks that straddle tokens: 3 heads x 7 tokens = 21 rows).
BOOST_AUTO_TEST_CASE(every_rows_per_cta_tier_matches, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  for (const bool causal : {true, false}) {
    GenSpec g;
    g.num_heads = 3;
    g.page_size = 16;
    g.q_len = 7;
    g.causal = causal;
    g.lens = {0, 3, 6, 7, 8, 33, 200};
    g.seed = causal ? 77 : 78;
    const HostProblem p = make_problem(g);
    const HostOutputs ref = reference_of(p);
    DeviceProblem dp;
    dp.upload(p);
    for (const int32_t tier : {16, 32, 64})
      for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(4)}) {
        const std::string label =
            describe(p) + " rows_per_cta=" + std::to_string(tier) + " policy=" + splitmla::policy_text(pol);
        BOOST_TEST_CONTEXT(label) {
          const splitmla::Plan plan = plan_for(p, pol, 0, splitmla::Part1Variant::kMmaSync, tier);
          BOOST_TEST(plan.rows_per_cta == tier);
          BOOST_TEST(plan.row_blocks == (21 + tier - 1) / tier);
          check_matches(p, run_decode(plan, pool, dp, stream.s), ref, label);
        }
      }
  }
}

// The positions token t must not see (causal: [n_t, seq_len), the later tokens' positions; any
// mode: the rows past seq_len in the request's last page) hold one huge key, every element +3,
// while q is positive: its score is about +100 above the others, so a token that wrongly saw it
// would put nearly all its weight there (out near 3, far outside tolerance), and no NaN hides
// the leak. Tokens that may see those rows must weigh them exactly as the reference does.
BOOST_AUTO_TEST_CASE(invisible_positions_with_huge_keys_do_not_leak, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  struct Case { int32_t q_len, heads, page; bool causal; };
  const Case cases[] = {{2, 16, 16, true}, {4, 64, 32, true}, {16, 8, 1, true}, {7, 1, 128, true},
                        {3, 128, 64, true}, {2, 16, 16, false}, {16, 8, 64, false}};
  for (const Case& c : cases) {
    GenSpec g;
    g.num_heads = c.heads;
    g.page_size = c.page;
    g.q_len = c.q_len;
    g.causal = c.causal;
    g.lens = {1, c.q_len, c.q_len + 1, 2 * c.page + 5, 3 * c.page - 1, 150};
    g.seed = static_cast<uint64_t>(c.q_len * 1000 + c.heads * 10 + c.causal);
    HostProblem p = make_problem(g);
    const DType d = p.dtype;
    for (auto& x : p.q) x = splitmla::float_to_half_bits(d, 0.25f + 0.75f * std::fabs(splitmla::half_bits_to_float(d, x)));
    const uint16_t huge = splitmla::float_to_half_bits(d, 3.0f);
    int64_t planted = 0;
    for (int32_t b = 0; b < p.batch; ++b) {
      const int32_t n = p.seq_lens[static_cast<size_t>(b)];
      const int32_t* row = &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq];
      const int64_t first = splitmla::visible_length(p, b, 0);  // what token 0 sees
      const int32_t end = pages_needed(n, p.page_size) * p.page_size;  // end of the last page
      for (int32_t pos = static_cast<int32_t>(std::max<int64_t>(first, 0)); pos < end; ++pos) {
        const bool hidden_from_some = pos >= n || (c.causal && pos >= first);
        if (!hidden_from_some) continue;
        uint16_t* kv = &p.kv_cache[(static_cast<size_t>(row[pos / p.page_size]) * p.page_size +
                                    static_cast<size_t>(pos % p.page_size)) * kHeadDimQK];
        std::fill(kv, kv + kHeadDimQK, huge);
        ++planted;
      }
    }
    BOOST_TEST_REQUIRE(planted > 0);
    const HostOutputs ref = reference_of(p);
    DeviceProblem dp;
    dp.upload(p);
    // mma.sync on 16 and 64 rows per CTA, and the wgmma kernel (64) where it runs.
    std::vector<std::pair<splitmla::Part1Variant, int32_t>> kernels = {
        {splitmla::Part1Variant::kMmaSync, 16}, {splitmla::Part1Variant::kMmaSync, 64}};
    if (runnable_variants().size() > 1) kernels.push_back({splitmla::Part1Variant::kWgmma, 64});
    for (const auto& [variant, tier] : kernels)
      for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(2), SplitPolicy::forced(7),
                                    SplitPolicy::chunk(32)}) {
        const std::string label = describe(p) + " part1=" + splitmla::part1_variant_name(variant) +
                                  " rows_per_cta=" + std::to_string(tier) +
                                  " policy=" + splitmla::policy_text(pol) + " (huge keys planted)";
        BOOST_TEST_CONTEXT(label) {
          const splitmla::Plan plan = plan_for(p, pol, 0, variant, tier);
          check_matches(p, run_decode(plan, pool, dp, stream.s), ref, label);
        }
      }
  }
}

// Token t of a q_len = k call against a q_len = 1 call of the same cache and table whose seq_len
// is token t's visible length: bit-identical out and lse under the chunk policy (pieces at the
// same multiples of the chunk; pieces past a token's limit are empty partials that weigh nothing
// in part2) on the same mma.sync tier. +0 and -0 count as equal (a masked position adds 0 * v,
// whose sign depends on v).
BOOST_AUTO_TEST_CASE(token_t_equals_a_q_len_1_call_bitwise_under_chunk, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  struct Case { int32_t q_len, heads, page, chunk; bool causal; };
  const Case cases[] = {{2, 16, 16, 32, true},  {2, 128, 64, 100, true}, {3, 63, 32, 64, true},
                        {8, 1, 1, 32, true},    {16, 16, 128, 48, true}, {4, 3, 16, 33, false},
                        {16, 64, 16, 64, false}};
  for (const splitmla::Part1Variant variant : runnable_variants())
  for (const Case& c : cases) {
    GenSpec g;
    g.dtype = c.heads % 2 == 0 ? DType::kBFloat16 : DType::kFloat16;
    g.num_heads = c.heads;
    g.page_size = c.page;
    g.q_len = c.q_len;
    g.causal = c.causal;
    g.lens = {0, 1, c.q_len - 1, c.q_len, c.q_len + 1, c.chunk, c.chunk + 1, 2 * c.chunk + c.q_len - 1, 301};
    g.seed = static_cast<uint64_t>(c.q_len * 7919 + c.heads);
    const HostProblem p = make_problem(g);
    const SplitPolicy pol = SplitPolicy::chunk(c.chunk);
    const splitmla::Plan plan = plan_for(p, pol, 0, variant);
    DeviceProblem dp;
    dp.upload(p);
    const RunResult multi = run_decode(plan, pool, dp, stream.s);
    const int64_t H = c.heads;
    for (int32_t t = 0; t < c.q_len; ++t) {
      HostProblem one = p;
      one.q_len = 1;
      one.causal = true;
      one.q.clear();
      for (int32_t b = 0; b < p.batch; ++b) {
        const size_t at = (static_cast<size_t>(b) * c.q_len + t) * H * kHeadDimQK;
        one.q.insert(one.q.end(), p.q.begin() + static_cast<std::ptrdiff_t>(at),
                     p.q.begin() + static_cast<std::ptrdiff_t>(at + H * kHeadDimQK));
        one.seq_lens[static_cast<size_t>(b)] = static_cast<int32_t>(splitmla::visible_length(p, b, t));
      }
      const splitmla::Plan plan1 = plan_for(one, pol, 0, variant, plan.rows_per_cta);
      DeviceProblem dp1;
      dp1.upload(one);
      const RunResult single = run_decode(plan1, pool, dp1, stream.s);
      int64_t out_diff = 0, lse_diff = 0;
      for (int32_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < H; ++h) {
          const size_t mi = (static_cast<size_t>(b) * c.q_len + t) * H + h, si = static_cast<size_t>(b) * H + h;
          for (int d = 0; d < kHeadDimV; ++d) {
            const uint16_t x = multi.out_bits[mi * kHeadDimV + d], y = single.out_bits[si * kHeadDimV + d];
            if (x != y && ((x | y) & 0x7FFF) != 0) ++out_diff;
          }
          uint32_t lx, ly;
          std::memcpy(&lx, &multi.lse[mi], 4);
          std::memcpy(&ly, &single.lse[si], 4);
          if (lx != ly && ((lx | ly) & 0x7FFFFFFFu) != 0) ++lse_diff;
        }
      BOOST_CHECK_MESSAGE(out_diff == 0 && lse_diff == 0,
                          describe(p) << " part1=" << splitmla::part1_variant_name(variant)
                                      << " chunk=" << c.chunk << " rows_per_cta=" << plan.rows_per_cta
                                      << " token " << t << ": " << out_diff << " out and " << lse_diff
                                      << " lse elements differ from the q_len = 1 call");
    }
    // And the multi-token call itself is right.
    check_matches(p, multi, reference_of(p), describe(p) + " chunk");
  }
}

BOOST_AUTO_TEST_SUITE_END()
