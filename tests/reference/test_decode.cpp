// The direct reference pass against answers worked out by hand, the causal rule for q_len > 1,
// visible_length, and the contract's empty request (out 0, lse -inf).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "problem_builder.hpp"
#include "splitmla/reference.hpp"

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;
using splitmla::Status;

namespace {

// A problem of one request and one token with every q and kv element zero.
HostProblem blank(DType dtype, int32_t heads, int32_t page_size, int32_t num_pages,
                  int32_t max_pages, int32_t seq_len, double scale) {
  HostProblem p;
  p.dtype = dtype;
  p.batch = 1;
  p.q_len = 1;
  p.num_heads = heads;
  p.page_size = page_size;
  p.num_pages = num_pages;
  p.max_pages_per_seq = max_pages;
  p.softmax_scale = scale;
  p.q.assign(static_cast<size_t>(heads) * kHeadDimQK, splitmla::float_to_half_bits(dtype, 0.f));
  p.kv_cache.assign(static_cast<size_t>(num_pages) * page_size * kHeadDimQK,
                    splitmla::float_to_half_bits(dtype, 0.f));
  p.block_table.assign(static_cast<size_t>(max_pages), 0);
  p.seq_lens = {seq_len};
  return p;
}

void set_q(HostProblem& p, int32_t h, int d, float v) {
  p.q[static_cast<size_t>(h) * kHeadDimQK + d] = splitmla::float_to_half_bits(p.dtype, v);
}
void set_kv(HostProblem& p, int32_t page, int32_t row, int d, float v) {
  const size_t r = static_cast<size_t>(page) * p.page_size + row;
  p.kv_cache[r * kHeadDimQK + d] = splitmla::float_to_half_bits(p.dtype, v);
}

bool near(double got, double want, double rel) {
  return std::fabs(got - want) <= rel * std::fmax(1.0, std::fabs(want));
}

HostOutputs decode(const HostProblem& p) {
  HostOutputs o;
  const Status s = splitmla::reference_decode(p, &o);
  BOOST_TEST_REQUIRE(s == Status::kSuccess, splitmla::status_message(s));
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hand_computed)

// Two positions on pages 2 and 0 (page 1 is NaN and unused), scores 1 and 2.5 with softmax_scale
// 2; the rope dims (512..575) take part in the score but never in the output.
BOOST_AUTO_TEST_CASE(two_positions_on_scattered_pages) {
  HostProblem p = blank(DType::kBFloat16, 1, 1, 3, 2, 2, 2.0);
  p.block_table = {2, 0};
  std::fill(p.kv_cache.begin() + kHeadDimQK, p.kv_cache.begin() + 2 * kHeadDimQK,
            splitmla::testsupport::quiet_nan_bits(p.dtype));
  set_q(p, 0, 0, 1.0f);
  set_q(p, 0, 512, 1.0f);
  // position 0: s0 = 2 * (1*0.5 + 1*0) = 1
  set_kv(p, 2, 0, 0, 0.5f);
  set_kv(p, 2, 0, 1, 2.0f);
  set_kv(p, 2, 0, 7, 0.25f);
  // position 1: s1 = 2 * (1*1 + 1*0.25) = 2.5; dim 513 has no matching q element
  set_kv(p, 0, 0, 0, 1.0f);
  set_kv(p, 0, 0, 1, -1.0f);
  set_kv(p, 0, 0, 512, 0.25f);
  set_kv(p, 0, 0, 513, 3.0f);

  const HostOutputs o = decode(p);
  const double e0 = std::exp(1.0), e1 = std::exp(2.5), z = e0 + e1;
  BOOST_TEST(near(o.lse[0], std::log(z), 1e-6));
  BOOST_TEST(near(o.out[0], (0.5 * e0 + 1.0 * e1) / z, 1e-6));
  BOOST_TEST(near(o.out[1], (2.0 * e0 - 1.0 * e1) / z, 1e-6));
  BOOST_TEST(near(o.out[7], 0.25 * e0 / z, 1e-6));
  int nonzero = 0;
  for (int d = 0; d < kHeadDimV; ++d) nonzero += (d != 0 && d != 1 && d != 7 && o.out[d] != 0.f);
  BOOST_TEST(nonzero == 0);
}

// Equal scores: the output is the mean of the value rows and lse = s + log 2, for a head whose
// query meets the keys and for one whose query is zero (scores 0).
BOOST_AUTO_TEST_CASE(equal_scores_average_the_values) {
  HostProblem p = blank(DType::kFloat16, 2, 2, 1, 1, 2, 0.125);
  set_q(p, 0, 3, 1.0f);
  set_kv(p, 0, 0, 3, 0.5f);
  set_kv(p, 0, 1, 3, 0.5f);
  set_kv(p, 0, 0, 10, 1.5f);
  set_kv(p, 0, 1, 10, -0.5f);
  const HostOutputs o = decode(p);
  const double s = 0.125 * 0.5;
  BOOST_TEST(near(o.lse[0], s + std::log(2.0), 1e-6));
  BOOST_TEST(near(o.lse[1], std::log(2.0), 1e-6));
  for (int h = 0; h < 2; ++h) {
    BOOST_TEST(near(o.out[h * kHeadDimV + 3], 0.5, 1e-6));
    BOOST_TEST(near(o.out[h * kHeadDimV + 10], (1.5 - 0.5) / 2, 1e-6));
  }
}

// One position: the output is the value row itself and lse its score.
BOOST_AUTO_TEST_CASE(one_position_returns_its_value_row) {
  HostProblem p = blank(DType::kBFloat16, 1, 4, 1, 1, 1, 0.5);
  for (int d = 0; d < kHeadDimQK; ++d) {
    set_q(p, 0, d, (d % 7) * 0.125f);
    set_kv(p, 0, 0, d, (d % 5) * -0.25f);
  }
  // positions 1..3 of the page are past the length: poison them
  std::fill(p.kv_cache.begin() + kHeadDimQK, p.kv_cache.end(), splitmla::testsupport::quiet_nan_bits(p.dtype));
  double dot = 0.0;
  for (int d = 0; d < kHeadDimQK; ++d) dot += ((d % 7) * 0.125) * ((d % 5) * -0.25);
  const HostOutputs o = decode(p);
  BOOST_TEST(near(o.lse[0], 0.5 * dot, 1e-9));
  int wrong = 0;
  for (int d = 0; d < kHeadDimV; ++d) wrong += o.out[d] != static_cast<float>((d % 5) * -0.25);
  BOOST_TEST(wrong == 0);
}

// Scores near 1000 overflow a naive exp; log-sum-exp with the max subtracted stays exact.
BOOST_AUTO_TEST_CASE(large_scores_stay_finite) {
  HostProblem p = blank(DType::kBFloat16, 1, 2, 1, 1, 2, 1.0);
  set_q(p, 0, 0, 100.0f);
  set_kv(p, 0, 0, 0, 10.0f);   // s0 = 1000
  set_kv(p, 0, 1, 0, 9.5f);    // s1 = 950
  const HostOutputs o = decode(p);
  const double r = std::exp(-50.0);
  BOOST_TEST(near(o.lse[0], 1000.0 + std::log1p(r), 1e-7));
  BOOST_TEST(near(o.out[0], (10.0 + 9.5 * r) / (1.0 + r), 1e-7));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(empty_and_causal)

BOOST_AUTO_TEST_CASE(empty_request_gives_zero_output_and_neg_inf_lse) {
  reftest::Spec spec;
  spec.num_heads = 3;
  spec.page_size = 4;
  spec.seq_lens = {0, 5, 0, 1};
  const HostProblem p = reftest::make_problem(spec, true);
  const HostOutputs o = decode(p);
  splitmla::HostSplits sp;
  HostOutputs m;
  BOOST_TEST_REQUIRE(splitmla::reference_split_partials(p, 3, &sp) == Status::kSuccess);
  BOOST_TEST_REQUIRE(splitmla::reference_merge(p, sp, &m) == Status::kSuccess);
  const HostOutputs* runs[] = {&o, &m};
  for (const HostOutputs* r : runs) {
    for (int32_t b = 0; b < p.batch; ++b) {
      for (int32_t h = 0; h < p.num_heads; ++h) {
        const float lse = r->lse[reftest::row_index(p, b, 0, h)];
        int zeros = 0, nans = 0;
        for (int d = 0; d < kHeadDimV; ++d) {
          const float v = r->out[reftest::out_index(p, b, 0, h, d)];
          zeros += v == 0.f && !std::signbit(v);
          nans += std::isnan(v);
        }
        BOOST_TEST(nans == 0);
        if (p.seq_lens[b] == 0) {
          BOOST_TEST((std::isinf(lse) && lse < 0), "b=" << b << " h=" << h << " lse " << lse);
          BOOST_TEST(zeros == kHeadDimV);
        } else {
          BOOST_TEST(std::isfinite(lse));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(visible_length_follows_the_causal_rule) {
  reftest::Spec spec;
  spec.page_size = 4;
  spec.q_len = 3;
  spec.seq_lens = {5, 1, 8, 0, 2};
  spec.spare_entries = 0;
  HostProblem p = reftest::make_problem(spec, false);
  BOOST_TEST_REQUIRE(p.max_pages_per_seq * p.page_size == 8);
  for (int32_t t = 0; t < 3; ++t) {
    BOOST_TEST(splitmla::visible_length(p, 0, t) == 3 + t);          // seq 5: 3, 4, 5
    BOOST_TEST(splitmla::visible_length(p, 1, t) == (t == 2 ? 1 : 0)); // seq 1: 0, 0, 1
    BOOST_TEST(splitmla::visible_length(p, 2, t) == 6 + t);          // seq 8 = capacity
    BOOST_TEST(splitmla::visible_length(p, 3, t) == 0);
    BOOST_TEST(splitmla::visible_length(p, 4, t) == t);              // seq 2: 0, 1, 2
  }
  p.seq_lens[0] = 9;   // one past capacity
  p.seq_lens[1] = -1;
  BOOST_TEST(splitmla::visible_length(p, 0, 0) == -1);
  BOOST_TEST(splitmla::visible_length(p, 1, 2) == -1);
  BOOST_TEST(splitmla::visible_length(p, 5, 0) == -1);  // no such request
  BOOST_TEST(splitmla::visible_length(p, -1, 0) == -1);
}

// Not causal: every token sees the whole seq_len (a block of draft tokens that see each other);
// a bad seq_len is still -1.
BOOST_AUTO_TEST_CASE(visible_length_without_causal_is_seq_len_for_every_token) {
  reftest::Spec spec;
  spec.page_size = 4;
  spec.q_len = 3;
  spec.causal = false;
  spec.seq_lens = {5, 1, 8, 0, 2};
  spec.spare_entries = 0;
  HostProblem p = reftest::make_problem(spec, false);
  BOOST_TEST(!p.causal);
  for (int32_t t = 0; t < 3; ++t)
    for (int32_t b = 0; b < p.batch; ++b)
      BOOST_TEST(splitmla::visible_length(p, b, t) == p.seq_lens[static_cast<size_t>(b)]);
  p.seq_lens[0] = 9;
  BOOST_TEST(splitmla::visible_length(p, 0, 1) == -1);
  // q_len = 1: both rules give seq_len.
  p.q_len = 1;
  p.seq_lens[0] = 5;
  const int64_t non_causal = splitmla::visible_length(p, 0, 0);
  p.causal = true;
  BOOST_TEST(splitmla::visible_length(p, 0, 0) == non_causal);
}

// With q_len = 3, token t of a request equals a q_len = 1 decode of the same query row over the
// first n_t positions, bit for bit; a token with nothing visible is empty. Causal and not.
BOOST_AUTO_TEST_CASE(multi_token_rows_match_single_token_decodes) {
  for (const bool causal : {true, false}) {
    BOOST_TEST_CONTEXT("causal = " << causal) {
      reftest::Spec spec;
      spec.num_heads = 2;
      spec.page_size = 4;
      spec.q_len = 3;
      spec.causal = causal;
      spec.seq_lens = {5, 1, 2, 0, 17};
      spec.seed = 11;
      const HostProblem p = reftest::make_problem(spec, true);
      const HostOutputs all = decode(p);
      for (int32_t b = 0; b < p.batch; ++b) {
        for (int32_t t = 0; t < p.q_len; ++t) {
          HostProblem one = p;
          one.batch = 1;
          one.q_len = 1;
          one.seq_lens = {static_cast<int32_t>(splitmla::visible_length(p, b, t))};
          const size_t q0 = reftest::row_index(p, b, t, 0) * kHeadDimQK;
          one.q.assign(p.q.begin() + q0, p.q.begin() + q0 + p.num_heads * kHeadDimQK);
          const size_t t0 = static_cast<size_t>(b) * p.max_pages_per_seq;
          one.block_table.assign(p.block_table.begin() + t0,
                                 p.block_table.begin() + t0 + p.max_pages_per_seq);
          const HostOutputs single = decode(one);
          const size_t r0 = reftest::row_index(p, b, t, 0);
          const std::vector<float> lse(all.lse.begin() + r0, all.lse.begin() + r0 + p.num_heads);
          const std::vector<float> out(all.out.begin() + r0 * kHeadDimV,
                                       all.out.begin() + (r0 + p.num_heads) * kHeadDimV);
          BOOST_TEST(reftest::same_bits(lse, single.lse), "b=" << b << " t=" << t);
          BOOST_TEST(reftest::same_bits(out, single.out), "b=" << b << " t=" << t);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
