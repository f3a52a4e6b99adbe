// The contract's adversarial inputs (section 3): NaN rows past each length and bad page ids past
// each table row change nothing; a bad page id inside the visible range, or a seq_len that is
// negative or beyond the table's capacity, makes that request's rows NaN and leaves the others
// bit for bit as they were.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "problem_builder.hpp"
#include "splitmla/reference.hpp"

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::HostSplits;
using splitmla::kHeadDimV;
using splitmla::Status;

namespace {

struct Run {
  HostOutputs direct, merged;
  HostSplits splits;
};

Run run_all(const HostProblem& p, int32_t num_splits) {
  Run r;
  BOOST_TEST_REQUIRE(splitmla::reference_decode(p, &r.direct) == Status::kSuccess);
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, num_splits, &r.splits) ==
                     Status::kSuccess);
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, r.splits, &r.merged) == Status::kSuccess);
  return r;
}

// Elements [first, first + count) of a vector.
std::vector<float> slice(const std::vector<float>& v, size_t first, size_t count) {
  return std::vector<float>(v.begin() + first, v.begin() + first + count);
}

// Checks request `bad` is all NaN (direct, partials, merged) and every other request equals
// `clean` bit for bit.
void expect_only_request_nan(const HostProblem& p, const Run& clean, const Run& got,
                             int32_t bad, const std::string& what) {
  const size_t rows = static_cast<size_t>(p.q_len) * p.num_heads;
  const size_t srows = rows * got.splits.num_splits;
  for (int32_t b = 0; b < p.batch; ++b) {
    const std::string where = what + ", request " + std::to_string(b);
    const std::vector<std::pair<const std::vector<float>*, const std::vector<float>*>> pairs = {
        {&got.direct.out, &clean.direct.out}, {&got.direct.lse, &clean.direct.lse},
        {&got.merged.out, &clean.merged.out}, {&got.merged.lse, &clean.merged.lse},
        {&got.splits.split_out, &clean.splits.split_out},
        {&got.splits.split_lse, &clean.splits.split_lse}};
    for (size_t k = 0; k < pairs.size(); ++k) {
      const bool is_split = k >= 4;
      const bool is_out = k % 2 == 0;
      const size_t per_request = (is_split ? srows : rows) * (is_out ? kHeadDimV : 1);
      const std::vector<float> g = slice(*pairs[k].first, b * per_request, per_request);
      const std::vector<float> c = slice(*pairs[k].second, b * per_request, per_request);
      if (b == bad) {
        size_t nans = 0;
        for (float x : g) nans += std::isnan(x);
        BOOST_TEST(nans == per_request, where << " tensor " << k);
      } else {
        BOOST_TEST(reftest::same_bits(g, c), where << " tensor " << k);
      }
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(poison)

BOOST_AUTO_TEST_CASE(nan_rows_and_bad_ids_past_each_length_change_nothing) {
  for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
    for (int32_t ps : {1, 16, 64}) {
      for (int32_t q_len : {1, 2}) {
        reftest::Spec spec;
        spec.dtype = dtype;
        spec.num_heads = 3;
        spec.page_size = ps;
        spec.q_len = q_len;
        spec.seq_lens = {ps - 1, ps, ps + 1, 0, 2 * ps + 3, 1};
        spec.spare_entries = 2;
        spec.seed = 7 + ps;
        const HostProblem clean_p = reftest::make_problem(spec, false);
        const HostProblem dirty_p = reftest::make_problem(spec, true);
        BOOST_TEST_REQUIRE(clean_p.block_table != dirty_p.block_table);
        BOOST_TEST_REQUIRE(clean_p.kv_cache != dirty_p.kv_cache);
        const Run clean = run_all(clean_p, 3);
        const Run dirty = run_all(dirty_p, 3);
        const std::string tag = std::string(splitmla::dtype_name(dtype)) +
                                " page_size=" + std::to_string(ps) +
                                " q_len=" + std::to_string(q_len);
        BOOST_TEST(reftest::same_bits(clean.direct.out, dirty.direct.out), tag);
        BOOST_TEST(reftest::same_bits(clean.direct.lse, dirty.direct.lse), tag);
        BOOST_TEST(reftest::same_bits(clean.splits.split_out, dirty.splits.split_out), tag);
        BOOST_TEST(reftest::same_bits(clean.splits.split_lse, dirty.splits.split_lse), tag);
        BOOST_TEST(reftest::same_bits(clean.merged.out, dirty.merged.out), tag);
        int nans = 0;
        for (float x : dirty.direct.out) nans += std::isnan(x);
        BOOST_TEST(nans == 0, tag);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bad_device_data)

BOOST_AUTO_TEST_CASE(bad_page_id_inside_the_visible_range_nans_that_request_only) {
  reftest::Spec spec;
  spec.num_heads = 3;
  spec.page_size = 16;
  spec.q_len = 2;
  spec.seq_lens = {20, 33, 16, 0};
  const HostProblem p = reftest::make_problem(spec, true);
  const Run clean = run_all(p, 3);
  // Request 1 (33 tokens) needs table entries 0, 1, 2; spoil the first and the last needed.
  for (int32_t entry : {0, 2}) {
    for (int32_t id : {p.num_pages, -1}) {
      HostProblem bad = p;
      bad.block_table[static_cast<size_t>(1) * p.max_pages_per_seq + entry] = id;
      expect_only_request_nan(bad, clean, run_all(bad, 3), 1,
                              "entry " + std::to_string(entry) + " id " + std::to_string(id));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_seq_len_nans_that_request_only) {
  reftest::Spec spec;
  spec.num_heads = 2;
  spec.page_size = 4;
  spec.seq_lens = {9, 6, 3};
  spec.spare_entries = 1;  // max_pages_per_seq = 4: capacity 16
  const HostProblem p = reftest::make_problem(spec, false);
  const int32_t capacity = p.max_pages_per_seq * p.page_size;
  const Run clean = run_all(p, 2);
  for (int32_t len : {capacity + 1, -1, INT32_MAX, INT32_MIN}) {
    HostProblem bad = p;
    bad.seq_lens[1] = len;
    expect_only_request_nan(bad, clean, run_all(bad, 2), 1, "seq_len " + std::to_string(len));
  }
  // Exactly the capacity is valid (the spare table entries hold valid pages here).
  HostProblem full = p;
  full.seq_lens[1] = capacity;
  const Run r = run_all(full, 2);
  int nans = 0;
  for (float x : r.direct.out) nans += std::isnan(x);
  BOOST_TEST(nans == 0);
}

BOOST_AUTO_TEST_SUITE_END()
