// Conversions between float and the raw bits of bfloat16 / float16, done with integer arithmetic
// so the host result never depends on compiler flags or on F16C being present.
// Rounding is to nearest, ties to even; infinities keep their sign; NaN stays NaN (quiet).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "splitmla/reference.hpp"

namespace splitmla {
namespace {

uint32_t float_bits(float v) noexcept {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

float bits_float(uint32_t u) noexcept {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// Rounds `value >> shift` to nearest, ties to even (shift in 1..31).
uint32_t shift_round_even(uint32_t value, int shift) noexcept {
  const uint32_t kept = value >> shift;
  const uint32_t rest = value & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) return kept + 1u;
  return kept;
}

}  // namespace

float bf16_to_float(uint16_t bits) noexcept {
  // bfloat16 is the top half of a float: every pattern (NaN payloads included) maps exactly.
  return bits_float(static_cast<uint32_t>(bits) << 16);
}

uint16_t float_to_bf16(float v) noexcept {
  const uint32_t u = float_bits(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    // NaN: keep sign and the high payload bits, force the quiet bit so a payload living only
    // in the dropped low bits cannot turn into infinity.
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Finite or infinite: round the low 16 bits away; a carry may reach the exponent, which is
  // exactly the next binade (or infinity past the largest finite bfloat16).
  return static_cast<uint16_t>(shift_round_even(u, 16));
}

float fp16_to_float(uint16_t bits) noexcept {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  if (exp == 0x1fu) {
    // Infinity (mant == 0) or NaN (payload moved to the top of the float mantissa).
    return bits_float(sign | 0x7f800000u | (mant << 13));
  }
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float mag = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -mag : mag;
  }
  return bits_float(sign | ((exp - 15u + 127u) << 23) | (mant << 13));
}

uint16_t float_to_fp16(float v) noexcept {
  const uint32_t u = float_bits(v);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t mag = u & 0x7fffffffu;

  if (mag >= 0x7f800000u) {
    if (mag == 0x7f800000u) return sign | 0x7c00u;                       // infinity
    return static_cast<uint16_t>(sign | 0x7e00u | ((mag >> 13) & 0x3ffu));  // quiet NaN
  }
  const int exp = static_cast<int>(mag >> 23) - 127;  // unbiased exponent of the float
  if (exp >= 16) return sign | 0x7c00u;               // >= 65536: past the rounding limit
  if (exp >= -14) {
    // Normal range of float16: drop 13 mantissa bits. A carry out of the mantissa bumps the
    // exponent, and one out of exponent 30 lands on infinity, both the correct encodings.
    const uint32_t biased = (static_cast<uint32_t>(exp + 15) << 23) | (mag & 0x7fffffu);
    return static_cast<uint16_t>(sign | shift_round_even(biased, 13));
  }
  if (exp < -25) return sign;  // below half the smallest subnormal (2^-25): rounds to zero
  // Subnormal float16: count units of 2^-24. The float value is m * 2^(exp-23) with the hidden
  // bit in m, so the count is m >> (-exp - 1), rounded; a rounding that reaches 0x400 is the
  // smallest normal, again the correct encoding.
  const uint32_t m = (mag & 0x7fffffu) | 0x800000u;
  return static_cast<uint16_t>(sign | shift_round_even(m, -exp - 1));
}

float half_bits_to_float(DType d, uint16_t bits) noexcept {
  switch (d) {
    case DType::kBFloat16: return bf16_to_float(bits);
    case DType::kFloat16: return fp16_to_float(bits);
  }
  return std::nanf("");  // unknown dtype: loud
}

uint16_t float_to_half_bits(DType d, float v) noexcept {
  switch (d) {
    case DType::kBFloat16: return float_to_bf16(v);
    case DType::kFloat16: return float_to_fp16(v);
  }
  return 0x7fffu;  // unknown dtype: a NaN pattern in both formats
}

}  // namespace splitmla
