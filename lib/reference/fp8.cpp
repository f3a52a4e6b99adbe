// fp8 KV caches on the host: e4m3 <-> float, the two encoders, and dequantized rows.
// Layouts: docs/semantics.md section 1 (fp8_e4m3: 576 e4m3 bytes; fp8_ds_mla: 512 e4m3, four
// float32 scales, 64 bf16 rope values).
#include "splitmla/fp8.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/guard.hpp"

namespace splitmla {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kBlocks = kHeadDimV / 128;  // fp8_ds_mla scale blocks per row

// Largest finite magnitude among n values of a 16-bit cache row segment.
double finite_amax(DType d, const uint16_t* v, int n, bool* any_finite) {
  double amax = 0.0;
  *any_finite = false;
  for (int i = 0; i < n; ++i) {
    const double x = half_bits_to_float(d, v[i]);
    if (!std::isfinite(x)) continue;
    *any_finite = true;
    amax = std::max(amax, std::fabs(x));
  }
  return amax;
}

uint8_t encode(double x, float scale) { return float_to_e4m3(static_cast<float>(x / scale)); }

}  // namespace

float e4m3_to_float(uint8_t bits) noexcept {
  const bool neg = (bits & 0x80u) != 0;
  const int e = (bits >> 3) & 0xF, m = bits & 0x7;
  float v;
  if (e == 0xF && m == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (e == 0) v = std::ldexp(static_cast<float>(m), -9);  // subnormal: m * 2^-9
  else v = std::ldexp(1.f + m / 8.f, e - 7);
  return neg ? -v : v;
}

uint8_t float_to_e4m3(float v) noexcept {
  if (std::isnan(v) || std::isinf(v)) return std::signbit(v) ? 0xFF : 0x7F;
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  const double a = std::fabs(static_cast<double>(v));
  if (a >= kE4M3Max) return sign | 0x7E;  // saturate (448 = 0x7E)
  int e = 0;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): the leading bit has weight 2^(e-1)
  int exp = e - 1;
  if (a == 0.0 || exp < -6) {
    // Subnormal range: multiples of 2^-9 (a result of 8 is the smallest normal, 0x08).
    const double q = std::nearbyint(std::ldexp(a, 9));
    return sign | static_cast<uint8_t>(q);
  }
  double q = std::nearbyint((std::ldexp(a, -exp) - 1.0) * 8.0);  // 3 mantissa bits, ties even
  if (q >= 8.0) {
    q = 0.0;
    ++exp;
  }
  if (exp > 8 || (exp == 8 && q > 6.0)) return sign | 0x7E;
  return sign | static_cast<uint8_t>(((exp + 7) << 3) | static_cast<int>(q));
}

float fp8_scale_for(double amax, Fp8ScaleRule rule) noexcept {
  if (!(amax > 0.0) || !std::isfinite(amax)) return 1.f;
  const double s = amax / kE4M3Max;
  if (rule == Fp8ScaleRule::kPowerOfTwo) return static_cast<float>(std::exp2(std::ceil(std::log2(s))));
  // Round up so that amax / scale never exceeds 448 after the float rounding of the scale.
  float f = static_cast<float>(s);
  if (static_cast<double>(f) < s) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

Status quantize_kv(const HostProblem& src, KvFormat format, Fp8ScaleRule rule, HostProblem* dst) {
  if (dst == nullptr) return detail::fail(Status::kNullPointer, "dst = nullptr");
  if (src.kv_format != KvFormat::kSameAsQ)
    return detail::fail(Status::kBadDType, "src.kv_format = %s, must be a 16-bit cache",
                        kv_format_name(src.kv_format, src.dtype));
  if (format != KvFormat::kSameAsQ && !is_fp8(format))
    return detail::fail(Status::kBadDType, "format = %d, must be kSameAsQ, kFp8E4M3 or kFp8DsMla",
                        static_cast<int>(format));
  if (rule != Fp8ScaleRule::kAmax && rule != Fp8ScaleRule::kPowerOfTwo)
    return detail::fail(Status::kBadPolicy, "rule = %d, must be kAmax or kPowerOfTwo",
                        static_cast<int>(rule));
  SPLITMLA_TRY(validate_host_problem(src));
  return detail::guarded("quantize_kv", Status::kOutOfMemory, [&] {
    HostProblem out = src;
    out.kv_format = format;
    if (format == KvFormat::kSameAsQ) {
      *dst = std::move(out);
      return Status::kSuccess;
    }
    const int64_t rows = static_cast<int64_t>(src.num_pages) * src.page_size;
    const int rb = kv_row_bytes(format);
    out.kv_cache.clear();
    out.kv_cache.shrink_to_fit();
    out.kv_bytes.assign(static_cast<size_t>(rows * rb), 0);
    const DType d = src.dtype;
    if (format == KvFormat::kFp8E4M3) {
      double amax = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        bool any = false;
        amax = std::max(amax, finite_amax(d, &src.kv_cache[r * kHeadDimQK], kHeadDimQK, &any));
      }
      out.kv_scale = fp8_scale_for(amax, rule);
      for (int64_t r = 0; r < rows; ++r)
        for (int i = 0; i < kHeadDimQK; ++i)
          out.kv_bytes[r * rb + i] =
              encode(half_bits_to_float(d, src.kv_cache[r * kHeadDimQK + i]), out.kv_scale);
    } else {
      out.kv_scale = 1.f;
      for (int64_t r = 0; r < rows; ++r) {
        const uint16_t* in = &src.kv_cache[r * kHeadDimQK];
        uint8_t* row = &out.kv_bytes[r * rb];
        for (int blk = 0; blk < kBlocks; ++blk) {
          bool any = false;
          const double amax = finite_amax(d, in + 128 * blk, 128, &any);
          const float sc = any ? fp8_scale_for(amax, rule) : std::numeric_limits<float>::quiet_NaN();
          std::memcpy(row + kFp8DsMlaScaleOffset + 4 * blk, &sc, sizeof sc);
          for (int i = 0; i < 128; ++i)
            row[128 * blk + i] = any ? encode(half_bits_to_float(d, in[128 * blk + i]), sc) : 0x7F;
        }
        for (int i = 0; i < kHeadDimQK - kHeadDimV; ++i) {
          const float v = half_bits_to_float(d, in[kHeadDimV + i]);
          const uint16_t bits = d == DType::kBFloat16 ? in[kHeadDimV + i] : float_to_bf16(v);
          std::memcpy(row + kFp8DsMlaRopeOffset + 2 * i, &bits, sizeof bits);
        }
      }
    }
    *dst = std::move(out);
    return Status::kSuccess;
  });
}

Status dequantize_kv_row(const HostProblem& p, int64_t row, double* out576) {
  if (out576 == nullptr) return detail::fail(Status::kNullPointer, "out576 = nullptr");
  const int64_t rows = static_cast<int64_t>(p.num_pages) * p.page_size;
  if (row < 0 || row >= rows)
    return detail::fail(Status::kBadShape, "row = %lld, must be in 0..%lld",
                        static_cast<long long>(row), static_cast<long long>(rows - 1));
  switch (p.kv_format) {
    case KvFormat::kSameAsQ: {
      if (static_cast<int64_t>(p.kv_cache.size()) < (row + 1) * kHeadDimQK) break;
      const uint16_t* src = &p.kv_cache[row * kHeadDimQK];
      for (int d = 0; d < kHeadDimQK; ++d) out576[d] = half_bits_to_float(p.dtype, src[d]);
      return Status::kSuccess;
    }
    case KvFormat::kFp8E4M3: {
      if (static_cast<int64_t>(p.kv_bytes.size()) < (row + 1) * kFp8E4M3RowBytes) break;
      const uint8_t* src = &p.kv_bytes[row * kFp8E4M3RowBytes];
      const double sc = p.kv_scale;
      const bool bad = !(sc > 0.0) || !std::isfinite(sc);
      for (int d = 0; d < kHeadDimQK; ++d) out576[d] = bad ? kNaN : e4m3_to_float(src[d]) * sc;
      return Status::kSuccess;
    }
    case KvFormat::kFp8DsMla: {
      if (static_cast<int64_t>(p.kv_bytes.size()) < (row + 1) * kFp8DsMlaRowBytes) break;
      const uint8_t* src = &p.kv_bytes[row * kFp8DsMlaRowBytes];
      for (int blk = 0; blk < kBlocks; ++blk) {
        float sc;
        std::memcpy(&sc, src + kFp8DsMlaScaleOffset + 4 * blk, sizeof sc);
        const bool bad = !(sc > 0.f) || !std::isfinite(sc);
        for (int i = 0; i < 128; ++i)
          out576[128 * blk + i] = bad ? kNaN : e4m3_to_float(src[128 * blk + i]) * double{sc};
      }
      for (int i = 0; i < kHeadDimQK - kHeadDimV; ++i) {
        uint16_t bits;
        std::memcpy(&bits, src + kFp8DsMlaRopeOffset + 2 * i, sizeof bits);
        out576[kHeadDimV + i] = bf16_to_float(bits);
      }
      return Status::kSuccess;
    }
  }
  return detail::fail(Status::kBadShape, "cache of kv_format %s is too small for row %lld",
                      kv_format_name(p.kv_format, p.dtype), static_cast<long long>(row));
}

}  // namespace splitmla
