// bfloat16 / float16 conversions on raw bits: known encodings, exact round trips of every
// pattern, round to nearest with ties to even checked exhaustively at every midpoint between
// neighbouring finite values (subnormals included), overflow, underflow, NaN and infinities.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "splitmla/reference.hpp"

using splitmla::DType;

namespace {

uint32_t bits_of(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
float float_of(uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

struct Format {
  const char* name;
  float (*to_float)(uint16_t);
  uint16_t (*from_float)(float);
  uint16_t pos_inf;  // also the first pattern past the largest finite value
};

float bf16f(uint16_t b) { return splitmla::bf16_to_float(b); }
float fp16f(uint16_t b) { return splitmla::fp16_to_float(b); }
uint16_t tobf16(float v) { return splitmla::float_to_bf16(v); }
uint16_t tofp16(float v) { return splitmla::float_to_fp16(v); }

const Format kBF16{"bfloat16", bf16f, tobf16, 0x7f80};
const Format kFP16{"float16", fp16f, tofp16, 0x7c00};

// Every positive finite pair (a, a+1): the midpoint (exact in float: both formats have at most
// 11 significant bits) goes to the even one, and the floats just beside it go to the nearer.
void check_midpoints(const Format& f) {
  int failures = 0;
  for (uint32_t a = 0; a + 1 < f.pos_inf; ++a) {
    const uint16_t lo = static_cast<uint16_t>(a), hi = static_cast<uint16_t>(a + 1);
    const float vlo = f.to_float(lo), vhi = f.to_float(hi);
    const float mid = static_cast<float>((double{vlo} + double{vhi}) / 2);  // exact
    const uint16_t even = (lo & 1u) ? hi : lo;
    const uint16_t got_mid = f.from_float(mid);
    const uint16_t got_below = f.from_float(std::nextafter(mid, 0.0f));
    const uint16_t got_above = f.from_float(std::nextafter(mid, INFINITY));
    const uint16_t got_neg = f.from_float(-mid);
    if (got_mid != even || got_below != lo || got_above != hi ||
        got_neg != static_cast<uint16_t>(even | 0x8000u)) {
      if (++failures <= 5) {
        BOOST_ERROR(f.name << " midpoint between 0x" << std::hex << a << " and 0x" << a + 1
                           << ": mid->0x" << got_mid << " below->0x" << got_below
                           << " above->0x" << got_above << " -mid->0x" << got_neg);
      }
    }
  }
  BOOST_TEST(failures == 0);
}

// Every pattern: finite and infinite values come back with the same bits, NaN stays NaN.
void check_round_trip(const Format& f) {
  int failures = 0;
  for (uint32_t u = 0; u <= 0xffffu; ++u) {
    const uint16_t bits = static_cast<uint16_t>(u);
    const float v = f.to_float(bits);
    const bool is_nan_pattern = (bits & 0x7fffu) > f.pos_inf;
    bool good;
    if (is_nan_pattern) {
      good = std::isnan(v) && (f.from_float(v) & 0x7fffu) > f.pos_inf;
    } else {
      good = !std::isnan(v) && f.from_float(v) == bits;
    }
    if (!good && ++failures <= 5) {
      BOOST_ERROR(f.name << " round trip of 0x" << std::hex << u << " failed");
    }
  }
  BOOST_TEST(failures == 0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bfloat16)

BOOST_AUTO_TEST_CASE(known_bit_patterns_decode) {
  BOOST_TEST(splitmla::bf16_to_float(0x3f80) == 1.0f);
  BOOST_TEST(splitmla::bf16_to_float(0xc000) == -2.0f);
  BOOST_TEST(splitmla::bf16_to_float(0x3ec0) == 0.375f);
  BOOST_TEST(splitmla::bf16_to_float(0x0000) == 0.0f);
  BOOST_TEST(std::signbit(splitmla::bf16_to_float(0x8000)));
  BOOST_TEST(splitmla::bf16_to_float(0x7f80) == std::numeric_limits<float>::infinity());
  BOOST_TEST(splitmla::bf16_to_float(0xff80) == -std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(0x7fc0)));
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(0xff81)));
  BOOST_TEST(splitmla::bf16_to_float(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
}

BOOST_AUTO_TEST_CASE(known_values_encode) {
  BOOST_TEST(splitmla::float_to_bf16(1.0f) == 0x3f80);
  BOOST_TEST(splitmla::float_to_bf16(-2.0f) == 0xc000);
  BOOST_TEST(splitmla::float_to_bf16(-0.0f) == 0x8000);
  // 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: the even one wins.
  BOOST_TEST(splitmla::float_to_bf16(float_of(0x3f808000u)) == 0x3f80);
  BOOST_TEST(splitmla::float_to_bf16(float_of(0x3f818000u)) == 0x3f82);
  BOOST_TEST(splitmla::float_to_bf16(float_of(0x3f808001u)) == 0x3f81);
  BOOST_TEST(splitmla::float_to_bf16(float_of(0x3f807fffu)) == 0x3f80);
}

BOOST_AUTO_TEST_CASE(nan_and_infinity_are_preserved) {
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(splitmla::float_to_bf16(inf) == 0x7f80);
  BOOST_TEST(splitmla::float_to_bf16(-inf) == 0xff80);
  // Largest float is past the last bfloat16 rounding boundary: infinity, as IEEE rounding says.
  BOOST_TEST(splitmla::float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(splitmla::float_to_bf16(std::nanf("")))));
  // A NaN whose payload lives only in the dropped low bits must not become infinity.
  const uint16_t low_payload = splitmla::float_to_bf16(float_of(0x7f800001u));
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(low_payload)));
  const uint16_t neg_nan = splitmla::float_to_bf16(float_of(0xff800001u));
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(neg_nan)));
  BOOST_TEST((neg_nan & 0x8000u) != 0u);
}

BOOST_AUTO_TEST_CASE(every_pattern_round_trips) { check_round_trip(kBF16); }

BOOST_AUTO_TEST_CASE(every_midpoint_rounds_to_even) { check_midpoints(kBF16); }

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(float16)

BOOST_AUTO_TEST_CASE(known_bit_patterns_decode) {
  BOOST_TEST(splitmla::fp16_to_float(0x3c00) == 1.0f);
  BOOST_TEST(splitmla::fp16_to_float(0xc000) == -2.0f);
  BOOST_TEST(splitmla::fp16_to_float(0x7bff) == 65504.0f);
  BOOST_TEST(splitmla::fp16_to_float(0x0400) == std::ldexp(1.0f, -14));       // smallest normal
  BOOST_TEST(splitmla::fp16_to_float(0x0001) == std::ldexp(1.0f, -24));       // smallest subnormal
  BOOST_TEST(splitmla::fp16_to_float(0x03ff) == std::ldexp(1023.0f, -24));    // largest subnormal
  BOOST_TEST(splitmla::fp16_to_float(0x8001) == -std::ldexp(1.0f, -24));
  BOOST_TEST(std::signbit(splitmla::fp16_to_float(0x8000)));
  BOOST_TEST(splitmla::fp16_to_float(0x7c00) == std::numeric_limits<float>::infinity());
  BOOST_TEST(splitmla::fp16_to_float(0xfc00) == -std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(0x7e00)));
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(0x7c01)));
}

BOOST_AUTO_TEST_CASE(known_values_encode) {
  BOOST_TEST(splitmla::float_to_fp16(1.0f) == 0x3c00);
  BOOST_TEST(splitmla::float_to_fp16(-0.0f) == 0x8000);
  BOOST_TEST(splitmla::float_to_fp16(65504.0f) == 0x7bff);
  BOOST_TEST(splitmla::float_to_fp16(std::ldexp(1.0f, -24)) == 0x0001);
  BOOST_TEST(splitmla::float_to_fp16(std::ldexp(3.0f, -24)) == 0x0003);
  // Ties: 1 + 2^-11 -> 1 (even), 1 + 3*2^-11 -> 1 + 2^-9 (even).
  BOOST_TEST(splitmla::float_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  BOOST_TEST(splitmla::float_to_fp16(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);
}

BOOST_AUTO_TEST_CASE(overflow_and_underflow_round_correctly) {
  // 65520 is halfway between 65504 and 65536 (infinity's slot): ties to even give infinity.
  BOOST_TEST(splitmla::float_to_fp16(65520.0f) == 0x7c00);
  BOOST_TEST(splitmla::float_to_fp16(std::nextafter(65520.0f, 0.0f)) == 0x7bff);
  BOOST_TEST(splitmla::float_to_fp16(1e6f) == 0x7c00);
  BOOST_TEST(splitmla::float_to_fp16(-1e6f) == 0xfc00);
  // Half the smallest subnormal is a tie with zero: zero is even.
  BOOST_TEST(splitmla::float_to_fp16(std::ldexp(1.0f, -25)) == 0x0000);
  BOOST_TEST(splitmla::float_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
  BOOST_TEST(splitmla::float_to_fp16(-std::ldexp(1.0f, -26)) == 0x8000);
  BOOST_TEST(splitmla::float_to_fp16(std::numeric_limits<float>::denorm_min()) == 0x0000);
  // The largest subnormal plus half a step ties up to the smallest normal (0x0400 is even).
  BOOST_TEST(splitmla::float_to_fp16(std::ldexp(2047.0f, -25)) == 0x0400);
}

BOOST_AUTO_TEST_CASE(nan_and_infinity_are_preserved) {
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(splitmla::float_to_fp16(inf) == 0x7c00);
  BOOST_TEST(splitmla::float_to_fp16(-inf) == 0xfc00);
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(splitmla::float_to_fp16(std::nanf("")))));
  const uint16_t low_payload = splitmla::float_to_fp16(float_of(0x7f800001u));
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(low_payload)));
  const uint16_t neg_nan = splitmla::float_to_fp16(float_of(0xffc00000u));
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(neg_nan)));
  BOOST_TEST((neg_nan & 0x8000u) != 0u);
}

BOOST_AUTO_TEST_CASE(every_pattern_round_trips) { check_round_trip(kFP16); }

BOOST_AUTO_TEST_CASE(every_midpoint_rounds_to_even) { check_midpoints(kFP16); }

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dispatch)

BOOST_AUTO_TEST_CASE(dtype_helpers_pick_the_format) {
  BOOST_TEST(splitmla::half_bits_to_float(DType::kBFloat16, 0x3f80) == 1.0f);
  BOOST_TEST(splitmla::half_bits_to_float(DType::kFloat16, 0x3c00) == 1.0f);
  BOOST_TEST(splitmla::float_to_half_bits(DType::kBFloat16, 0.375f) == 0x3ec0);
  BOOST_TEST(splitmla::float_to_half_bits(DType::kFloat16, 0.375f) == 0x3600);
  for (float v : {0.1f, -3.7f, 1e-5f, 300.0f}) {
    BOOST_TEST(splitmla::float_to_half_bits(DType::kBFloat16, v) == splitmla::float_to_bf16(v));
    BOOST_TEST(splitmla::float_to_half_bits(DType::kFloat16, v) == splitmla::float_to_fp16(v));
  }
}

BOOST_AUTO_TEST_CASE(unknown_dtype_gives_nan) {
  const DType bad = static_cast<DType>(7);
  BOOST_TEST(std::isnan(splitmla::half_bits_to_float(bad, 0x3c00)));
  const uint16_t bits = splitmla::float_to_half_bits(bad, 1.0f);
  BOOST_TEST(std::isnan(splitmla::bf16_to_float(bits)));
  BOOST_TEST(std::isnan(splitmla::fp16_to_float(bits)));
}

BOOST_AUTO_TEST_SUITE_END()
