// Which KV positions each query token of a request sees (docs/semantics.md section 1), defined
// once for the device planner (lib/kernels/planner.cu writes it into the workspace's
// token-limit array, which part1, part2 and the split rule then read) and the CPU reference.
//
// Token t (0-based) of a request with seq_len n and q_len tokens sees positions [0, limit):
//   causal:     limit = max(0, n - q_len + t + 1)   (each new token sees itself and before)
//   not causal: limit = n                           (a block of draft tokens that see each other)
// A bad seq_len (negative, or beyond the block table's capacity) has no limit: -1.
//
// On a context-parallel shard (docs/context-parallel.md) seq_len is the request's GLOBAL length,
// the rank holds a subset of the positions in global order, and token t sees this rank's
// positions below its global limit: a prefix of the local sequence, shard_local_length(shard,
// global limit) long (shard_token_limit). That is not the local length minus an offset.
#pragma once

#include <cstdint>

#include "splitmla/shard.hpp"

#if defined(__CUDACC__)
#define SPLITMLA_VIS_HD __host__ __device__ __forceinline__
#else
#define SPLITMLA_VIS_HD inline
#endif

namespace splitmla::visibility {

SPLITMLA_VIS_HD int64_t token_limit(int64_t seq_len, int64_t capacity, int32_t q_len, int32_t t,
                                    bool causal) {
  if (seq_len < 0 || seq_len > capacity) return -1;
  if (!causal) return seq_len;
  const int64_t n = seq_len - q_len + t + 1;
  return n > 0 ? n : 0;
}

// Token t's limit on the rank of `shard`: the count of this rank's positions below the token's
// global limit. `local_capacity` is the rank's block-table capacity (local positions); a
// negative seq_len, or a local limit past the capacity, has no limit: -1.
SPLITMLA_VIS_HD int64_t shard_token_limit(const ShardSpec& shard, int64_t seq_len,
                                          int64_t local_capacity, int32_t q_len, int32_t t,
                                          bool causal) {
  const int64_t n = token_limit(seq_len, seq_len, q_len, t, causal);  // global; -1 if seq_len < 0
  if (n < 0) return -1;
  const int64_t local = shard_local_length(shard, n);
  return local > local_capacity ? -1 : local;
}

}  // namespace splitmla::visibility
