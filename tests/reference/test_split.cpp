// Split partials and their merge: the ranges follow the ceil(n / num_splits) rule, empty splits
// hold (o = 0, lse = -inf), garbage in an empty split never leaks into the merge, and direct vs
// split + merge agree to 1e-12 (float64 path) on random problems with odd head counts, every
// page-size class and lengths at and around page boundaries.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/merge.hpp"
#include "problem_builder.hpp"
#include "reference/reference_f64.hpp"
#include "splitmla/reference.hpp"

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::HostSplits;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;
using splitmla::Status;
namespace rd = splitmla::reference_detail;

namespace {

// Largest |a - b| / max(1, |b|) over two equally shaped vectors; special values must coincide
// exactly (returns +inf otherwise).
template <class T>
double max_rel_diff(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      const bool same = (std::isnan(x) && std::isnan(y)) || x == y;
      if (!same) return std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::fmax(worst, std::fabs(x - y) / std::fmax(1.0, std::fabs(y)));
  }
  return worst;
}

// The score of position j (0-based) of request b, head h, token 0, from the stored bits.
double score(const HostProblem& p, int32_t b, int32_t h, int64_t j) {
  const int32_t page = p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq +
                                     j / p.page_size];
  const size_t row = static_cast<size_t>(page) * p.page_size + j % p.page_size;
  const size_t q0 = reftest::row_index(p, b, 0, h) * kHeadDimQK;
  double dot = 0.0;
  for (int d = 0; d < kHeadDimQK; ++d) {
    dot += static_cast<double>(splitmla::half_bits_to_float(p.dtype, p.q[q0 + d])) *
           splitmla::half_bits_to_float(p.dtype, p.kv_cache[row * kHeadDimQK + d]);
  }
  return p.softmax_scale * dot;
}

float value(const HostProblem& p, int32_t b, int64_t j, int d) {
  const int32_t page = p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq +
                                     j / p.page_size];
  const size_t row = static_cast<size_t>(page) * p.page_size + j % p.page_size;
  return splitmla::half_bits_to_float(p.dtype, p.kv_cache[row * kHeadDimQK + d]);
}

size_t split_row(const HostProblem& p, int32_t num_splits, int32_t b, int32_t s, int32_t h) {
  return ((static_cast<size_t>(b) * num_splits + s) * p.q_len + 0) * p.num_heads + h;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(split_ranges)

// n = 5 in 4 splits: chunk 2, ranges [0,2) [2,4) [4,5) and an empty one. n = 3 in 4: chunk 1,
// the fourth split empty. n = 8 in 4: chunk 2, none empty. n = 0: every split empty.
BOOST_AUTO_TEST_CASE(ranges_follow_the_ceil_rule_and_empty_splits_are_zero_neg_inf) {
  reftest::Spec spec;
  spec.num_heads = 2;
  spec.page_size = 2;
  spec.seq_lens = {5, 3, 8, 0};
  spec.seed = 5;
  const HostProblem p = reftest::make_problem(spec, true);
  const int32_t ns = 4;
  rd::SplitsF64 sp;
  BOOST_TEST_REQUIRE(rd::split_partials_f64(p, ns, &sp) == Status::kSuccess);
  BOOST_TEST(sp.num_splits == ns);
  BOOST_TEST_REQUIRE(sp.split_lse.size() == static_cast<size_t>(4 * ns * 2));

  for (int32_t b = 0; b < p.batch; ++b) {
    const int64_t n = p.seq_lens[b];
    const int64_t chunk = (n + ns - 1) / ns;
    for (int32_t h = 0; h < p.num_heads; ++h) {
      for (int32_t s = 0; s < ns; ++s) {
        const int64_t lo = std::min(n, s * chunk), hi = std::min(n, lo + chunk);
        const size_t r = split_row(p, ns, b, s, h);
        const double lse = sp.split_lse[r];
        const double* o = sp.split_out.data() + r * kHeadDimV;
        const std::string where = "b=" + std::to_string(b) + " s=" + std::to_string(s) +
                                  " h=" + std::to_string(h);
        if (hi == lo) {
          BOOST_TEST((std::isinf(lse) && lse < 0), where);
          int zeros = 0;
          for (int d = 0; d < kHeadDimV; ++d) zeros += o[d] == 0.0;
          BOOST_TEST(zeros == kHeadDimV, where);
          continue;
        }
        // Expected from the definition, over exactly the positions [lo, hi).
        double m = -INFINITY;
        for (int64_t j = lo; j < hi; ++j) m = std::fmax(m, score(p, b, h, j));
        double z = 0.0;
        for (int64_t j = lo; j < hi; ++j) z += std::exp(score(p, b, h, j) - m);
        BOOST_TEST(std::fabs(lse - (m + std::log(z))) <= 1e-12 * std::fmax(1.0, std::fabs(lse)),
                   where);
        double worst = 0.0;
        for (int d = 0; d < kHeadDimV; ++d) {
          double want = 0.0;
          for (int64_t j = lo; j < hi; ++j) {
            want += std::exp(score(p, b, h, j) - m) / z * value(p, b, j, d);
          }
          worst = std::fmax(worst, std::fabs(o[d] - want));
        }
        BOOST_TEST(worst <= 1e-12, where << " worst " << worst);
      }
    }
  }
  // Merged, the all-empty request is out 0 / lse -inf.
  rd::OutputsF64 merged;
  BOOST_TEST_REQUIRE(rd::merge_f64(p, sp, &merged) == Status::kSuccess);
  for (int32_t h = 0; h < p.num_heads; ++h) {
    const size_t r = reftest::row_index(p, 3, 0, h);
    BOOST_TEST((std::isinf(merged.lse[r]) && merged.lse[r] < 0));
    int zeros = 0;
    for (int d = 0; d < kHeadDimV; ++d) zeros += merged.out[r * kHeadDimV + d] == 0.0;
    BOOST_TEST(zeros == kHeadDimV);
  }
}

BOOST_AUTO_TEST_CASE(merge_ignores_what_empty_splits_hold) {
  reftest::Spec spec;
  spec.num_heads = 3;
  spec.page_size = 4;
  spec.seq_lens = {5, 0, 9};
  const HostProblem p = reftest::make_problem(spec, true);
  HostSplits sp;
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 4, &sp) == Status::kSuccess);
  HostOutputs clean;
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &clean) == Status::kSuccess);
  int poisoned = 0;
  for (size_t r = 0; r < sp.split_lse.size(); ++r) {
    if (std::isinf(sp.split_lse[r])) {
      ++poisoned;
      for (int d = 0; d < kHeadDimV; ++d) {
        sp.split_out[r * kHeadDimV + d] = (d % 2) ? std::nanf("") : 1e30f;
      }
    }
  }
  BOOST_TEST_REQUIRE(poisoned > 0);  // n=5 in 4 splits and n=0 both have empty splits
  HostOutputs dirty;
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &dirty) == Status::kSuccess);
  BOOST_TEST(reftest::same_bits(clean.out, dirty.out));
  BOOST_TEST(reftest::same_bits(clean.lse, dirty.lse));
}

// part2 scales a row's columns by one reciprocal (MergeState::inv, out_with) instead of dividing
// each: within 1.5 ulp of the division in float over sums of 1..64 weights and any accumulator,
// 0 for a row whose every split is empty (even if inv were not 0), NaN for a NaN row.
BOOST_AUTO_TEST_CASE(the_reciprocal_output_is_within_an_ulp_and_keeps_the_guards) {
  namespace merge = splitmla::merge;
  uint32_t x = 12345u;
  auto next = [&] {  // xorshift32 in [0, 1)
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return static_cast<float>(x >> 8) / 16777216.f;
  };
  double worst = 0.0;
  for (int trial = 0; trial < 20000; ++trial) {
    merge::MergeState<float> st;
    const int n = 1 + trial % 64;
    for (int s = 0; s < n; ++s) st.see_lse(40.f * next() - 20.f);
    for (int s = 0; s < n; ++s) st.add_weight(st.weight(40.f * next() - 20.f));
    const float inv = st.inv();
    for (int k = 0; k < 8; ++k) {
      const float acc = (next() - 0.5f) * std::ldexp(1.f, static_cast<int>(60 * next()) - 30);
      const float want = st.out(acc), got = st.out_with(acc, inv);
      const float ulp = std::nextafter(std::fabs(want), INFINITY) - std::fabs(want);
      if (want != 0.f) worst = std::max(worst, std::fabs(double(got) - double(want)) / ulp);
      else BOOST_TEST(got == 0.f);
    }
  }
  BOOST_TEST_MESSAGE("worst out_with against out: " << worst << " ulp");
  BOOST_TEST(worst <= 1.5);
  merge::MergeState<float> empty;  // every split empty: m stays -inf, sum 0
  empty.see_lse(-INFINITY);
  empty.add_weight(empty.weight(-INFINITY));
  BOOST_TEST(empty.inv() == 0.f);
  BOOST_TEST(empty.out_with(1e30f, 1.f) == 0.f);
  merge::MergeState<float> bad;
  bad.see_lse(1.f);
  bad.see_lse(std::nanf(""));
  bad.add_weight(1.f);
  BOOST_TEST(std::isnan(bad.out_with(2.f, bad.inv())));
}

BOOST_AUTO_TEST_CASE(a_nan_lse_makes_only_its_row_nan) {
  reftest::Spec spec;
  spec.num_heads = 2;
  spec.seq_lens = {40, 7};
  const HostProblem p = reftest::make_problem(spec, true);
  HostSplits sp;
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 3, &sp) == Status::kSuccess);
  HostOutputs clean;
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &clean) == Status::kSuccess);
  sp.split_lse[split_row(p, 3, 0, 1, 1)] = std::nanf("");  // request 0, split 1, head 1
  HostOutputs dirty;
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &dirty) == Status::kSuccess);
  for (int32_t b = 0; b < 2; ++b) {
    for (int32_t h = 0; h < 2; ++h) {
      const size_t r = reftest::row_index(p, b, 0, h);
      const bool hit = b == 0 && h == 1;
      int nans = 0, same = 0;
      for (int d = 0; d < kHeadDimV; ++d) {
        nans += std::isnan(dirty.out[r * kHeadDimV + d]);
        same += dirty.out[r * kHeadDimV + d] == clean.out[r * kHeadDimV + d];
      }
      BOOST_TEST(nans == (hit ? kHeadDimV : 0));
      BOOST_TEST(std::isnan(dirty.lse[r]) == hit);
      if (!hit) BOOST_TEST(same == kHeadDimV);
    }
  }
}

BOOST_AUTO_TEST_CASE(one_split_merges_to_the_direct_pass_bit_for_bit) {
  reftest::Spec spec;
  spec.num_heads = 3;
  spec.page_size = 16;
  spec.seq_lens = {33, 0, 16, 1};
  const HostProblem p = reftest::make_problem(spec, true);
  HostOutputs direct, merged;
  HostSplits sp;
  BOOST_TEST_REQUIRE(splitmla::reference_decode(p, &direct) == Status::kSuccess);
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 1, &sp) == Status::kSuccess);
  BOOST_TEST(reftest::same_bits(sp.split_out, direct.out));
  BOOST_TEST(reftest::same_bits(sp.split_lse, direct.lse));
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &merged) == Status::kSuccess);
  BOOST_TEST(reftest::same_bits(merged.out, direct.out));
  BOOST_TEST(reftest::same_bits(merged.lse, direct.lse));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(direct_vs_split_merge)

// Every combination of head count and page size, lengths one below, at and one above one and two
// pages (plus 0 and 1), split counts that leave splits short or empty. float64 path: 1e-12;
// the public float32 path (partials rounded to float, as the fixture stores them): 1e-5.
BOOST_AUTO_TEST_CASE(agree_on_random_problems) {
  const int32_t heads[] = {1, 3, 63, 127};
  const int32_t page_sizes[] = {1, 16, 64, 128};
  const int32_t splits[] = {2, 3, 7, 33};  // 33: one position or none per split when short
  uint64_t seed = 100;
  int cases = 0;
  for (int32_t h : heads) {
    for (int32_t ps : page_sizes) {
      reftest::Spec spec;
      spec.dtype = (seed % 2) ? DType::kFloat16 : DType::kBFloat16;
      spec.num_heads = h;
      spec.page_size = ps;
      spec.seq_lens = {ps - 1, ps, ps + 1, 2 * ps - 1, 2 * ps, 2 * ps + 1, 0, 1};
      spec.seed = seed++;
      spec.magnitude = 2.0f;  // sharper softmax: merge weights far from uniform
      const HostProblem p = reftest::make_problem(spec, true);
      const std::string tag = "heads=" + std::to_string(h) + " page_size=" + std::to_string(ps);

      rd::OutputsF64 direct;
      BOOST_TEST_REQUIRE(rd::decode_f64(p, &direct) == Status::kSuccess);
      for (int32_t ns : splits) {
        rd::SplitsF64 sp;
        rd::OutputsF64 merged;
        BOOST_TEST_REQUIRE(rd::split_partials_f64(p, ns, &sp) == Status::kSuccess);
        BOOST_TEST_REQUIRE(rd::merge_f64(p, sp, &merged) == Status::kSuccess);
        const double d_out = max_rel_diff(merged.out, direct.out);
        const double d_lse = max_rel_diff(merged.lse, direct.lse);
        BOOST_TEST(d_out <= 1e-12, tag << " splits=" << ns << " out diff " << d_out);
        BOOST_TEST(d_lse <= 1e-12, tag << " splits=" << ns << " lse diff " << d_lse);
        ++cases;
      }

      HostOutputs direct32, merged32;
      HostSplits sp32;
      BOOST_TEST_REQUIRE(splitmla::reference_decode(p, &direct32) == Status::kSuccess);
      BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 3, &sp32) == Status::kSuccess);
      BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp32, &merged32) == Status::kSuccess);
      BOOST_TEST(max_rel_diff(merged32.out, direct32.out) <= 1e-5, tag);
      BOOST_TEST(max_rel_diff(merged32.lse, direct32.lse) <= 1e-5, tag);
      // The float outputs are the float64 ones rounded once.
      std::vector<float> rounded(direct.out.begin(), direct.out.end());
      BOOST_TEST(reftest::same_bits(rounded, direct32.out), tag);
    }
  }
  BOOST_TEST(cases == 4 * 4 * 4);
}

BOOST_AUTO_TEST_SUITE_END()
