// The plan of a multi-token decode, on the host (num_sms and device given, no GPU needed): query
// rows = q_len x heads are the M dimension of part1, row blocks count toward the one-wave grid,
// partials are sized by rows, and auto picks the kernel by rows at any q_len; part2's walk over
// (request, row) pairs steps as the division does.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

#include "api/workspace.hpp"
#include "core/pair_walk.hpp"
#include "splitmla/decode.hpp"
#include "splitmla/status.hpp"

namespace {

using splitmla::DecodeConfig;
using splitmla::Part1Variant;
using splitmla::Plan;
using splitmla::Status;

DecodeConfig config(int heads, int q_len) {
  DecodeConfig c;
  c.num_heads = heads;
  c.q_len = q_len;
  c.page_size = 64;
  c.max_batch = 16;
  c.max_pages_per_seq = 32;
  c.device = 0;
  c.num_sms = 132;
  return c;
}

Plan plan_of(const DecodeConfig& c) {
  Plan p;
  const Status s = splitmla::make_plan(c, &p);
  BOOST_REQUIRE_MESSAGE(s == Status::kSuccess, splitmla::status_message(s));
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plan_rows)

BOOST_AUTO_TEST_CASE(rows_are_q_len_times_heads_in_blocks_of_the_tier) {
  struct Row { int heads, q_len, rows, per_cta, blocks; };
  const Row rows[] = {{16, 1, 16, 16, 1},   {16, 2, 32, 32, 1},  {3, 7, 21, 32, 1},
                      {1, 16, 16, 16, 1},   {63, 3, 189, 64, 3}, {128, 2, 256, 64, 4},
                      {128, 16, 2048, 64, 32}, {8, 2, 16, 16, 1}};
  for (const Row& r : rows) {
    BOOST_TEST_CONTEXT("heads " << r.heads << " q_len " << r.q_len) {
      DecodeConfig c = config(r.heads, r.q_len);
      c.part1 = Part1Variant::kMmaSync;
      const Plan p = plan_of(c);
      BOOST_TEST(p.rows == r.rows);
      BOOST_TEST(p.rows_per_cta == r.per_cta);
      BOOST_TEST(p.row_blocks == r.blocks);
      // Auto policy: one wave of SMs, each work CTA is row_blocks CTAs of the grid.
      BOOST_TEST(p.work_ctas == std::max(1, 132 / r.blocks));
    }
  }
}

// Auto takes the wgmma kernel from 32 rows (q_len x heads) at any q_len where it is built (planning
// without a device counts as sm_90); 16 rows and fewer stay on mma.sync.
BOOST_AUTO_TEST_CASE(auto_picks_the_kernel_by_heads_at_q_len_1) {
  struct Case { int heads, q_len; bool wgmma; };
  for (const Case k : {Case{16, 1, false}, Case{31, 1, false}, Case{16, 2, true}, Case{32, 1, true},
                       Case{33, 1, true}, Case{128, 1, true}, Case{128, 2, true}, Case{64, 16, true},
                       Case{1, 16, false}, Case{2, 16, true}, Case{3, 5, false}}) {
    const Plan p = plan_of(config(k.heads, k.q_len));
#if defined(SPLITMLA_HAVE_SM90A)
    const bool built = true;
#else
    const bool built = false;
#endif
    const Part1Variant want = k.wgmma && built ? Part1Variant::kWgmma : Part1Variant::kMmaSync;
    BOOST_TEST((p.part1 == want), k.heads << " heads, q_len " << k.q_len);
    BOOST_TEST(p.rows == k.heads * k.q_len);
  }
}

BOOST_AUTO_TEST_CASE(forcing_wgmma_with_q_len_above_1_plans_64_row_blocks) {
  DecodeConfig c = config(64, 3);
  c.part1 = Part1Variant::kWgmma;
  Plan p;
  const Status s = splitmla::make_plan(c, &p);
#if !defined(SPLITMLA_HAVE_SM90A)
  BOOST_TEST((s == Status::kNotSupported));
  return;
#endif
  BOOST_TEST_REQUIRE((s == Status::kSuccess), splitmla::last_error_detail());
  BOOST_TEST(p.rows_per_cta == 64);
  BOOST_TEST(p.row_blocks == 3);
}

BOOST_AUTO_TEST_CASE(forced_rows_per_cta_sets_the_tier) {
  for (const int tier : {16, 32, 64}) {
    DecodeConfig c = config(3, 7);  // 21 rows
    c.rows_per_cta = tier;
    const Plan p = plan_of(c);
    BOOST_TEST(p.rows_per_cta == tier);
    BOOST_TEST(p.row_blocks == (21 + tier - 1) / tier);
  }
}

// Partial slots hold one row each (rows x 512 floats), the token-limit array one int32 per
// (request, token): the workspace of q_len = k with h heads equals that of q_len = 1 with k * h
// heads plus the limits (the same slot bounds under a forced policy).
BOOST_AUTO_TEST_CASE(workspace_is_sized_by_rows) {
  DecodeConfig a = config(16, 4), b = config(64, 1);
  a.policy = b.policy = splitmla::SplitPolicy::forced(5);
  a.part1 = b.part1 = Part1Variant::kMmaSync;
  const Plan pa = plan_of(a), pb = plan_of(b);
  BOOST_TEST(pa.rows == pb.rows);
  BOOST_TEST(pa.slots_bound == pb.slots_bound);
  splitmla::detail::WorkspaceLayout la;
  BOOST_REQUIRE((splitmla::detail::workspace_layout(pa, &la) == Status::kSuccess));
  BOOST_TEST(la.total == pa.workspace_bytes);
  BOOST_TEST(la.part_out - la.part_lse >= size_t(pa.slots_bound) * pa.rows * sizeof(float));
  BOOST_TEST(pa.workspace_bytes - la.part_out >= size_t(pa.slots_bound) * pa.rows * 512 * sizeof(float));
  BOOST_TEST(la.part_lse - la.token_limits >= size_t(a.max_batch) * a.q_len * sizeof(int32_t));
  BOOST_TEST(pa.workspace_bytes >= pb.workspace_bytes);
  size_t bytes = 0;
  BOOST_TEST((splitmla::workspace_size(a, &bytes) == Status::kSuccess));
  BOOST_TEST(bytes == pa.workspace_bytes);
}

BOOST_AUTO_TEST_CASE(q_len_and_causal_are_validated) {
  for (const int q_len : {0, 17, -1}) {
    const Status s = splitmla::can_implement(config(16, q_len));
    BOOST_TEST((s == Status::kBadShape), "q_len " << q_len);
    BOOST_TEST(std::string(splitmla::last_error_detail()).find("q_len = " + std::to_string(q_len)) !=
               std::string::npos);
  }
  DecodeConfig c = config(16, 16);
  c.causal = false;
  BOOST_TEST((splitmla::can_implement(c) == Status::kSuccess));
}

// part2 walks pairs jh = first, first + stride, ... as (j, row) = (jh / rows, jh % rows) without
// dividing a step (lib/core/pair_walk.hpp): every step equals the division, for strides below,
// equal to and many times the row count, one row, and rows of every tier (16 .. 2048).
BOOST_AUTO_TEST_CASE(part2_pair_walk_steps_as_the_division) {
  int64_t checked = 0;
  for (int32_t rows : {1, 3, 16, 64, 127, 128, 256, 2048})
    for (int64_t stride : {int64_t{1}, int64_t{7}, int64_t{rows}, int64_t{rows} + 1, int64_t{3168},
                           int64_t{132} * 24, int64_t{1} << 20})
      for (int64_t first : {int64_t{0}, int64_t{1}, int64_t{rows} - 1, stride - 1, int64_t{5} * rows + 2}) {
        if (first < 0) continue;
        auto c = splitmla::pair_walk::Cursor::at(first, stride, rows);
        bool ok = true;
        for (int64_t jh = first, k = 0; k < 300; jh += stride, ++k, c.advance()) {
          ok = ok && c.j == jh / rows && c.row == jh % rows && c.row >= 0 && c.row < rows;
          ++checked;
        }
        BOOST_TEST(ok, "rows " << rows << " stride " << stride << " first " << first);
      }
  BOOST_TEST(checked > 10000);
}

BOOST_AUTO_TEST_SUITE_END()
