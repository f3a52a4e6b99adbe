// GPU decode against the float64 CPU reference, through the public API only: odd and full head
// counts, every page size class, both dtypes, lengths at page boundaries and up to 20k, NaN rows
// and out-of-range page ids where nothing may read, shuffled pages, every split policy (forced
// counts above the length included, so splits are empty), with and without lse, non-dense
// strides; then bitwise determinism, batch invariance of the chunk policy, and the extremes
// (one 262144-token request, a batch of 65536 tiny requests).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

#include "core/split_rule.hpp"
#include "gpu/gpu_test_util.hpp"
#include "kernels/common/env_switch.hpp"

using namespace gputest;
using splitmla::SplitPolicy;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

const SplitPolicy kPolicies[] = {
    SplitPolicy::automatic(), SplitPolicy::forced(1), SplitPolicy::forced(2), SplitPolicy::forced(7),
    SplitPolicy::forced(64),  SplitPolicy::chunk(64), SplitPolicy::chunk(1000)};

// Head-tokens per case: bounds the float64 reference (about 2.2 kFLOP per head-token).
constexpr int64_t kHeadTokenBudget = 150000;

// Lengths for one case: page-boundary lengths, then random ones, then one long request, as far
// as the budget allows.
std::vector<int32_t> case_lengths(int32_t heads, int32_t page_size, Rng& rng) {
  std::vector<int32_t> lens = boundary_lengths(page_size);
  const int64_t budget = kHeadTokenBudget / heads;
  int64_t used = 0;
  for (int32_t x : lens) used += x;
  const int32_t long_len = static_cast<int32_t>(std::min<int64_t>(20000, budget - used - 600));
  if (long_len > 4 * page_size) {
    lens.push_back(long_len - rng.below(page_size));
    used += long_len;
  }
  for (int i = 0; i < 4 && used + 600 <= budget; ++i) {
    const int32_t x = rng.between(2, 600);
    lens.push_back(x);
    used += x;
  }
  // Shuffle so the long request is not always last.
  for (size_t i = lens.size(); i > 1; --i) std::swap(lens[i - 1], lens[static_cast<size_t>(rng.below(static_cast<int32_t>(i)))]);
  return lens;
}

// One problem per page size for this head count; dtype alternates so each (heads, page) pair
// is covered once and each head count sees both dtypes. Every policy runs against one reference.
// Under the sanitizer only pages 1 and 2 run, unless SPLITMLA_SANITIZE_PAGES names others
// ("16,32": the pages whose wgmma tiles use per-group full barriers), each one of kAllPages.
constexpr int32_t kAllPages[] = {1, 2, 16, 32, 64, 128};

std::vector<size_t> page_indices() {
  std::vector<size_t> idx;
  if (!sanitizing()) {
    for (size_t i = 0; i < std::size(kAllPages); ++i) idx.push_back(i);
    return idx;
  }
  const char* env = std::getenv("SPLITMLA_SANITIZE_PAGES");
  if (env == nullptr || env[0] == '\0') return {0, 1};
  std::string s(env);
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, comma - pos);
    size_t found = std::size(kAllPages);
    for (size_t i = 0; i < std::size(kAllPages); ++i)
      if (item == std::to_string(kAllPages[i])) found = i;
    BOOST_TEST_REQUIRE(found < std::size(kAllPages),
                       "SPLITMLA_SANITIZE_PAGES: '" << item << "' is not one of 1,2,16,32,64,128");
    idx.push_back(found);
    pos = comma + 1;
  }
  return idx;
}

// Every runnable part1 variant (forced by name; the wgmma kernel pads any head count to 64-row
// blocks) under each of `policies`, against the reference; `note` ends each label.
void check_every_variant(const HostProblem& p, const HostOutputs& ref, DeviceProblem& dp,
                         splitmla::ScratchPool& pool, cudaStream_t stream,
                         const std::vector<SplitPolicy>& policies, const std::string& note = "") {
  for (const splitmla::Part1Variant v : runnable_variants()) {
    for (const SplitPolicy pol : policies) {
      const std::string label = describe(p) + " part1=" + splitmla::part1_variant_name(v) +
                                " policy=" + splitmla::policy_text(pol) + note;
      BOOST_TEST_CONTEXT(label) {
        const splitmla::Plan plan = plan_for(p, pol, 0, v);
        check_matches(p, run_decode(plan, pool, dp, stream), ref, label);
      }
    }
  }
}

void heads_case(int32_t heads) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  for (const size_t pi : page_indices()) {
    const int32_t page = kAllPages[pi];
    Rng rng(static_cast<uint64_t>(heads) * 1000 + static_cast<uint64_t>(page));
    GenSpec g;
    g.dtype = ((static_cast<size_t>(heads) + pi) % 2 == 0) ? DType::kBFloat16 : DType::kFloat16;
    g.num_heads = heads;
    g.page_size = page;
    g.lens = case_lengths(heads, page, rng);
    g.seed = rng.next();
    const HostProblem p = make_problem(g);
    const HostOutputs ref = reference_of(p);
    DeviceProblem dp;
    dp.upload(p);
    check_every_variant(p, ref, dp, pool, stream.s, {std::begin(kPolicies), std::end(kPolicies)});
    // Without lse: out alone must still match.
    DeviceProblem dp_nolse;
    dp_nolse.upload(p, Layout::dense(), /*lse_on=*/false);
    const splitmla::Plan plan = plan_for(p, SplitPolicy::automatic());
    check_matches(p, run_decode(plan, pool, dp_nolse, stream.s), ref, describe(p) + " auto, lse=null");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(matches_reference)

BOOST_AUTO_TEST_CASE(heads_1_all_pages_and_policies, *needs_gpu()) { heads_case(1); }
BOOST_AUTO_TEST_CASE(heads_3_all_pages_and_policies, *needs_gpu()) { heads_case(3); }
BOOST_AUTO_TEST_CASE(heads_16_all_pages_and_policies, *needs_gpu()) { heads_case(16); }
// 24 heads: the mma.sync 32-row instance at q_len 1 (8 padded rows), which the other head counts
// here do not reach (16 takes the 16-row one, 63 and up the 64-row one or wgmma).
BOOST_AUTO_TEST_CASE(heads_24_all_pages_and_policies, *needs_gpu()) { heads_case(24); }
BOOST_AUTO_TEST_CASE(heads_63_all_pages_and_policies, *needs_gpu()) { heads_case(63); }
BOOST_AUTO_TEST_CASE(heads_64_all_pages_and_policies, *needs_gpu()) { heads_case(64); }
BOOST_AUTO_TEST_CASE(heads_127_all_pages_and_policies, *needs_gpu()) { heads_case(127); }
BOOST_AUTO_TEST_CASE(heads_128_all_pages_and_policies, *needs_gpu()) { heads_case(128); }

// part2's grid holds at most one wave of resident blocks (lib/kernels/part2/part2.cu: a warp a
// pair, 24 pairs an SM on the H200) and walks the pairs of the split requests with a grid stride,
// each pair's (request, row) stepped without a division and its multi entry read one pair ahead.
// Enough 128-head requests, every one split, that each warp merges several pairs (more than 40
// x SMs, over any one-wave grid of part2's), and one empty request among them (every split
// empty: out 0, lse -inf): every policy that splits them, on every runnable part1 variant, must
// match the reference.
BOOST_AUTO_TEST_CASE(part2_walks_more_pairs_than_its_grid, *needs_gpu()) {
  int sms = 0;
  GPUTEST_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const int32_t heads = 128;
  const int32_t batch = (40 * sms) / heads + 5;
  BOOST_TEST_REQUIRE(int64_t{batch} * heads > int64_t{40} * sms);
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec g;
  g.dtype = DType::kBFloat16;
  g.num_heads = heads;
  g.page_size = 64;
  for (int32_t b = 0; b < batch; ++b) g.lens.push_back(b == 3 ? 0 : 130 + 37 * b);
  g.seed = 4242;
  const HostProblem p = make_problem(g);
  const HostOutputs ref = reference_of(p);
  DeviceProblem dp;
  dp.upload(p);
  check_every_variant(p, ref, dp, pool, stream.s,
                      {SplitPolicy::forced(2), SplitPolicy::forced(5), SplitPolicy::chunk(64)});
}

// The auto policy's even shape (lib/core/split_rule.hpp): a batch of a third as many requests as
// work CTAs, 1,536 positions each except one of 700 and one empty, takes equal pieces of one CTA
// each. The device planner's pieces per request must be the host rule's (read_schedule), the host
// rule must say even (or the case would not test the shape), and the outputs must match the
// reference, on every runnable part1 variant. With SPLITMLA_AUTO_EVEN=0 the device plans without
// the shape, and so does the host rule here.
BOOST_AUTO_TEST_CASE(auto_even_shape_plans_as_the_host_rule_and_matches, *needs_gpu()) {
  const bool even_on = splitmla::kernels::env_switch_on("SPLITMLA_AUTO_EVEN");  // the planner's reading
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  for (const splitmla::Part1Variant v : runnable_variants()) {
    GenSpec g;
    g.dtype = DType::kBFloat16;
    g.num_heads = 8;
    g.page_size = 64;
    g.lens = {64};
    const splitmla::Plan probe = plan_for(make_problem(g), SplitPolicy::automatic(), 0, v);
    const int32_t batch = probe.work_ctas / 3;
    BOOST_TEST_REQUIRE(batch >= 8);
    g.lens.assign(static_cast<size_t>(batch), 1536);
    g.lens[5] = 700;
    g.lens[7] = 0;
    g.seed = 515 + static_cast<uint64_t>(v);
    const HostProblem p = make_problem(g);
    const splitmla::Plan plan = plan_for(p, SplitPolicy::automatic(), 0, v);
    const std::string label = describe(p) + " part1=" + splitmla::part1_variant_name(v);
    BOOST_TEST_CONTEXT(label) {
      splitmla::split_rule::AutoConstants k{};
      k.key_tile = plan.key_tile;
      if (!even_on) k.even_slack = 0;
      std::vector<int32_t> want;
      const splitmla::split_rule::AutoPlanHost host = splitmla::split_rule::plan_auto_host(
          std::vector<long long>(g.lens.begin(), g.lens.end()), plan.work_ctas, k,
          [&](size_t, long long, long long, int count, const splitmla::split_rule::AutoPlanHost&) {
            want.push_back(count);
          });
      BOOST_TEST_REQUIRE((host.even_len > 0) == even_on);
      const HostOutputs ref = reference_of(p);
      DeviceProblem dp;
      dp.upload(p);
      check_matches(p, run_decode(plan, pool, dp, stream.s), ref, label);
      splitmla::Workspace ws;
      GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));
      splitmla::ScheduleInfo info;
      GPUTEST_REQUIRE_OK(splitmla::read_schedule(plan, ws, p.batch, stream.s, &info));
      BOOST_TEST(info.splits_per_request == want, boost::test_tools::per_element());
      if (even_on) BOOST_TEST(want[0] == 3);  // 1,536 positions in three 512-position pieces
    }
  }
}

// Scores whose level climbs and falls along the keys, tile by tile (64 keys; `steps`, base 2):
// rises of +1 to +3 (inside the wgmma kernel's lazy-max step of 8: its reference max stays and P
// grows up to 2^8), of +9 to +55 (past it: the max moves and O is rescaled), and drops of -2 to
// -30; q positive and every element of a key shifted by the same amount, so a row's scores move
// together. Every part1 variant and several policies (pieces cut inside the pattern) against the
// reference.
BOOST_AUTO_TEST_CASE(scores_that_climb_and_fall_across_tiles, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const double steps[] = {0, 3, 6, 15, 13, 3, -7, 18, 21, 46, 16, 17, 20, 23, 26, 29, 0, 55};
  const size_t num_steps = std::size(steps);
  for (const int32_t heads : {16, 64, 128}) {
    GenSpec g;
    g.dtype = heads == 64 ? DType::kFloat16 : DType::kBFloat16;
    g.num_heads = heads;
    g.page_size = 64;
    g.lens = {1200, 64 * static_cast<int32_t>(num_steps) - 5, 300};
    g.softmax_scale = 0.0721687836;
    g.seed = 9000 + static_cast<uint64_t>(heads);
    HostProblem p = make_problem(g);
    const DType d = p.dtype;
    double q_sum = 0;  // mean over heads of sum(q) after the abs below: the shift's gain
    for (auto& x : p.q) {
      const float v = 0.25f + 0.75f * std::fabs(splitmla::half_bits_to_float(d, x));
      x = splitmla::float_to_half_bits(d, v);
      q_sum += splitmla::half_bits_to_float(d, x);
    }
    q_sum /= static_cast<double>(p.q.size() / kHeadDimQK);
    // A shift of every key element by u moves a score by u * sum(q) * scale, in base 2 by
    // u * sum(q) * scale * log2(e).
    const double per_unit = q_sum * p.softmax_scale * 1.4426950408889634;
    for (int32_t b = 0; b < p.batch; ++b) {
      const int32_t n = p.seq_lens[static_cast<size_t>(b)];
      const int32_t* row = &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq];
      for (int32_t pos = 0; pos < n; ++pos) {
        const double u = steps[static_cast<size_t>(pos / 64) % num_steps] / per_unit;
        uint16_t* kv = &p.kv_cache[(static_cast<size_t>(row[pos / p.page_size]) * p.page_size +
                                    static_cast<size_t>(pos % p.page_size)) * kHeadDimQK];
        for (int32_t c = 0; c < kHeadDimQK; ++c)
          kv[c] = splitmla::float_to_half_bits(d, splitmla::half_bits_to_float(d, kv[c]) + static_cast<float>(u));
      }
    }
    const HostOutputs ref = reference_of(p);
    DeviceProblem dp;
    dp.upload(p);
    check_every_variant(p, ref, dp, pool, stream.s,
                        {SplitPolicy::automatic(), SplitPolicy::forced(1), SplitPolicy::forced(3),
                         SplitPolicy::chunk(200)},
                        " (climbing scores)");
  }
}

// Non-dense q/out/lse/kv/table strides (padding filled with NaN / poison ids), lse on and off:
// results match and no pad element is written.
BOOST_AUTO_TEST_CASE(strided_layouts_match_and_pads_stay_untouched, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  struct Case { int32_t heads, page; DType dtype; };
  const Case cases[] = {{3, 1, DType::kBFloat16}, {64, 16, DType::kFloat16}, {128, 64, DType::kBFloat16},
                        {17, 128, DType::kFloat16}};
  uint64_t seed = 77;
  for (const Case& c : cases) {
    GenSpec g;
    g.dtype = c.dtype;
    g.num_heads = c.heads;
    g.page_size = c.page;
    g.lens = {0, c.page + 1, 3 * c.page - 1, 700, 1};
    g.seed = seed++;
    const HostProblem p = make_problem(g);
    const HostOutputs ref = reference_of(p);
    for (const bool lse_on : {true, false}) {
      DeviceProblem dp;
      dp.upload(p, Layout::padded(), lse_on);
      for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(7), SplitPolicy::chunk(64)}) {
        const std::string label = describe(p) + " padded, lse=" + (lse_on ? "on" : "null") +
                                  " policy=" + splitmla::policy_text(pol);
        const splitmla::Plan plan = plan_for(p, pol);
        check_matches(p, run_decode(plan, pool, dp, stream.s), ref, label);
      }
    }
  }
}

// A batch made only of empty requests: out exactly 0, lse -inf, under every policy.
BOOST_AUTO_TEST_CASE(empty_requests_give_zero_and_minus_inf, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec g;
  g.num_heads = 5;
  g.page_size = 16;
  g.lens = {0, 0, 0};
  g.max_pages_per_seq = 4;
  const HostProblem p = make_problem(g);
  DeviceProblem dp;
  dp.upload(p);
  for (const SplitPolicy pol : kPolicies) {
    BOOST_TEST_CONTEXT("policy=" << splitmla::policy_text(pol)) {
      const RunResult r = run_decode(plan_for(p, pol), pool, dp, stream.s);
      const HostOutputs o = r.as_outputs(p.dtype);
      int64_t bad_out = 0, bad_lse = 0;
      for (float v : o.out) bad_out += (v != 0.0f);
      for (float v : o.lse) bad_lse += !(std::isinf(v) && v < 0);
      BOOST_TEST(bad_out == 0);
      BOOST_TEST(bad_lse == 0);
      BOOST_TEST(r.pads_touched == 0);
    }
  }
}

// The harness itself: an output left unwritten (still poison), one value off by 0.1 + 5%, or one pad
// element written are each caught, so the passes above mean something.
BOOST_AUTO_TEST_CASE(harness_catches_unwritten_wrong_and_stray_outputs, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec g;
  g.num_heads = 3;
  g.page_size = 16;
  g.lens = {50, 0, 300};
  const HostProblem p = make_problem(g);
  const HostOutputs ref = reference_of(p);
  DeviceProblem dp;
  dp.upload(p, Layout::padded());
  const RunResult good = run_decode(plan_for(p, SplitPolicy::automatic()), pool, dp, stream.s);
  const auto tol = splitmla::Tolerance::for_dtype(p.dtype);
  BOOST_TEST(splitmla::compare_outputs(p, good.as_outputs(p.dtype), ref, tol).ok);
  BOOST_TEST(good.pads_touched == 0);

  RunResult unwritten = good;
  unwritten.out_bits[kHeadDimV + 7] = kPoisonHalf;
  BOOST_TEST(!splitmla::compare_outputs(p, unwritten.as_outputs(p.dtype), ref, tol).ok);

  RunResult off = good;
  const size_t i = 2 * kHeadDimV + 11;
  const float v = splitmla::half_bits_to_float(p.dtype, off.out_bits[i]);
  off.out_bits[i] = splitmla::float_to_half_bits(p.dtype, v + std::copysign(0.1f + 0.05f * std::fabs(v), v));
  BOOST_TEST(!splitmla::compare_outputs(p, off.as_outputs(p.dtype), ref, tol).ok);

  // A write into a pad of out: read_back counts it.
  const uint16_t zero = 0;
  uint16_t* pad = dp.out.as<uint16_t>() + kHeadDimV;  // between head 0 and head 1 of request 0
  GPUTEST_CUDA(cudaMemcpy(pad, &zero, sizeof(zero), cudaMemcpyHostToDevice));
  BOOST_TEST(read_back(dp).pads_touched == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(determinism)

// The same inputs and plan give identical bits on every run; the lse pointer does not change out.
BOOST_AUTO_TEST_CASE(same_inputs_same_plan_give_identical_bits, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec g;
  g.num_heads = 128;
  g.page_size = 64;
  g.lens = {5000, 1, 0, 129, 3000, 64, 65};
  g.seed = 4242;
  for (const DType d : {DType::kBFloat16, DType::kFloat16}) {
    g.dtype = d;
    const HostProblem p = make_problem(g);
    DeviceProblem dp, dp_nolse;
    dp.upload(p);
    dp_nolse.upload(p, Layout::dense(), false);
    for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(64), SplitPolicy::chunk(64)}) {
      BOOST_TEST_CONTEXT(describe(p) << " policy=" << splitmla::policy_text(pol)) {
        const splitmla::Plan plan = plan_for(p, pol);
        const RunResult a = run_decode(plan, pool, dp, stream.s);
        const RunResult b = run_decode(plan, pool, dp, stream.s);
        const RunResult c = run_decode(plan, pool, dp, stream.s);
        BOOST_TEST(same_bits(a, b));
        BOOST_TEST(same_bits(a, c));
        const RunResult n = run_decode(plan, pool, dp_nolse, stream.s);
        BOOST_TEST(std::memcmp(a.out_bits.data(), n.out_bits.data(), a.out_bits.size() * 2) == 0);
      }
    }
  }
}

// Chunk policy: a request's bits do not depend on the other requests of the batch, nor on its
// position in it (one plan, sized for the largest batch, as a server holds it).
BOOST_AUTO_TEST_CASE(chunk_policy_is_batch_invariant, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  for (const int32_t heads : {16, 128, 7}) {
    for (const int32_t chunk : {64, 1000}) {
      Rng rng(static_cast<uint64_t>(heads * 31 + chunk));
      const int32_t page = 16;
      const int32_t target_len = 2500 + rng.below(100);
      const int32_t mpps = 256;
      // The target alone: batch 1.
      GenSpec g;
      g.num_heads = heads;
      g.page_size = page;
      g.lens = {target_len};
      g.max_pages_per_seq = mpps;
      g.seed = rng.next();
      const HostProblem alone = make_problem(g);
      const SplitPolicy pol = SplitPolicy::chunk(chunk);
      const splitmla::Plan plan = plan_for(alone, pol, /*max_batch=*/64);
      DeviceProblem d1;
      d1.upload(alone);
      const RunResult r1 = run_decode(plan, pool, d1, stream.s);

      // The same request inside batches of other random requests, at several positions.
      for (const int32_t batch : {2, 9, 64}) {
        const int32_t pos = rng.below(batch);
        GenSpec gb = g;
        gb.lens.clear();
        for (int32_t b = 0; b < batch; ++b) gb.lens.push_back(b == pos ? target_len : rng.between(0, 4000));
        gb.seed = rng.next();
        HostProblem big = make_problem(gb);
        // Put the target's q and its KV rows in place: copy q, and write its rows into the pages
        // the batch assigned to position `pos`.
        const size_t qrow = static_cast<size_t>(heads) * kHeadDimQK;
        std::copy(alone.q.begin(), alone.q.end(), big.q.begin() + static_cast<std::ptrdiff_t>(pos * qrow));
        for (int32_t t = 0; t < target_len; ++t) {
          const int32_t src_page = alone.block_table[static_cast<size_t>(t / page)];
          const int32_t dst_page = big.block_table[static_cast<size_t>(pos) * big.max_pages_per_seq + t / page];
          std::copy_n(&alone.kv_cache[(static_cast<size_t>(src_page) * page + t % page) * kHeadDimQK], kHeadDimQK,
                      &big.kv_cache[(static_cast<size_t>(dst_page) * page + t % page) * kHeadDimQK]);
        }
        big.softmax_scale = alone.softmax_scale;
        DeviceProblem db;
        db.upload(big);
        const RunResult rb = run_decode(plan, pool, db, stream.s);
        BOOST_TEST_CONTEXT("heads=" << heads << " chunk=" << chunk << " batch=" << batch << " pos=" << pos) {
          const size_t orow = static_cast<size_t>(heads) * kHeadDimV;
          BOOST_TEST(std::memcmp(r1.out_bits.data(), &rb.out_bits[pos * orow], orow * 2) == 0);
          BOOST_TEST(std::memcmp(r1.lse.data(), &rb.lse[static_cast<size_t>(pos) * heads],
                                 static_cast<size_t>(heads) * sizeof(float)) == 0);
        }
        // The batch is right as well (the reference on the smaller batches only: bounded work).
        if (batch <= 9 && heads <= 16 && chunk == 64) check_matches(big, rb, reference_of(big), describe(big) + " chunk batch");
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(extremes)

// One request of 262144 tokens (page 64, 16 heads): the automatic split and forced(8) both match
// the float64 reference (computed once; a few seconds on the CPU).
BOOST_AUTO_TEST_CASE(one_request_of_262144_tokens,
                     *boost::unit_test::precondition(not_sanitizing)) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec g;
  g.dtype = DType::kBFloat16;
  g.num_heads = 16;
  g.page_size = 64;
  g.lens = {262144};
  g.seed = 262144;
  const HostProblem p = make_problem(g);
  const HostOutputs ref = reference_of(p);
  DeviceProblem dp;
  dp.upload(p);
  for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(8)}) {
    check_matches(p, run_decode(plan_for(p, pol), pool, dp, stream.s), ref,
                  "262144 tokens, policy=" + std::string(splitmla::policy_text(pol)));
  }
}

// A batch of 65536 requests of 0..4 tokens (1 head, page 2): every row written and right.
BOOST_AUTO_TEST_CASE(batch_of_65536_tiny_requests,
                     *boost::unit_test::precondition(not_sanitizing)) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  Rng rng(65536);
  GenSpec g;
  g.dtype = DType::kFloat16;
  g.num_heads = 1;
  g.page_size = 2;
  g.lens.resize(65536);
  for (auto& x : g.lens) x = rng.between(0, 4);
  g.max_pages_per_seq = 3;
  g.seed = rng.next();
  const HostProblem p = make_problem(g);
  const HostOutputs ref = reference_of(p);
  DeviceProblem dp;
  dp.upload(p);
  for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(2), SplitPolicy::chunk(64)}) {
    check_matches(p, run_decode(plan_for(p, pol), pool, dp, stream.s), ref,
                  "batch 65536, policy=" + std::string(splitmla::policy_text(pol)));
  }
}

BOOST_AUTO_TEST_SUITE_END()
