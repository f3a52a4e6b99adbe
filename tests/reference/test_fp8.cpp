// fp8 KV caches on the CPU: e4m3 conversions, the encoders of both layouts over a scale sweep
// (magnitudes 0.01..100), the float64 reference on the dequantized cache (bitwise equal to the
// reference of an exact 16-bit copy when the scales are powers of two), bad scales (NaN rows and
// nothing else), NaN bytes past each length (no effect), and the cosine distance of the fp8
// result from the 16-bit original (printed; whole output below 1e-4, worst row below 1e-3).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "fp8_util.hpp"
#include "problem_builder.hpp"
#include "splitmla/fp8.hpp"
#include "splitmla/reference.hpp"

using splitmla::DType;
using splitmla::Fp8ScaleRule;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::KvFormat;
using splitmla::Status;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;

namespace {

const KvFormat kFormats[] = {KvFormat::kFp8E4M3, KvFormat::kFp8DsMla};
const char* name(KvFormat f) { return splitmla::kv_format_name(f, DType::kBFloat16); }

HostProblem quantized(const HostProblem& p, KvFormat f, Fp8ScaleRule rule) {
  HostProblem q;
  const Status s = splitmla::quantize_kv(p, f, rule, &q);
  BOOST_TEST_REQUIRE(s == Status::kSuccess, splitmla::status_message(s));
  return q;
}

HostOutputs reference(const HostProblem& p) {
  HostOutputs o;
  const Status s = splitmla::reference_decode(p, &o);
  BOOST_TEST_REQUIRE(s == Status::kSuccess, splitmla::status_message(s));
  return o;
}

// The problem's cache, dequantized, stored back into a 16-bit problem (exact only where the
// dequantized values are representable in dtype; callers make sure they are).
HostProblem as_16bit(const HostProblem& q) {
  HostProblem p = q;
  p.kv_format = KvFormat::kSameAsQ;
  p.kv_bytes.clear();
  const int64_t rows = int64_t{q.num_pages} * q.page_size;
  p.kv_cache.assign(static_cast<size_t>(rows * kHeadDimQK), 0);
  std::vector<double> row(kHeadDimQK);
  for (int64_t r = 0; r < rows; ++r) {
    BOOST_TEST_REQUIRE(splitmla::dequantize_kv_row(q, r, row.data()) == Status::kSuccess);
    for (int d = 0; d < kHeadDimQK; ++d)
      p.kv_cache[r * kHeadDimQK + d] = splitmla::float_to_half_bits(q.dtype, static_cast<float>(row[d]));
  }
  return p;
}

reftest::Spec spec(DType d, std::vector<int32_t> lens, uint64_t seed) {
  reftest::Spec s;
  s.dtype = d;
  s.num_heads = 3;
  s.page_size = 16;
  s.seq_lens = std::move(lens);
  s.seed = seed;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fp8_e4m3_conversion)

BOOST_AUTO_TEST_CASE(every_byte_decodes_and_encodes_back) {
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const float f = splitmla::e4m3_to_float(static_cast<uint8_t>(b));
    if (std::isnan(f)) {
      ++nans;
      BOOST_TEST((b & 0x7F) == 0x7F, "byte " << b << " decodes to NaN");
      continue;
    }
    BOOST_TEST(int{splitmla::float_to_e4m3(f)} == b, "byte " << b << " -> " << f);
  }
  BOOST_TEST(nans == 2);
  BOOST_TEST(splitmla::e4m3_to_float(0x7E) == 448.f);
  BOOST_TEST(splitmla::e4m3_to_float(0x38) == 1.f);
  BOOST_TEST(splitmla::e4m3_to_float(0x08) == std::ldexp(1.f, -6));
  BOOST_TEST(splitmla::e4m3_to_float(0x01) == std::ldexp(1.f, -9));
  BOOST_TEST(splitmla::e4m3_to_float(0xBE) == -1.75f);
}

BOOST_AUTO_TEST_CASE(encoding_rounds_to_nearest_even_and_saturates) {
  BOOST_TEST(int{splitmla::float_to_e4m3(1.0625f)} == 0x38);  // tie -> even mantissa (1.0)
  BOOST_TEST(int{splitmla::float_to_e4m3(1.1875f)} == 0x3A);  // tie -> even mantissa (1.25)
  BOOST_TEST(int{splitmla::float_to_e4m3(1.07f)} == 0x39);
  BOOST_TEST(int{splitmla::float_to_e4m3(std::ldexp(1.5f, -9))} == 0x02);  // subnormal tie -> even
  BOOST_TEST(int{splitmla::float_to_e4m3(std::ldexp(0.75f, -9))} == 0x01);
  BOOST_TEST(int{splitmla::float_to_e4m3(460.f)} == 0x7E);
  BOOST_TEST(int{splitmla::float_to_e4m3(-1e9f)} == 0xFE);
  BOOST_TEST(int{splitmla::float_to_e4m3(std::numeric_limits<float>::infinity())} == 0x7F);
  BOOST_TEST(int{splitmla::float_to_e4m3(std::numeric_limits<float>::quiet_NaN())} == 0x7F);
  BOOST_TEST(int{splitmla::float_to_e4m3(1e-30f)} == 0x00);
}

BOOST_AUTO_TEST_CASE(scale_rules) {
  BOOST_TEST(splitmla::fp8_scale_for(448.0, Fp8ScaleRule::kAmax) == 1.f);
  BOOST_TEST(splitmla::fp8_scale_for(100.0, Fp8ScaleRule::kPowerOfTwo) == 0.25f);
  BOOST_TEST(splitmla::fp8_scale_for(896.0, Fp8ScaleRule::kPowerOfTwo) == 2.f);
  BOOST_TEST(splitmla::fp8_scale_for(0.0, Fp8ScaleRule::kAmax) == 1.f);
  const float s = splitmla::fp8_scale_for(1.0, Fp8ScaleRule::kAmax);
  BOOST_TEST(1.0 / s <= 448.0);  // amax never encodes past the e4m3 range
  BOOST_TEST(s > 0.f);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fp8_cache)

// Every magnitude from 0.01 to 100, both layouts, both dtypes, both scale rules: each dequantized
// value is within half an e4m3 step of the original (relative 2^-4, or half a subnormal step),
// and with power-of-two scales the float64 reference of the fp8 problem equals, bit for bit, the
// reference of the 16-bit problem holding the dequantized values (which are then exact).
BOOST_AUTO_TEST_CASE(scale_sweep_encodes_within_half_a_step_and_the_reference_dequantizes) {
  for (DType d : {DType::kBFloat16, DType::kFloat16}) {
    for (double mag : {0.01, 0.1, 1.0, 10.0, 100.0}) {
      HostProblem p = reftest::make_problem(spec(d, {1, 17, 40}, 7), /*poison=*/true);
      fp8test::add_structure(&p, mag, 11);
      for (KvFormat f : kFormats) {
        for (Fp8ScaleRule rule : {Fp8ScaleRule::kAmax, Fp8ScaleRule::kPowerOfTwo}) {
          BOOST_TEST_CONTEXT(splitmla::dtype_name(d) << " magnitude " << mag << " " << name(f)
                                                     << (rule == Fp8ScaleRule::kAmax ? " amax" : " pow2")) {
            const HostProblem q = quantized(p, f, rule);
            std::vector<double> row(kHeadDimQK);
            int64_t worse = 0;
            for (int64_t r = 0; r < int64_t{p.num_pages} * p.page_size; ++r) {
              BOOST_TEST_REQUIRE(splitmla::dequantize_kv_row(q, r, row.data()) == Status::kSuccess);
              for (int c = 0; c < kHeadDimV; ++c) {
                const double x = splitmla::half_bits_to_float(d, p.kv_cache[r * kHeadDimQK + c]);
                if (!std::isfinite(x)) continue;
                const double sc = f == KvFormat::kFp8E4M3
                                      ? q.kv_scale
                                      : [&] { float s; std::memcpy(&s, &q.kv_bytes[fp8test::ds_scale_offset(r, c / 128)], 4); return double{s}; }();
                if (std::fabs(row[c] - x) > std::ldexp(std::fabs(x), -4) + sc * std::ldexp(1.0, -10)) ++worse;
              }
            }
            BOOST_TEST(worse == 0, worse << " values beyond half an e4m3 step");
            if (rule == Fp8ScaleRule::kPowerOfTwo && d == DType::kBFloat16) {
              const HostOutputs a = reference(q), b = reference(as_16bit(q));
              BOOST_TEST(reftest::same_bits(a.out, b.out));
              BOOST_TEST(reftest::same_bits(a.lse, b.lse));
            }
          }
        }
      }
    }
  }
}

// The scale of fp8_e4m3 is per call: NaN, +-inf, zero, -0 or negative makes every output NaN.
BOOST_AUTO_TEST_CASE(a_bad_e4m3_scale_makes_every_row_nan) {
  const HostProblem p = reftest::make_problem(spec(DType::kBFloat16, {0, 5, 33}, 3), true);
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), inf, -inf, 0.f, -0.f, -1.f}) {
    HostProblem q = quantized(p, KvFormat::kFp8E4M3, Fp8ScaleRule::kAmax);
    q.kv_scale = bad;
    const HostOutputs o = reference(q);
    int64_t finite = 0;
    for (float v : o.out) finite += !std::isnan(v);
    for (float v : o.lse) finite += !std::isnan(v);
    BOOST_TEST(finite == 0, "scale " << bad << ": " << finite << " outputs are not NaN");
  }
}

// fp8_ds_mla: a bad scale in one visible row of request 1 makes request 1 NaN and leaves the
// others bit for bit; a bad scale (and NaN bytes) in rows past each length changes nothing.
BOOST_AUTO_TEST_CASE(a_bad_ds_scale_in_a_visible_row_makes_only_its_request_nan) {
  const HostProblem p = reftest::make_problem(spec(DType::kBFloat16, {20, 37, 9}, 5), true);
  const HostProblem clean = quantized(p, KvFormat::kFp8DsMla, Fp8ScaleRule::kAmax);
  const HostOutputs ref = reference(clean);
  const size_t per = static_cast<size_t>(p.num_heads) * kHeadDimV;
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), inf, 0.f, -2.f}) {
    for (int block : {0, 3}) {
      HostProblem q = clean;
      fp8test::set_ds_scale(&q, fp8test::cache_row(q, 1, 36), block, bad);
      const HostOutputs o = reference(q);
      for (int32_t b = 0; b < p.batch; ++b) {
        const std::vector<float> got(o.out.begin() + b * per, o.out.begin() + (b + 1) * per);
        const std::vector<float> want(ref.out.begin() + b * per, ref.out.begin() + (b + 1) * per);
        if (b == 1) {
          int64_t finite = 0;
          for (float v : got) finite += !std::isnan(v);
          BOOST_TEST(finite == 0, "scale " << bad << " block " << block);
        } else {
          BOOST_TEST(reftest::same_bits(got, want), "request " << b << " changed");
        }
      }
    }
  }
}

// NaN bytes and NaN scales in every row past each length (the poisoned problem) give the same
// outputs as finite data there, for both layouts.
BOOST_AUTO_TEST_CASE(nan_bytes_past_each_length_change_nothing) {
  for (KvFormat f : kFormats) {
    const reftest::Spec s = spec(DType::kBFloat16, {0, 1, 15, 16, 17, 40}, 9);
    HostProblem poisoned = quantized(reftest::make_problem(s, true), f, Fp8ScaleRule::kPowerOfTwo);
    HostProblem plain = quantized(reftest::make_problem(s, false), f, Fp8ScaleRule::kPowerOfTwo);
    // Same scale for both (e4m3's per-call scale could differ with the invisible data).
    poisoned.kv_scale = plain.kv_scale;
    int64_t nan_bytes = 0;
    for (uint8_t b : poisoned.kv_bytes) nan_bytes += (b & 0x7F) == 0x7F;
    BOOST_TEST_REQUIRE(nan_bytes > 0);
    const HostOutputs a = reference(poisoned), b = reference(plain);
    BOOST_TEST(reftest::same_bits(a.out, b.out), name(f));
    BOOST_TEST(reftest::same_bits(a.lse, b.lse), name(f));
  }
}

// The contract's accuracy figure: the fp8 result against the 16-bit original, 1 - cos per output
// row, on a structured cache (a mean row plus noise, as real caches have). Printed.
BOOST_AUTO_TEST_CASE(cosine_distance_to_the_16bit_original_is_small) {
  for (DType d : {DType::kBFloat16, DType::kFloat16}) {
    reftest::Spec s = spec(d, {64, 300, 1000}, 21);
    s.num_heads = 4;
    HostProblem p = reftest::make_problem(s, true);
    fp8test::add_structure(&p, 1.0, 4);
    const HostOutputs ref = reference(p);
    for (KvFormat f : kFormats) {
      const HostOutputs o = reference(quantized(p, f, Fp8ScaleRule::kAmax));
      const fp8test::Cosine c = fp8test::cosine_distance(o.out, ref.out);
      std::cout << "fp8 cosine (CPU reference) " << splitmla::dtype_name(d) << " " << name(f)
                << ": worst row 1-cos = " << c.worst_row << ", whole output " << c.whole
                << " over " << c.rows << " rows" << std::endl;
      BOOST_TEST(c.rows > 0);
      // The field's figure is the whole output's (FlashMLA's tests measure it so); a single row
      // may lose more, to 1e-3, since a short request averages fewer quantization errors.
      BOOST_TEST(c.whole < 1e-4, splitmla::dtype_name(d) << " " << name(f));
      BOOST_TEST(c.worst_row < 1e-3, splitmla::dtype_name(d) << " " << name(f));
    }
  }
}

BOOST_AUTO_TEST_CASE(validation_names_the_fp8_fields) {
  const HostProblem p = reftest::make_problem(spec(DType::kBFloat16, {5}, 1), false);
  HostProblem q = quantized(p, KvFormat::kFp8DsMla, Fp8ScaleRule::kAmax);
  BOOST_TEST(splitmla::validate_host_problem(q) == Status::kSuccess);
  HostProblem short_bytes = q;
  short_bytes.kv_bytes.pop_back();
  BOOST_TEST(splitmla::validate_host_problem(short_bytes) == Status::kBadShape);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("kv_bytes") != std::string::npos);
  HostProblem both = q;
  both.kv_cache = p.kv_cache;
  BOOST_TEST(splitmla::validate_host_problem(both) == Status::kBadShape);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("kv_cache") != std::string::npos);
  HostProblem odd = q;
  odd.kv_format = static_cast<KvFormat>(9);
  BOOST_TEST(splitmla::validate_host_problem(odd) == Status::kBadDType);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("kv_format = 9") != std::string::npos);
  HostProblem twice;
  BOOST_TEST(splitmla::quantize_kv(q, KvFormat::kFp8E4M3, Fp8ScaleRule::kAmax, &twice) ==
             Status::kBadDType);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("fp8_ds_mla") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
