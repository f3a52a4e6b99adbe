// compare_outputs (CONTRACT section 4): identical outputs pass; errors inside the tolerance pass;
// a planted error, a misplaced NaN or -inf, an lse error and a size mismatch are each caught,
// counted, and the report names the element as (b, t, h, d) with its values.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>

#include "problem_builder.hpp"
#include "splitmla/reference.hpp"

using splitmla::CompareReport;
using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::Status;
using splitmla::Tolerance;

namespace {

struct Fixture {
  HostProblem p;
  HostOutputs ref;
  Fixture() {
    reftest::Spec spec;
    spec.num_heads = 3;
    spec.page_size = 8;
    spec.q_len = 2;
    spec.seq_lens = {12, 0, 30};
    p = reftest::make_problem(spec, true);
    BOOST_TEST_REQUIRE(splitmla::reference_decode(p, &ref) == Status::kSuccess);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compare)

BOOST_AUTO_TEST_CASE(tolerances_follow_the_contract) {
  const Tolerance bf = Tolerance::for_dtype(DType::kBFloat16);
  const Tolerance fp = Tolerance::for_dtype(DType::kFloat16);
  BOOST_TEST(bf.out_atol == 1e-2);
  BOOST_TEST(bf.out_rtol == 1e-2);
  BOOST_TEST(bf.lse_atol == 1e-3);
  BOOST_TEST(fp.out_atol == 2e-3);
  BOOST_TEST(fp.out_rtol == 2e-3);
  BOOST_TEST(fp.lse_atol == 1e-3);
}

BOOST_FIXTURE_TEST_CASE(identical_outputs_pass, Fixture) {
  const CompareReport r =
      splitmla::compare_outputs(p, ref, ref, Tolerance::for_dtype(p.dtype));
  BOOST_TEST(r.ok, r.text);
  BOOST_TEST(r.special_mismatches == 0);
  BOOST_TEST(r.out_violations == 0);
  BOOST_TEST(r.lse_violations == 0);
  BOOST_TEST(r.max_out_err == 0.0);
  BOOST_TEST(contains(r.text, "ok"));
}

BOOST_FIXTURE_TEST_CASE(errors_inside_the_tolerance_pass, Fixture) {
  const Tolerance tol = Tolerance::for_dtype(p.dtype);
  HostOutputs got = ref;
  for (float& x : got.out) {
    x += static_cast<float>(0.9 * (tol.out_atol + tol.out_rtol * std::fabs(x)));
  }
  for (float& x : got.lse) if (std::isfinite(x)) x += 0.5f * static_cast<float>(tol.lse_atol);
  const CompareReport r = splitmla::compare_outputs(p, got, ref, tol);
  BOOST_TEST(r.ok, r.text);
  BOOST_TEST(r.max_out_err > 0.0);
  BOOST_TEST(r.max_lse_err > 0.0);
}

BOOST_FIXTURE_TEST_CASE(planted_out_error_is_caught_and_named, Fixture) {
  HostOutputs got = ref;
  const size_t idx = reftest::out_index(p, 2, 1, 2, 37);
  got.out[idx] += 0.5f;
  const CompareReport r = splitmla::compare_outputs(p, got, ref, Tolerance::for_dtype(p.dtype));
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.out_violations == 1);
  BOOST_TEST(r.special_mismatches == 0);
  BOOST_TEST(r.worst_out_index == static_cast<int64_t>(idx));
  BOOST_TEST(std::fabs(r.max_out_err - 0.5) < 1e-6);
  BOOST_TEST(contains(r.text, "(b=2, t=1, h=2, d=37)"), r.text);
  BOOST_TEST(contains(r.text, "FAIL"), r.text);
}

BOOST_FIXTURE_TEST_CASE(fp16_tolerance_is_tighter, Fixture) {
  HostOutputs got = ref;
  got.out[reftest::out_index(p, 0, 0, 0, 0)] += 5e-3f;
  BOOST_TEST(splitmla::compare_outputs(p, got, ref, Tolerance::for_dtype(DType::kBFloat16)).ok);
  BOOST_TEST(!splitmla::compare_outputs(p, got, ref, Tolerance::for_dtype(DType::kFloat16)).ok);
}

BOOST_FIXTURE_TEST_CASE(misplaced_special_values_are_mismatches, Fixture) {
  const Tolerance tol = Tolerance::for_dtype(p.dtype);
  {  // NaN where the reference is finite
    HostOutputs got = ref;
    got.out[reftest::out_index(p, 0, 1, 1, 5)] = std::nanf("");
    const CompareReport r = splitmla::compare_outputs(p, got, ref, tol);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.special_mismatches == 1);
    BOOST_TEST(contains(r.text, "(b=0, t=1, h=1, d=5)"), r.text);
  }
  {  // a finite lse where the reference is -inf (request 1 is empty), however small
    HostOutputs got = ref;
    const size_t k = reftest::row_index(p, 1, 0, 2);
    BOOST_TEST_REQUIRE((std::isinf(ref.lse[k]) && ref.lse[k] < 0));
    got.lse[k] = -1e30f;
    const CompareReport r = splitmla::compare_outputs(p, got, ref, tol);
    BOOST_TEST(!r.ok);
    BOOST_TEST(r.special_mismatches == 1);
    BOOST_TEST(contains(r.text, "(b=1, t=0, h=2)"), r.text);
  }
  {  // NaN against NaN (a bad request in both) is a match
    HostOutputs got = ref, want = ref;
    for (int d = 0; d < splitmla::kHeadDimV; ++d) {
      got.out[reftest::out_index(p, 2, 0, 0, d)] = std::nanf("");
      want.out[reftest::out_index(p, 2, 0, 0, d)] = std::nanf("");
    }
    BOOST_TEST(splitmla::compare_outputs(p, got, want, tol).ok);
  }
}

BOOST_FIXTURE_TEST_CASE(lse_error_is_caught_and_named, Fixture) {
  HostOutputs got = ref;
  const size_t k = reftest::row_index(p, 2, 0, 1);
  got.lse[k] += 2e-3f;
  const CompareReport r = splitmla::compare_outputs(p, got, ref, Tolerance::for_dtype(p.dtype));
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.lse_violations == 1);
  BOOST_TEST(r.out_violations == 0);
  BOOST_TEST(r.worst_lse_index == static_cast<int64_t>(k));
  BOOST_TEST(contains(r.text, "(b=2, t=0, h=1)"), r.text);
}

BOOST_FIXTURE_TEST_CASE(size_mismatch_is_reported_not_crashed_on, Fixture) {
  const Tolerance tol = Tolerance::for_dtype(p.dtype);
  HostOutputs short_out = ref;
  short_out.out.resize(ref.out.size() - 7);
  CompareReport r = splitmla::compare_outputs(p, short_out, ref, tol);
  BOOST_TEST(!r.ok);
  BOOST_TEST(contains(r.text, "size mismatch"), r.text);
  HostOutputs no_lse = ref;
  no_lse.lse.clear();
  r = splitmla::compare_outputs(p, no_lse, ref, tol);
  BOOST_TEST(!r.ok);
  r = splitmla::compare_outputs(p, ref, no_lse, tol);  // the reference itself short
  BOOST_TEST(!r.ok);
  HostProblem wider = p;
  wider.num_heads += 1;  // problem and outputs disagree
  r = splitmla::compare_outputs(wider, ref, ref, tol);
  BOOST_TEST(!r.ok);
  BOOST_TEST(contains(r.text, "size mismatch"), r.text);
}

BOOST_AUTO_TEST_SUITE_END()
