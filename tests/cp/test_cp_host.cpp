// Context-parallel decode on the CPU: the local-length formula against a direct count (per query
// token too, causal and not, as the device planner computes it), the position maps, the float64
// merge of N shards against the single-pass reference (empty shards, q_len > 1 rows, +inf and
// base-2 LSEs, NaN from one shard), and the host validation of configurations and merges.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "core/visibility.hpp"
#include "cp/cp_test_util.hpp"

using splitmla::CpConfig;
using splitmla::HostProblem;
using splitmla::CpExchange;
using splitmla::PartialType;
using splitmla::ShardSpec;
using splitmla::Status;

BOOST_AUTO_TEST_SUITE(cp_host)

using cptest::problem;

namespace {

// Every position below n counted by its owner; the local positions enumerated back.
void check_spec(const ShardSpec& base, int64_t max_n) {
  std::vector<int64_t> count(static_cast<size_t>(base.world), 0);
  for (int64_t n = 0; n <= max_n; ++n) {
    int64_t total = 0;
    for (int32_t r = 0; r < base.world; ++r) {
      ShardSpec s = base;
      s.rank = r;
      const int64_t len = splitmla::shard_local_length(s, n);
      if (len != count[static_cast<size_t>(r)]) {
        BOOST_ERROR(cptest::describe(s) << " n=" << n << ": formula " << len << ", direct count "
                                        << count[static_cast<size_t>(r)]);
        return;
      }
      total += len;
    }
    BOOST_REQUIRE_EQUAL(total, n);
    if (n < max_n) {  // position n joins its owner's shard as its next local position
      ShardSpec s = base;
      s.rank = splitmla::shard_owner(base, n);
      BOOST_REQUIRE(s.rank >= 0 && s.rank < base.world);
      BOOST_REQUIRE_EQUAL(splitmla::shard_global_position(s, count[static_cast<size_t>(s.rank)]), n);
      ++count[static_cast<size_t>(s.rank)];
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(local_length_matches_a_direct_count_interleaved) {
  for (int32_t world : {1, 2, 3, 4, 8})
    for (int32_t g : {1, 2, 3, 4, 8, 16, 64, 128}) check_spec(cptest::interleaved(world, 0, g), 1200);
}

BOOST_AUTO_TEST_CASE(local_length_matches_a_direct_count_contiguous) {
  for (int32_t world : {1, 2, 3, 5, 8})
    for (int32_t range : {1, 7, 64, 500}) check_spec(cptest::contiguous(world, 0, range), 3000);
}

BOOST_AUTO_TEST_CASE(local_length_at_large_lengths_and_bad_ones) {
  // 1M-token and int32-limit lengths, by the closed forms the direct count confirms above.
  const int64_t big[] = {1 << 20, (1 << 20) + 1, 2147483647LL - 256};
  for (int64_t n : big)
    for (int32_t world : {2, 8})
      for (int32_t g : {1, 64}) {
        int64_t total = 0;
        for (int32_t r = 0; r < world; ++r) total += splitmla::shard_local_length(cptest::interleaved(world, r, g), n);
        BOOST_CHECK_EQUAL(total, n);
        total = 0;
        for (int32_t r = 0; r < world; ++r) total += splitmla::shard_local_length(cptest::contiguous(world, r, 300000), n);
        BOOST_CHECK_EQUAL(total, n);
      }
  BOOST_CHECK_EQUAL(splitmla::shard_local_length(cptest::interleaved(2, 1, 1), -1), -1);
  BOOST_CHECK_EQUAL(splitmla::shard_local_length(cptest::contiguous(2, 0, 4), -5), -1);
}

namespace {

// Every rank's per-token local limit (visibility::shard_token_limit, what the device planner
// writes) against a direct count of the rank's positions below the token's global limit, for
// every seq_len up to max_len; the ranks' limits add up to the global one; a local limit past
// the rank's capacity, or a negative seq_len, is bad (-1).
void check_token_limits(const ShardSpec& base, int32_t q_len, bool causal, int64_t max_len) {
  std::vector<std::vector<int64_t>> prefix(static_cast<size_t>(base.world),
                                           std::vector<int64_t>(static_cast<size_t>(max_len) + 1, 0));
  for (int64_t pos = 0; pos < max_len; ++pos)
    for (int32_t r = 0; r < base.world; ++r)
      prefix[static_cast<size_t>(r)][static_cast<size_t>(pos) + 1] =
          prefix[static_cast<size_t>(r)][static_cast<size_t>(pos)] + (splitmla::shard_owner(base, pos) == r ? 1 : 0);
  const int64_t huge = int64_t{1} << 40;
  for (int64_t len = 0; len <= max_len; ++len)
    for (int32_t t = 0; t < q_len; ++t) {
      const int64_t global = causal ? std::max<int64_t>(0, len - q_len + t + 1) : len;
      int64_t total = 0;
      for (int32_t r = 0; r < base.world; ++r) {
        ShardSpec s = base;
        s.rank = r;
        const int64_t want = prefix[static_cast<size_t>(r)][static_cast<size_t>(global)];
        const int64_t got = splitmla::visibility::shard_token_limit(s, len, huge, q_len, t, causal);
        if (got != want) {
          BOOST_ERROR(cptest::describe(s) << " q_len=" << q_len << (causal ? " causal" : " non-causal")
                                          << " seq_len=" << len << " token " << t << ": limit " << got
                                          << ", direct count " << want);
          return;
        }
        total += got;
        // The rank's capacity bounds the local limit, not the global one.
        const int64_t at_cap = splitmla::visibility::shard_token_limit(s, len, want, q_len, t, causal);
        const int64_t below =
            want > 0 ? splitmla::visibility::shard_token_limit(s, len, want - 1, q_len, t, causal) : -1;
        if (at_cap != want || below != -1) {
          BOOST_ERROR(cptest::describe(s) << " seq_len=" << len << " token " << t << ": capacity " << want
                                          << " gives " << at_cap << ", capacity " << want - 1 << " gives " << below);
          return;
        }
      }
      if (total != global) {
        BOOST_ERROR(cptest::describe(base) << " seq_len=" << len << " token " << t << ": ranks hold " << total
                                           << " of " << global << " positions");
        return;
      }
    }
  BOOST_CHECK_EQUAL(splitmla::visibility::shard_token_limit(base, -1, huge, q_len, 0, causal), -1);
}

}  // namespace

BOOST_AUTO_TEST_CASE(per_token_local_limits_match_a_direct_count) {
  for (int32_t q_len : {1, 2, 3, 7, 16})
    for (bool causal : {true, false}) {
      for (int32_t world : {1, 2, 3, 4})
        for (int32_t g : {1, 2, 4, 16}) check_token_limits(cptest::interleaved(world, 0, g), q_len, causal, 300);
      for (int32_t world : {2, 3, 5})
        for (int32_t range : {1, 7, 64}) check_token_limits(cptest::contiguous(world, 0, range), q_len, causal, 400);
    }
}

BOOST_AUTO_TEST_CASE(per_token_local_limits_at_large_lengths) {
  // A 1M-token request, q_len 16: each token's limits add up to its global limit over the ranks.
  const int64_t huge = int64_t{1} << 40;
  for (int64_t len : {int64_t{1} << 20, (int64_t{1} << 20) + 5, int64_t{2147483647} - 256})
    for (bool causal : {true, false})
      for (int32_t t = 0; t < 16; ++t) {
        const int64_t global = causal ? len - 16 + t + 1 : len;
        for (const ShardSpec& base : {cptest::interleaved(8, 0, 64), cptest::contiguous(2, 0, 1 << 19)}) {
          int64_t total = 0;
          for (int32_t r = 0; r < base.world; ++r) {
            ShardSpec s = base;
            s.rank = r;
            total += splitmla::visibility::shard_token_limit(s, len, huge, 16, t, causal);
          }
          BOOST_CHECK_EQUAL(total, global);
        }
      }
}

namespace {

std::vector<ShardSpec> specs(int32_t world, int32_t page) {
  std::vector<ShardSpec> v;
  for (int32_t g : {1, page}) v.push_back(cptest::interleaved(world, 0, g));
  v.push_back(cptest::contiguous(world, 0, 37));
  return v;
}

// Each rank's shard through the float64 reference, then the float64 merge.
splitmla::HostOutputs shard_and_merge(const HostProblem& p, const ShardSpec& base, bool base2,
                                      bool plus_inf_empty) {
  std::vector<splitmla::HostOutputs> parts;
  for (int32_t r = 0; r < base.world; ++r) {
    ShardSpec s = base;
    s.rank = r;
    splitmla::HostOutputs o = cptest::shard_reference(p, s);  // per-token local limits
    for (float& l : o.lse) {
      if (plus_inf_empty && l == -std::numeric_limits<float>::infinity())
        l = std::numeric_limits<float>::infinity();
      else if (base2) l = static_cast<float>(l / 0.6931471805599453);
    }
    parts.push_back(std::move(o));
  }
  splitmla::HostOutputs m;
  const Status st = splitmla::reference_merge_partials(parts, p.batch * p.q_len, p.num_heads, base2, &m);
  BOOST_REQUIRE_MESSAGE(st == Status::kSuccess, splitmla::status_message(st));
  return m;
}

void check_close(const HostProblem& p, const splitmla::HostOutputs& got,
                 const splitmla::HostOutputs& ref, const std::string& label) {
  splitmla::Tolerance tight;
  tight.out_atol = 1e-5;
  tight.out_rtol = 1e-5;
  tight.lse_atol = 1e-5;
  const splitmla::CompareReport rep = splitmla::compare_outputs(p, got, ref, tight, "merged", "single");
  BOOST_CHECK_MESSAGE(rep.ok, label << ": " << rep.text);
}

}  // namespace

BOOST_AUTO_TEST_CASE(merging_n_shards_equals_the_single_pass) {
  // Lengths 0 (empty everywhere), 1 and 3 (empty shards on most ranks), page edges, longer.
  const HostProblem p = problem(5, 16, {0, 1, 3, 15, 16, 17, 47, 200, 333}, 7);
  const splitmla::HostOutputs single = gputest::reference_of(p);
  for (int32_t world : {1, 2, 3, 4, 8})
    for (const ShardSpec& s : specs(world, p.page_size))
      check_close(p, shard_and_merge(p, s, false, false), single, cptest::describe(s));
}

BOOST_AUTO_TEST_CASE(merging_n_shards_with_several_tokens_equals_the_single_pass) {
  // Each token's rows on a rank see the rank's positions below the token's own global limit;
  // lengths put the tokens' limits on both sides of rank edges (g = 1: every position; g = page;
  // the contiguous range 37), and below q_len (causal rows with nothing visible).
  const std::vector<int32_t> lens = {0, 1, 2, 3, 5, 15, 16, 17, 36, 37, 38, 40, 75, 200};
  for (const HostProblem& p : {problem(3, 16, lens, 31, 4, true), problem(2, 16, lens, 32, 3, false),
                               problem(1, 8, {0, 7, 8, 9, 16, 17, 40}, 33, 16, true)}) {
    const splitmla::HostOutputs single = gputest::reference_of(p);
    for (int32_t world : {2, 3, 4})
      for (const ShardSpec& s : specs(world, p.page_size))
        check_close(p, shard_and_merge(p, s, false, false), single,
                    cptest::describe(s) + " q_len " + std::to_string(p.q_len) + (p.causal ? " causal" : " non-causal"));
  }
}

BOOST_AUTO_TEST_CASE(plus_inf_and_base2_lse_merge_the_same) {
  const HostProblem p = problem(3, 8, {0, 2, 9, 64, 100}, 11);
  const splitmla::HostOutputs single = gputest::reference_of(p);
  for (const ShardSpec& s : specs(4, p.page_size)) {
    check_close(p, shard_and_merge(p, s, false, true), single, cptest::describe(s) + " +inf empty");
    check_close(p, shard_and_merge(p, s, true, false), single, cptest::describe(s) + " base 2");
    check_close(p, shard_and_merge(p, s, true, true), single, cptest::describe(s) + " base 2, +inf");
  }
}

BOOST_AUTO_TEST_CASE(a_nan_shard_makes_only_its_row_nan) {
  const HostProblem p = problem(2, 8, {40, 40, 40}, 3);
  std::vector<splitmla::HostOutputs> parts;
  for (int32_t r = 0; r < 2; ++r) parts.push_back(gputest::reference_of(cptest::make_shard(p, cptest::interleaved(2, r, 1))));
  const size_t row1 = 1 * 2;  // request 1, head 0
  parts[1].lse[row1] = std::numeric_limits<float>::quiet_NaN();
  splitmla::HostOutputs m;
  BOOST_REQUIRE(splitmla::reference_merge_partials(parts, 3, 2, false, &m) == Status::kSuccess);
  BOOST_CHECK(std::isnan(m.lse[row1]) && std::isnan(m.out[row1 * 512]));
  BOOST_CHECK(std::isfinite(m.lse[0]) && std::isfinite(m.lse[4]) && std::isfinite(m.out[4 * 512]));
}

BOOST_AUTO_TEST_CASE(config_validation_names_the_field) {
  const HostProblem p = problem(4, 16, {10}, 1);
  CpConfig c = cptest::cp_config(p, cptest::interleaved(2, 0, 1), PartialType::kFloat32, CpExchange::kAllGather);
  BOOST_CHECK(splitmla::can_implement(c) == Status::kSuccess);
  CpConfig bad = c;
  bad.decode.q_len = 2;  // several query tokens per request: per-token local limits
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kSuccess);
  bad.decode.causal = false;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kSuccess);
  bad.decode.q_len = 17;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("q_len = 17") != std::string::npos);
  bad = c;
  bad.shard.rank = 2;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("shard.rank = 2") != std::string::npos);
  bad = c;
  bad.shard.granularity = 3;  // does not divide page 16
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("granularity = 3") != std::string::npos);
  bad = c;
  bad.shard = cptest::contiguous(2, 1, 0);
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  bad = c;
  bad.shard.world = splitmla::kMaxCpWorld + 1;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  bad = c;
  bad.partial_type = PartialType::kFloat16;  // q is bf16
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadDType);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("partial_type = float16") != std::string::npos);
}

// The default partial type is the dtype of q, resolved by make_cp_plan: the plan holds the concrete
// type (16-bit packed outputs, no fp32 routing in the shard plan); merge arguments refuse kSameAsQ.
BOOST_AUTO_TEST_CASE(default_partial_type_is_the_dtype_of_q) {
  BOOST_CHECK((CpConfig{}.partial_type == PartialType::kSameAsQ));
  BOOST_CHECK_EQUAL(std::string(splitmla::partial_type_name(PartialType::kSameAsQ)), "same_as_q");
  BOOST_CHECK_EQUAL(splitmla::partial_type_bytes(PartialType::kSameAsQ), 0u);
  for (const splitmla::DType dt : {splitmla::DType::kBFloat16, splitmla::DType::kFloat16}) {
    HostProblem p = problem(8, 16, {10, 20}, 1);
    p.dtype = dt;
    CpConfig c = cptest::cp_config(p, cptest::interleaved(2, 0, 1), PartialType::kSameAsQ,
                                   CpExchange::kAllGather);
    c.decode.device = 0;
    c.decode.num_sms = 132;
    splitmla::CpPlan plan;
    BOOST_REQUIRE(splitmla::make_cp_plan(c, &plan) == Status::kSuccess);
    const PartialType want =
        dt == splitmla::DType::kFloat16 ? PartialType::kFloat16 : PartialType::kBFloat16;
    BOOST_CHECK((plan.config.partial_type == want));
    BOOST_CHECK(!plan.shard.out_f32);
    splitmla::CpLayout l;
    BOOST_REQUIRE(splitmla::cp_layout(plan, 2, &l) == Status::kSuccess);
    BOOST_CHECK_GE(l.out_bytes, 2u * 8 * 512 * 2);
    BOOST_CHECK_LT(l.out_bytes, 2u * 8 * 512 * 4);  // 16-bit, not float32
  }
  splitmla::MergeArgs m;
  m.num_sources = 2;
  m.batch = 1;
  m.q_len = 1;
  m.num_heads = 1;
  m.part_type = PartialType::kSameAsQ;
  BOOST_CHECK(splitmla::can_implement(m) == Status::kBadDType);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("same_as_q") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(plan_layout_without_a_gpu) {
  const HostProblem p = problem(20, 16, {10, 20}, 1);
  CpConfig c = cptest::cp_config(p, cptest::interleaved(3, 1, 1), PartialType::kBFloat16, CpExchange::kAllToAll);
  c.decode.device = 0;
  c.decode.num_sms = 132;
  splitmla::CpPlan plan;
  BOOST_REQUIRE(splitmla::make_cp_plan(c, &plan) == Status::kSuccess);
  splitmla::CpLayout l;
  BOOST_REQUIRE(splitmla::cp_layout(plan, 2, &l) == Status::kSuccess);
  BOOST_CHECK_EQUAL(l.groups, 3);
  BOOST_CHECK_EQUAL(l.heads_per_group, 7);
  BOOST_CHECK_EQUAL(l.rows, 2);
  BOOST_CHECK_EQUAL(l.out_bytes % 256, 0u);
  BOOST_CHECK_GE(l.out_bytes, 2u * 7 * 512 * 2);
  BOOST_CHECK_EQUAL(l.partials_bytes, 3 * l.chunk_bytes);
  BOOST_CHECK_EQUAL(l.received_bytes, 3 * l.chunk_bytes);
  BOOST_CHECK_GE(plan.workspace_bytes, plan.off_recv + l.received_bytes);
  int32_t first = -1, count = -1;
  splitmla::cp_rank_heads(plan, 2, &first, &count);
  BOOST_CHECK_EQUAL(first, 14);
  BOOST_CHECK_EQUAL(count, 6);
  BOOST_CHECK(splitmla::cp_layout(plan, 3, &l) == Status::kBadBatch);
  // fp32 partials route every request through the shard's partial slots.
  c.partial_type = PartialType::kFloat32;
  BOOST_REQUIRE(splitmla::make_cp_plan(c, &plan) == Status::kSuccess);
  BOOST_CHECK(plan.shard.out_f32);
  BOOST_CHECK_GE(plan.shard.slots_bound, plan.shard.pieces_bound);
  BOOST_CHECK_EQUAL(plan.shard.multi_bound, c.decode.max_batch);
  // q_len 3: rows = 3 x 20 in the shard plan and in the packed layout.
  c.decode.q_len = 3;
  BOOST_REQUIRE(splitmla::make_cp_plan(c, &plan) == Status::kSuccess);
  BOOST_CHECK_EQUAL(plan.shard.rows, 60);
#if defined(SPLITMLA_HAVE_SM90A)
  BOOST_CHECK(plan.shard.part1 == splitmla::Part1Variant::kWgmma);  // 60 rows: auto's wgmma
#else
  BOOST_CHECK(plan.shard.part1 == splitmla::Part1Variant::kMmaSync);
#endif
  BOOST_REQUIRE(splitmla::cp_layout(plan, 2, &l) == Status::kSuccess);
  BOOST_CHECK_EQUAL(l.rows, 6);
  BOOST_CHECK_GE(l.out_bytes, 6u * 7 * 512 * 4);  // rows x heads of one group, float32
}

BOOST_AUTO_TEST_CASE(merge_args_validation_names_the_field) {
  alignas(256) static float buf[4096];
  splitmla::MergeArgs m;
  m.num_sources = 2;
  m.batch = 1;
  m.num_heads = 1;
  m.part_type = PartialType::kFloat32;
  m.part_out = buf;
  m.po_stride_source = 512;
  m.part_lse = buf + 1024;
  m.pl_stride_source = 1;
  m.out_type = PartialType::kFloat32;
  m.out = buf + 2048;
  BOOST_CHECK(splitmla::can_implement(m) == Status::kSuccess);
  splitmla::MergeArgs bad = m;
  bad.num_sources = 0;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadShape);
  bad = m;
  bad.po_stride_source = 510;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kMisaligned);
  BOOST_CHECK(std::string(splitmla::last_error_detail()).find("po_stride_source = 510") != std::string::npos);
  bad = m;
  bad.out = buf + 2049;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kMisaligned);
  bad = m;
  bad.batch = 2;  // out_stride_batch 0 would make both rows one
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kBadStride);
  bad = m;
  bad.part_lse = nullptr;
  BOOST_CHECK(splitmla::can_implement(bad) == Status::kNullPointer);
}

BOOST_AUTO_TEST_SUITE_END()
