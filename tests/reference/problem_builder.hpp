// Test helper: random decode problems for the CPU reference, with the contract's adversarial
// layout available on request (NaN rows past each length, bad page ids past each table row).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <ostream>
#include <random>
#include <vector>

#include "splitmla/reference.hpp"

// Lets Boost.Test print a Status in failed assertions (found by argument-dependent lookup).
namespace splitmla {
inline std::ostream& operator<<(std::ostream& os, Status s) { return os << status_name(s); }
}  // namespace splitmla

namespace reftest {

struct Spec {
  splitmla::DType dtype = splitmla::DType::kBFloat16;
  int32_t num_heads = 1;
  int32_t page_size = 16;
  int32_t q_len = 1;
  bool causal = true;
  std::vector<int32_t> seq_lens{1};
  double softmax_scale = 0.0721687836;  // 1/sqrt(192), as DeepSeek without mscale
  uint64_t seed = 1;
  int32_t spare_pages = 2;   // pages no request uses
  int32_t spare_entries = 1; // table entries past the longest request's last needed page
  float magnitude = 1.0f;    // q and kv values are uniform in [-magnitude, magnitude]
};

inline uint16_t nan_bits(splitmla::DType d) {
  return d == splitmla::DType::kFloat16 ? uint16_t{0x7e00} : uint16_t{0x7fc0};
}

inline int32_t pages_for(int32_t seq_len, int32_t page_size) {
  return seq_len <= 0 ? 0 : (seq_len + page_size - 1) / page_size;
}

// Builds the problem. Pages are handed out in a shuffled order, so a request's pages are not
// contiguous. With `poison`, every KV row no request can see holds NaN and every table entry
// past a request's last needed page holds an out-of-range id; without it those rows hold random
// values and those entries a valid page. The visible data is the same either way.
inline splitmla::HostProblem make_problem(const Spec& s, bool poison) {
  splitmla::HostProblem p;
  p.dtype = s.dtype;
  p.batch = static_cast<int32_t>(s.seq_lens.size());
  p.q_len = s.q_len;
  p.causal = s.causal;
  p.num_heads = s.num_heads;
  p.page_size = s.page_size;
  p.softmax_scale = s.softmax_scale;
  p.seq_lens = s.seq_lens;

  int32_t widest = 0, used = 0;
  for (int32_t len : s.seq_lens) {
    widest = std::max(widest, pages_for(len, s.page_size));
    used += pages_for(len, s.page_size);
  }
  p.max_pages_per_seq = std::max(1, widest + s.spare_entries);
  p.num_pages = std::max(1, used + s.spare_pages);

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> uni(-s.magnitude, s.magnitude);
  p.q.resize(static_cast<size_t>(p.batch) * p.q_len * p.num_heads * splitmla::kHeadDimQK);
  for (auto& x : p.q) x = splitmla::float_to_half_bits(p.dtype, uni(rng));
  p.kv_cache.resize(static_cast<size_t>(p.num_pages) * p.page_size * splitmla::kHeadDimQK);
  for (auto& x : p.kv_cache) x = splitmla::float_to_half_bits(p.dtype, uni(rng));

  std::vector<int32_t> order(static_cast<size_t>(p.num_pages));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);

  std::vector<char> row_visible(static_cast<size_t>(p.num_pages) * p.page_size, 0);
  p.block_table.assign(static_cast<size_t>(p.batch) * p.max_pages_per_seq, 0);
  size_t next = 0;
  const int32_t bad_ids[] = {p.num_pages, -1, p.num_pages + 1000, INT32_MIN, INT32_MAX};
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t len = std::max(0, s.seq_lens[b]);
    const int32_t need = pages_for(len, p.page_size);
    int32_t* row = p.block_table.data() + static_cast<size_t>(b) * p.max_pages_per_seq;
    for (int32_t i = 0; i < p.max_pages_per_seq; ++i) {
      if (i < need) {
        row[i] = order[next++];
        for (int32_t r = 0; r < p.page_size && i * p.page_size + r < len; ++r) {
          row_visible[static_cast<size_t>(row[i]) * p.page_size + r] = 1;
        }
      } else {
        row[i] = poison ? bad_ids[(b + i) % 5] : order[static_cast<size_t>(p.num_pages) - 1];
      }
    }
  }
  if (poison) {
    for (size_t r = 0; r < row_visible.size(); ++r) {
      if (row_visible[r]) continue;
      std::fill_n(p.kv_cache.begin() + r * splitmla::kHeadDimQK, splitmla::kHeadDimQK,
                  nan_bits(p.dtype));
    }
  }
  return p;
}

// Element index helpers for [batch, q_len, heads, 512] and [batch, q_len, heads].
inline size_t row_index(const splitmla::HostProblem& p, int32_t b, int32_t t, int32_t h) {
  return (static_cast<size_t>(b) * p.q_len + t) * p.num_heads + h;
}
inline size_t out_index(const splitmla::HostProblem& p, int32_t b, int32_t t, int32_t h,
                        int32_t d) {
  return row_index(p, b, t, h) * splitmla::kHeadDimV + d;
}

// True when two float vectors are bitwise identical (NaN matches NaN of the same bits).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof x) == 0;
         });
}

}  // namespace reftest
