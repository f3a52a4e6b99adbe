// Test helpers for fp8 caches shared by the CPU and GPU suites: a structured problem (each request
// has a mean row, so outputs are not noise around zero, as in a real cache), the cosine distance
// between two outputs, and edits of single fp8 scales.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "splitmla/fp8.hpp"
#include "splitmla/reference.hpp"

namespace fp8test {

// Rewrites every finite KV value x of a 16-bit problem (values in [-1, 1]) into
// magnitude * (mu_c + 0.5 * x), with one mean row mu per problem (seeded); NaN rows stay NaN.
inline void add_structure(splitmla::HostProblem* p, double magnitude, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(-0.8, 0.8);
  std::vector<double> mu(splitmla::kHeadDimQK);
  for (double& m : mu) m = uni(rng);
  for (size_t i = 0; i < p->kv_cache.size(); ++i) {
    const double x = splitmla::half_bits_to_float(p->dtype, p->kv_cache[i]);
    if (!std::isfinite(x)) continue;
    const double v = magnitude * (mu[i % splitmla::kHeadDimQK] + 0.5 * x);
    p->kv_cache[i] = splitmla::float_to_half_bits(p->dtype, static_cast<float>(v));
  }
}

// Worst over the (request, token, head) rows with a nonzero reference of 1 - cos(got, ref), and
// the same over the whole output taken as one vector. Rows with NaN in either are skipped.
struct Cosine {
  double worst_row = 0.0;
  double whole = 0.0;
  int64_t rows = 0;
};
inline Cosine cosine_distance(const std::vector<float>& got, const std::vector<float>& ref) {
  Cosine c;
  double gg = 0, rr = 0, gr = 0;
  const size_t n = std::min(got.size(), ref.size()) / splitmla::kHeadDimV;
  for (size_t r = 0; r < n; ++r) {
    double g2 = 0, r2 = 0, x = 0;
    bool nan = false;
    for (int d = 0; d < splitmla::kHeadDimV; ++d) {
      const double a = got[r * splitmla::kHeadDimV + d], b = ref[r * splitmla::kHeadDimV + d];
      if (std::isnan(a) || std::isnan(b)) nan = true;
      g2 += a * a;
      r2 += b * b;
      x += a * b;
    }
    if (nan || r2 == 0.0) continue;
    ++c.rows;
    const double cd = 1.0 - x / std::sqrt(g2 * r2);
    c.worst_row = std::max(c.worst_row, cd);
    gg += g2;
    rr += r2;
    gr += x;
  }
  if (rr > 0.0 && gg > 0.0) c.whole = 1.0 - gr / std::sqrt(gg * rr);
  return c;
}

// Byte offset of cache row `row`'s ds_mla scale `block` in kv_bytes.
inline size_t ds_scale_offset(int64_t row, int block) {
  return static_cast<size_t>(row) * splitmla::kFp8DsMlaRowBytes + splitmla::kFp8DsMlaScaleOffset +
         4 * static_cast<size_t>(block);
}
inline void set_ds_scale(splitmla::HostProblem* p, int64_t row, int block, float v) {
  std::memcpy(&p->kv_bytes[ds_scale_offset(row, block)], &v, sizeof v);
}
// Cache row (page * page_size + slot) of request b's position pos.
inline int64_t cache_row(const splitmla::HostProblem& p, int32_t b, int64_t pos) {
  const int32_t page = p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq + pos / p.page_size];
  return static_cast<int64_t>(page) * p.page_size + pos % p.page_size;
}

}  // namespace fp8test
