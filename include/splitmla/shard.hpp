// Shard layouts of a context-parallel decode (docs/context-parallel.md, section 1): how a request's
// global KV positions are spread over the `world` ranks, and the pure position maps the device
// planner and the host share. Included by splitmla/cp.hpp; small on purpose (the planner's
// kernels include it).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SPLITMLA_CP_HD __host__ __device__ inline
#else
#define SPLITMLA_CP_HD inline
#endif

namespace splitmla {

inline constexpr int kMaxCpWorld = 64;  // ranks of one context-parallel group

// How global positions are spread over the ranks.
enum class ShardLayout : int32_t {
  // Position p lives on rank (p / g) % world (g = granularity; 1: vLLM's and SGLang's default).
  // The rank's local positions keep the global order: local index (p / (g * world)) * g + p % g.
  kInterleaved = 0,
  // Rank r holds positions [r * range, (r + 1) * range); the last rank holds everything from
  // (world - 1) * range on (Helix-style ranges: a request fills rank 0, then rank 1, ...).
  // Local index p - r * range.
  kContiguous = 1,
};

struct ShardSpec {
  ShardLayout layout = ShardLayout::kInterleaved;
  int32_t world = 1;        // 1..kMaxCpWorld
  int32_t rank = 0;         // 0..world-1
  int32_t granularity = 1;  // interleaved: tokens per block (>= 1, divides the page size)
  int32_t range = 0;        // contiguous: positions per rank (>= 1; the last rank is unbounded)
};

// Positions among the first `n` global positions that live on spec.rank. They are that rank's
// local positions 0 .. len-1 (a prefix of its local sequence), so a query token that sees `n`
// global positions sees exactly these: with q_len > 1 every token's local limit is this function
// of its own global limit (lib/core/visibility.hpp, shard_token_limit). n < 0 (a bad seq_len)
// gives -1 (still bad on the shard). A pure function, the same on the host and on the device.
SPLITMLA_CP_HD int64_t shard_local_length(const ShardSpec& s, int64_t n) {
  if (n < 0) return -1;
  if (s.layout == ShardLayout::kContiguous) {
    const int64_t lo = static_cast<int64_t>(s.rank) * s.range;
    int64_t len = n - lo;
    if (len < 0) len = 0;
    if (s.rank < s.world - 1 && len > s.range) len = s.range;
    return len;
  }
  const int64_t g = s.granularity;
  const int64_t cycle = g * s.world;
  int64_t tail = n % cycle - static_cast<int64_t>(s.rank) * g;
  tail = tail < 0 ? 0 : (tail > g ? g : tail);
  return (n / cycle) * g + tail;
}

// Global position of spec.rank's local position `j` (engines and tests build local block
// tables with it).
SPLITMLA_CP_HD int64_t shard_global_position(const ShardSpec& s, int64_t j) {
  if (s.layout == ShardLayout::kContiguous) return static_cast<int64_t>(s.rank) * s.range + j;
  const int64_t g = s.granularity;
  return (j / g) * g * s.world + static_cast<int64_t>(s.rank) * g + j % g;
}

// Rank that holds global position p.
SPLITMLA_CP_HD int32_t shard_owner(const ShardSpec& s, int64_t p) {
  if (s.layout == ShardLayout::kContiguous) {
    const int64_t r = p / s.range;
    return static_cast<int32_t>(r < s.world - 1 ? r : s.world - 1);
  }
  return static_cast<int32_t>((p / s.granularity) % s.world);
}

}  // namespace splitmla
