// validate_host_problem and the reference entry points reject bad extents with the right status
// and a message naming the field and its value; q_len > 1 is accepted by the reference.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "problem_builder.hpp"
#include "splitmla/reference.hpp"

using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::HostSplits;
using splitmla::Status;

namespace {

HostProblem valid() {
  reftest::Spec spec;
  spec.num_heads = 2;
  spec.page_size = 4;
  spec.seq_lens = {3, 5};
  return reftest::make_problem(spec, true);
}

struct BadCase {
  std::function<void(HostProblem&)> spoil;
  Status want;
  std::string text;  // must appear in status_message
};

}  // namespace

BOOST_AUTO_TEST_SUITE(validation)

BOOST_AUTO_TEST_CASE(a_valid_problem_passes_and_q_len_above_one_is_accepted) {
  HostProblem p = valid();
  BOOST_TEST(splitmla::validate_host_problem(p) == Status::kSuccess);
  reftest::Spec spec;
  spec.q_len = 4;
  spec.seq_lens = {6};
  BOOST_TEST(splitmla::validate_host_problem(reftest::make_problem(spec, true)) ==
             Status::kSuccess);
  // Extremes of the supported ranges.
  spec.q_len = 1;
  spec.num_heads = 128;
  spec.page_size = 128;
  BOOST_TEST(splitmla::validate_host_problem(reftest::make_problem(spec, true)) ==
             Status::kSuccess);
}

BOOST_AUTO_TEST_CASE(each_bad_extent_names_its_field_and_value) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<BadCase> cases = {
      {[](HostProblem& p) { p.dtype = static_cast<splitmla::DType>(7); }, Status::kBadDType,
       "dtype = 7"},
      {[](HostProblem& p) { p.batch = 0; }, Status::kBadBatch, "batch = 0"},
      {[](HostProblem& p) { p.batch = 65537; }, Status::kBadBatch, "batch = 65537"},
      {[](HostProblem& p) { p.num_heads = 0; }, Status::kBadNumHeads, "num_heads = 0"},
      {[](HostProblem& p) { p.num_heads = 129; }, Status::kBadNumHeads, "num_heads = 129"},
      {[](HostProblem& p) { p.page_size = 0; }, Status::kBadPageSize, "page_size = 0"},
      {[](HostProblem& p) { p.page_size = 3; }, Status::kBadPageSize, "page_size = 3"},
      {[](HostProblem& p) { p.page_size = 256; }, Status::kBadPageSize, "page_size = 256"},
      {[](HostProblem& p) { p.page_size = -8; }, Status::kBadPageSize, "page_size = -8"},
      {[](HostProblem& p) { p.q_len = 0; }, Status::kBadShape, "q_len = 0"},
      {[](HostProblem& p) { p.num_pages = 0; }, Status::kBadShape, "num_pages = 0"},
      {[](HostProblem& p) { p.max_pages_per_seq = -2; }, Status::kBadShape,
       "max_pages_per_seq = -2"},
      {[](HostProblem& p) { p.softmax_scale = 0.0; }, Status::kBadSoftmaxScale,
       "softmax_scale = 0"},
      {[](HostProblem& p) { p.softmax_scale = -0.5; }, Status::kBadSoftmaxScale,
       "softmax_scale = -0.5"},
      {[nan](HostProblem& p) { p.softmax_scale = nan; }, Status::kBadSoftmaxScale,
       "softmax_scale = nan"},
      {[inf](HostProblem& p) { p.softmax_scale = inf; }, Status::kBadSoftmaxScale,
       "softmax_scale = inf"},
      {[](HostProblem& p) { p.q.pop_back(); }, Status::kBadShape, "q.size() = "},
      {[](HostProblem& p) { p.kv_cache.push_back(0); }, Status::kBadShape, "kv_cache.size() = "},
      {[](HostProblem& p) { p.block_table.clear(); }, Status::kBadShape,
       "block_table.size() = 0"},
      {[](HostProblem& p) { p.seq_lens.push_back(1); }, Status::kBadShape,
       "seq_lens.size() = 3"},
  };
  for (const BadCase& c : cases) {
    HostProblem p = valid();
    c.spoil(p);
    const Status s = splitmla::validate_host_problem(p);
    const std::string msg = splitmla::status_message(s);
    BOOST_TEST((s == c.want), msg << " (wanted " << splitmla::status_name(c.want) << ")");
    BOOST_TEST(msg.find(c.text) != std::string::npos, msg << " lacks '" << c.text << "'");
    // Every entry point refuses the same problem with the same status.
    HostOutputs out;
    HostSplits splits;
    BOOST_TEST((splitmla::reference_decode(p, &out) == c.want), c.text);
    BOOST_TEST((splitmla::reference_split_partials(p, 2, &splits) == c.want), c.text);
  }
}

BOOST_AUTO_TEST_CASE(bad_split_arguments_are_named) {
  const HostProblem p = valid();
  HostSplits sp;
  for (int32_t ns : {0, -3, splitmla::kMaxForcedSplits + 1}) {
    const Status s = splitmla::reference_split_partials(p, ns, &sp);
    BOOST_TEST((s == Status::kBadPolicy));
    BOOST_TEST(splitmla::status_message(s).find("num_splits = " + std::to_string(ns)) !=
                   std::string::npos,
               splitmla::status_message(s));
  }
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 2, &sp) == Status::kSuccess);
  HostOutputs out;
  HostSplits short_out = sp;
  short_out.split_out.pop_back();
  Status s = splitmla::reference_merge(p, short_out, &out);
  BOOST_TEST((s == Status::kBadShape));
  BOOST_TEST(splitmla::status_message(s).find("split_out.size()") != std::string::npos);
  HostSplits wrong_count = sp;
  wrong_count.num_splits = 3;
  s = splitmla::reference_merge(p, wrong_count, &out);
  BOOST_TEST((s == Status::kBadShape));
  BOOST_TEST(splitmla::status_message(s).find("split_lse.size()") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(null_outputs_are_refused) {
  const HostProblem p = valid();
  HostSplits sp;
  BOOST_TEST((splitmla::reference_decode(p, nullptr) == Status::kNullPointer));
  BOOST_TEST((splitmla::reference_split_partials(p, 2, nullptr) == Status::kNullPointer));
  BOOST_TEST((splitmla::reference_merge(p, sp, nullptr) == Status::kNullPointer));
}

BOOST_AUTO_TEST_SUITE_END()
