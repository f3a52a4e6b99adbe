// SplitMLA fp8 KV caches on the host: e4m3 conversions, the encoders that turn a 16-bit cache into
// either fp8 layout (docs/semantics.md section 1), and the dequantized value of a stored row.
// Tests, the fixture generator and the benchmark build their fp8 caches with these.
#pragma once

#include "splitmla/export.hpp"

#include <cstdint>

#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {

inline constexpr float kE4M3Max = 448.f;  // largest finite e4m3 (0x7E)

// e4m3 (OCP "fn": no infinities; 0x7F and 0xFF are NaN) to float: exact.
SPLITMLA_API float e4m3_to_float(uint8_t bits) noexcept;
// float to e4m3: round to nearest, ties to even, saturating to +-448; NaN and +-inf -> 0x7F / 0xFF
// (NaN: an fp8 cache has no infinity, and a plausible finite value would hide the fault).
SPLITMLA_API uint8_t float_to_e4m3(float v) noexcept;

// How an encoder picks a scale from the amax of the values it covers.
enum class Fp8ScaleRule : int32_t {
  kAmax = 0,        // amax / 448: the full e4m3 range is used
  kPowerOfTwo = 1,  // the smallest power of two >= amax / 448 (scaling is then exact)
};
// The scale for `amax` (finite, >= 0); 1 when amax is 0.
SPLITMLA_API float fp8_scale_for(double amax, Fp8ScaleRule rule) noexcept;

// Encodes the 16-bit cache of `src` into `format` and stores the result in `dst` (q, table,
// lengths and extents copied; dst->kv_cache emptied, dst->kv_bytes filled). fp8_e4m3: one scale
// for the whole cache from the amax of its finite values. fp8_ds_mla: one scale per row and
// 128-value latent block; the 64 rope values are rounded to bf16. Non-finite values encode as NaN
// bytes (a NaN rope value stays NaN); a latent block with no finite value gets a NaN scale, so a
// poisoned row stays poisoned. format = kSameAsQ copies src.
SPLITMLA_API Status quantize_kv(const HostProblem& src, KvFormat format, Fp8ScaleRule rule,
                                HostProblem* dst);

// The dequantized value of cache row `row` (page * page_size + slot) as 576 doubles: as stored
// for 16-bit caches; e4m3 * scale (latent) and the bf16 rope for fp8 caches.
SPLITMLA_API Status dequantize_kv_row(const HostProblem& p, int64_t row, double* out576);

}  // namespace splitmla
