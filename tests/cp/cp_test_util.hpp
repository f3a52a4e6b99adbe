// Helpers of the context-parallel tests: cutting one problem into the shards of `world` ranks
// (each rank's local cache and block table, built from the global ones by the shard layout),
// and running the shard partials + merge of every rank on one device ("loopback").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.hpp"
#include "splitmla/cp.hpp"

namespace cptest {

using splitmla::HostProblem;
using splitmla::ShardLayout;
using splitmla::ShardSpec;

inline ShardSpec interleaved(int32_t world, int32_t rank, int32_t g) {
  ShardSpec s;
  s.layout = ShardLayout::kInterleaved;
  s.world = world;
  s.rank = rank;
  s.granularity = g;
  return s;
}

inline ShardSpec contiguous(int32_t world, int32_t rank, int32_t range) {
  ShardSpec s;
  s.layout = ShardLayout::kContiguous;
  s.world = world;
  s.rank = rank;
  s.range = range;
  return s;
}

inline std::string describe(const ShardSpec& s) {
  return std::string(splitmla::shard_layout_name(s.layout)) + "(world " + std::to_string(s.world) +
         ", rank " + std::to_string(s.rank) + ", " +
         (s.layout == ShardLayout::kInterleaved ? "g " + std::to_string(s.granularity)
                                                : "range " + std::to_string(s.range)) + ")";
}

// Rank s.rank's shard of `g`: its local cache holds the rows of the positions it owns, in local
// order, on pages taken in reverse order (not consecutive); unused rows are NaN; table entries
// past a request's local pages are out-of-range ids. seq_lens holds the LOCAL lengths (what the
// float64 reference of the shard needs); the GPU path is given the global ones. `local_width`
// (0: what the longest local length needs, plus 2 poisoned entries) fixes the table width, so all
// lengths up to the global capacity fit when it is computed from that capacity.
inline HostProblem make_shard(const HostProblem& g, const ShardSpec& s, int32_t local_width = 0) {
  HostProblem p = g;
  const int32_t page = g.page_size;
  std::vector<int64_t> local(static_cast<size_t>(g.batch));
  int32_t widest = 0;
  int64_t used = 0;
  for (int32_t b = 0; b < g.batch; ++b) {
    local[static_cast<size_t>(b)] = splitmla::shard_local_length(s, std::max(0, g.seq_lens[static_cast<size_t>(b)]));
    const int32_t need = gputest::pages_needed(local[static_cast<size_t>(b)], page);
    widest = std::max(widest, need);
    used += need;
  }
  p.max_pages_per_seq = local_width > 0 ? local_width : widest + 2;
  BOOST_REQUIRE_MESSAGE(widest <= p.max_pages_per_seq, "make_shard: local_width too small");
  p.num_pages = static_cast<int32_t>(used + 2);
  p.kv_cache.assign(static_cast<size_t>(p.num_pages) * page * splitmla::kHeadDimQK, gputest::kPoisonHalf);
  p.block_table.assign(static_cast<size_t>(g.batch) * p.max_pages_per_seq, 0);
  p.seq_lens.resize(static_cast<size_t>(g.batch));
  int32_t next = p.num_pages - 1;  // pages handed out from the top down
  for (int32_t b = 0; b < g.batch; ++b) {
    const int64_t len = local[static_cast<size_t>(b)];
    const int32_t need = gputest::pages_needed(len, page);
    int32_t* row = &p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq];
    for (int32_t j = 0; j < p.max_pages_per_seq; ++j)
      row[j] = j < need ? next - j : gputest::poison_page_id(p.num_pages, static_cast<int64_t>(b) * 3 + j);
    next -= need;
    const int32_t* grow = &g.block_table[static_cast<size_t>(b) * g.max_pages_per_seq];
    for (int64_t j = 0; j < len; ++j) {
      const int64_t gp = splitmla::shard_global_position(s, j);
      const size_t src = (static_cast<size_t>(grow[gp / page]) * page + static_cast<size_t>(gp % page)) *
                         splitmla::kHeadDimQK;
      const size_t dst = (static_cast<size_t>(row[j / page]) * page + static_cast<size_t>(j % page)) *
                         splitmla::kHeadDimQK;
      std::copy(g.kv_cache.begin() + static_cast<std::ptrdiff_t>(src),
                g.kv_cache.begin() + static_cast<std::ptrdiff_t>(src + splitmla::kHeadDimQK),
                p.kv_cache.begin() + static_cast<std::ptrdiff_t>(dst));
    }
    // A bad global length stays bad locally (the shard's reference NaNs it as the GPU does).
    p.seq_lens[static_cast<size_t>(b)] =
        g.seq_lens[static_cast<size_t>(b)] < 0 ? g.seq_lens[static_cast<size_t>(b)] : static_cast<int32_t>(len);
  }
  return p;
}

// Positions below `n` that live on the rank of `s`, counted one by one (independent of the
// closed form shard_local_length).
inline int64_t count_local(const ShardSpec& s, int64_t n) {
  int64_t c = 0;
  for (int64_t pos = 0; pos < n; ++pos) c += splitmla::shard_owner(s, pos) == s.rank ? 1 : 0;
  return c;
}

// The float64 partial of rank s.rank for every query row of `g` ([batch, q_len, heads]): token
// t of request b attends to the rank's positions below the token's GLOBAL limit (counted
// directly), one single-token reference per token on the rank's local cache. A bad global
// length stays bad (NaN rows).
inline splitmla::HostOutputs shard_reference(const HostProblem& g, const ShardSpec& s) {
  const HostProblem local = make_shard(g, s);
  const size_t H = static_cast<size_t>(g.num_heads), T = static_cast<size_t>(g.q_len);
  splitmla::HostOutputs res;
  res.out.assign(static_cast<size_t>(g.batch) * T * H * splitmla::kHeadDimV, 0.f);
  res.lse.assign(static_cast<size_t>(g.batch) * T * H, 0.f);
  for (size_t t = 0; t < T; ++t) {
    HostProblem one = local;
    one.q_len = 1;
    one.causal = true;
    one.q.assign(static_cast<size_t>(g.batch) * H * splitmla::kHeadDimQK, 0);
    for (int32_t b = 0; b < g.batch; ++b) {
      const size_t bi = static_cast<size_t>(b);
      std::copy(g.q.begin() + static_cast<std::ptrdiff_t>(((bi * T + t) * H) * splitmla::kHeadDimQK),
                g.q.begin() + static_cast<std::ptrdiff_t>(((bi * T + t) * H + H) * splitmla::kHeadDimQK),
                one.q.begin() + static_cast<std::ptrdiff_t>(bi * H * splitmla::kHeadDimQK));
      const int64_t n = g.seq_lens[bi] < 0 ? -1 : splitmla::visible_length(g, b, static_cast<int32_t>(t));
      one.seq_lens[bi] = n < 0 ? -1 : static_cast<int32_t>(count_local(s, n));
    }
    splitmla::HostOutputs o;
    const splitmla::Status st = splitmla::reference_decode(one, &o);
    BOOST_REQUIRE_MESSAGE(st == splitmla::Status::kSuccess, splitmla::status_message(st));
    for (size_t b = 0; b < static_cast<size_t>(g.batch); ++b)
      for (size_t h = 0; h < H; ++h) {
        const size_t from = b * H + h, to = (b * T + t) * H + h;
        res.lse[to] = o.lse[from];
        std::copy(o.out.begin() + static_cast<std::ptrdiff_t>(from * splitmla::kHeadDimV),
                  o.out.begin() + static_cast<std::ptrdiff_t>((from + 1) * splitmla::kHeadDimV),
                  res.out.begin() + static_cast<std::ptrdiff_t>(to * splitmla::kHeadDimV));
      }
  }
  return res;
}

// Local table width that holds every global length up to `capacity` on the rank of `s`.
inline int32_t local_width_for(const ShardSpec& s, int64_t capacity, int32_t page_size) {
  return gputest::pages_needed(splitmla::shard_local_length(s, capacity), page_size) + 1;
}

inline splitmla::CpConfig cp_config(const HostProblem& shard, const ShardSpec& s,
                                    splitmla::PartialType pt, splitmla::CpExchange ex,
                                    splitmla::SplitPolicy policy = splitmla::SplitPolicy::automatic()) {
  splitmla::CpConfig c;
  c.decode.dtype = shard.dtype;
  c.decode.num_heads = shard.num_heads;
  c.decode.q_len = shard.q_len;
  c.decode.causal = shard.causal;
  c.decode.page_size = shard.page_size;
  c.decode.max_batch = shard.batch;
  c.decode.max_pages_per_seq = shard.max_pages_per_seq;
  c.decode.policy = policy;
  c.shard = s;
  c.partial_type = pt;
  c.exchange = ex;
  return c;
}

inline const char* type_text(splitmla::PartialType t) { return splitmla::partial_type_name(t); }

// The four (partial type, exchange) modes every multi-rank test runs, and their label.
struct Mode {
  splitmla::PartialType type;
  splitmla::CpExchange exchange;
};
inline constexpr Mode kModes[] = {{splitmla::PartialType::kFloat32, splitmla::CpExchange::kAllGather},
                                  {splitmla::PartialType::kBFloat16, splitmla::CpExchange::kAllGather},
                                  {splitmla::PartialType::kFloat32, splitmla::CpExchange::kAllToAll},
                                  {splitmla::PartialType::kBFloat16, splitmla::CpExchange::kAllToAll}};

inline std::string label(const ShardSpec& s, const Mode& m) {
  return describe(s) + " " + splitmla::partial_type_name(m.type) + " " +
         splitmla::cp_exchange_name(m.exchange);
}

// A generated problem (the GPU suites' adversarial generator) of `heads` heads and `page`-row
// pages with the given lengths.
inline HostProblem problem(int32_t heads, int32_t page, std::vector<int32_t> lens, uint64_t seed,
                           int32_t q_len = 1, bool causal = true) {
  gputest::GenSpec g;
  g.num_heads = heads;
  g.page_size = page;
  g.lens = std::move(lens);
  g.seed = seed;
  g.q_len = q_len;
  g.causal = causal;
  return gputest::make_problem(g);
}

}  // namespace cptest
