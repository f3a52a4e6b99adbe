// The tests' random decode problems; see problems.hpp.
#include "support/problems.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

namespace splitmla::testsupport {

bool make_adversarial_problem(const AdversarialSpec& g, HostProblem* out, std::string* error) {
  HostProblem p;
  p.dtype = g.dtype;
  p.batch = static_cast<int32_t>(g.lens.size());
  p.q_len = g.q_len;
  p.causal = g.causal;
  p.num_heads = g.num_heads;
  p.page_size = g.page_size;
  Rng rng(g.seed);
  p.softmax_scale = g.softmax_scale > 0.0 ? g.softmax_scale : 0.05 + 0.2 * rng.uniform();
  p.seq_lens = g.lens;

  int32_t widest = 0;
  int64_t used = 0;
  for (int32_t len : g.lens) {
    widest = std::max(widest, pages_needed(len, g.page_size));
    used += pages_needed(len, g.page_size);
  }
  p.max_pages_per_seq = g.max_pages_per_seq > 0 ? g.max_pages_per_seq : widest + 2;
  p.num_pages = g.num_pages > 0 ? g.num_pages : static_cast<int32_t>(used + 3);
  if (widest > p.max_pages_per_seq || used > p.num_pages) {
    if (error != nullptr) *error = "generator: lengths do not fit max_pages_per_seq/num_pages";
    return false;
  }

  const DType d = g.dtype;
  auto bits = [d](float v) { return float_to_half_bits(d, v); };
  const size_t H = static_cast<size_t>(g.num_heads);
  const size_t QH = static_cast<size_t>(g.q_len) * H;  // query rows per request

  p.q.resize(static_cast<size_t>(p.batch) * QH * kHeadDimQK);
  for (auto& x : p.q) x = bits(rng.sym());

  // Shuffled page ids.
  std::vector<int32_t> perm(static_cast<size_t>(p.num_pages));
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[static_cast<size_t>(rng.below(static_cast<int32_t>(i)))]);

  p.kv_cache.assign(static_cast<size_t>(p.num_pages) * g.page_size * kHeadDimQK, kPoisonHalf);
  p.block_table.resize(static_cast<size_t>(p.batch) * p.max_pages_per_seq);
  size_t next_page = 0;
  std::vector<float> mu(kHeadDimQK), q0(kHeadDimQK);
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t len = std::max(0, g.lens[static_cast<size_t>(b)]);
    const int32_t need = pages_needed(len, g.page_size);
    int32_t* row = &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq];
    for (int32_t j = 0; j < p.max_pages_per_seq; ++j)
      row[j] = j < need ? perm[next_page + static_cast<size_t>(j)]
                        : bad_page_id(p.num_pages, static_cast<int64_t>(b) * 7 + j);
    next_page += static_cast<size_t>(need);
    for (int c = 0; c < kHeadDimQK; ++c) {
      mu[static_cast<size_t>(c)] = 0.8f * rng.sym();
      q0[static_cast<size_t>(c)] = half_bits_to_float(d, p.q[static_cast<size_t>(b) * QH * kHeadDimQK + c]);
    }
    const int32_t hot_a = rng.below(len), hot_b = rng.below(len);
    for (int32_t pos = 0; pos < len; ++pos) {
      const size_t page = static_cast<size_t>(row[pos / g.page_size]);
      uint16_t* kv = &p.kv_cache[(page * g.page_size + static_cast<size_t>(pos % g.page_size)) * kHeadDimQK];
      const float lean = (pos == hot_a || pos == hot_b) ? 0.3f : 0.0f;
      for (int c = 0; c < kHeadDimQK; ++c)
        kv[c] = bits(mu[static_cast<size_t>(c)] + 0.5f * rng.sym() + lean * q0[static_cast<size_t>(c)]);
    }
  }
  *out = std::move(p);
  return true;
}

// Contract-style lengths around page boundaries for one page size: 0, 1, and k*page +-1.
std::vector<int32_t> boundary_lengths(int32_t page_size) {
  std::vector<int32_t> v{0, 1};
  for (int32_t k = 1; k <= 3; ++k)
    for (int32_t dlt = -1; dlt <= 1; ++dlt) v.push_back(k * page_size + dlt);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  v.erase(std::remove_if(v.begin(), v.end(), [](int32_t x) { return x < 0; }), v.end());
  return v;
}

uint16_t quiet_nan_bits(DType d) { return d == DType::kFloat16 ? uint16_t{0x7e00} : uint16_t{0x7fc0}; }

HostProblem make_uniform_problem(const UniformSpec& s, bool poison) {
  HostProblem p;
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
    widest = std::max(widest, pages_needed(len, s.page_size));
    used += pages_needed(len, s.page_size);
  }
  p.max_pages_per_seq = std::max(1, widest + s.spare_entries);
  p.num_pages = std::max(1, used + s.spare_pages);

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> uni(-s.magnitude, s.magnitude);
  p.q.resize(static_cast<size_t>(p.batch) * p.q_len * p.num_heads * kHeadDimQK);
  for (auto& x : p.q) x = float_to_half_bits(p.dtype, uni(rng));
  p.kv_cache.resize(static_cast<size_t>(p.num_pages) * p.page_size * kHeadDimQK);
  for (auto& x : p.kv_cache) x = float_to_half_bits(p.dtype, uni(rng));

  std::vector<int32_t> order(static_cast<size_t>(p.num_pages));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);

  std::vector<char> row_visible(static_cast<size_t>(p.num_pages) * p.page_size, 0);
  p.block_table.assign(static_cast<size_t>(p.batch) * p.max_pages_per_seq, 0);
  size_t next = 0;
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t len = std::max(0, s.seq_lens[b]);
    const int32_t need = pages_needed(len, p.page_size);
    int32_t* row = p.block_table.data() + static_cast<size_t>(b) * p.max_pages_per_seq;
    for (int32_t i = 0; i < p.max_pages_per_seq; ++i) {
      if (i < need) {
        row[i] = order[next++];
        for (int32_t r = 0; r < p.page_size && i * p.page_size + r < len; ++r) {
          row_visible[static_cast<size_t>(row[i]) * p.page_size + r] = 1;
        }
      } else {
        row[i] = poison ? bad_page_id(p.num_pages, b + i) : order[static_cast<size_t>(p.num_pages) - 1];
      }
    }
  }
  if (poison) {
    for (size_t r = 0; r < row_visible.size(); ++r) {
      if (row_visible[r]) continue;
      std::fill_n(p.kv_cache.begin() + r * kHeadDimQK, kHeadDimQK,
                  quiet_nan_bits(p.dtype));
    }
  }
  return p;
}

}  // namespace splitmla::testsupport
