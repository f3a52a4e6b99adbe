// SplitMLA context-parallel (CP) decode: a request's KV cache is sharded over `world` GPUs, each
// rank computes the attention partial of its shard (a normal split-KV decode on its local block
// table), and the partials of all ranks merge exactly as part2 merges splits (docs/context-parallel.md).
//
// Communication-free entry points (engines own their communicators):
//   cp_shard_partials     this rank's shard -> packed partials, ready for an all-gather/all-to-all
//   cp_merge_packed       the packed partials of every rank -> out / lse
//   enqueue_merge_partials  a strided merge of any partials (other libraries' too: +-inf = empty,
//                           base-2 LSE when told)
// The NCCL entry point (include/splitmla/cp_nccl.hpp, library splitmla_nccl) chains them around
// an all-gather or an all-to-all on the caller's communicator.
//
// Like decode: no allocation, no synchronization, no host reads of device memory; every call is
// capturable in a CUDA graph that stays valid when seq_lens and block tables change.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "splitmla/decode.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

#if defined(__CUDACC__)
#define SPLITMLA_CP_HD __host__ __device__ inline
#else
#define SPLITMLA_CP_HD inline
#endif

namespace splitmla {

inline constexpr int kMaxCpWorld = 64;          // ranks of one context-parallel group
inline constexpr int kMaxMergeSources = 1024;   // partials one merge call accepts per row

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

// "interleaved" / "contiguous"; "unknown" otherwise.
const char* shard_layout_name(ShardLayout l) noexcept;

struct ShardSpec {
  ShardLayout layout = ShardLayout::kInterleaved;
  int32_t world = 1;        // 1..kMaxCpWorld
  int32_t rank = 0;         // 0..world-1
  int32_t granularity = 1;  // interleaved: tokens per block (>= 1, divides the page size)
  int32_t range = 0;        // contiguous: positions per rank (>= 1; the last rank is unbounded)
};

// Positions among the first `n` global positions that live on spec.rank. They are that rank's
// local positions 0 .. len-1 (a prefix of its local sequence), so a causal token that sees `n`
// global positions sees exactly these. n < 0 (a bad seq_len) gives -1 (still bad on the shard).
// A pure function, the same on the host and on the device.
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

// Element type of partial outputs (float32, or the 16-bit dtype of q).
enum class PartialType : int32_t { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };
const char* partial_type_name(PartialType t) noexcept;  // "float32" / "bfloat16" / "float16"
size_t partial_type_bytes(PartialType t) noexcept;      // 4 or 2 (0 for unknown values)

// How the ranks exchange partials: the packed layout cp_shard_partials writes follows it.
enum class CpExchange : int32_t {
  kAllGather = 0,  // every rank receives every partial and merges all heads (the default)
  kAllToAll = 1,   // rank d receives the heads of group d only and merges them
};
const char* cp_exchange_name(CpExchange e) noexcept;  // "all_gather" / "all_to_all"

// Static quantities of a context-parallel decode on one rank.
struct CpConfig {
  // The shard's decode: dtype, heads, q_len, page size, max_batch, policy, device, part1 as for a
  // single-GPU decode; max_pages_per_seq is the width of this rank's LOCAL block table.
  DecodeConfig decode{};
  ShardSpec shard{};
  PartialType partial_type = PartialType::kFloat32;  // kFloat32, or the type of decode.dtype
  CpExchange exchange = CpExchange::kAllGather;
};

// Byte layout of one call's packed partials (depends on the call's batch; cp_layout computes it).
//
// One rank's packed partials are `groups` chunks; chunk d holds the heads
// [d * heads_per_group, min(num_heads, (d + 1) * heads_per_group)) of every row:
//   out [rows][heads_per_group][512] partial_type   (rows = batch * q_len, row = b * q_len + t)
//   lse [rows][heads_per_group]      float32, natural log, -inf for an empty shard
// at byte offsets 0 and out_bytes of the chunk; chunks are chunk_bytes apart (256-byte aligned).
// groups = 1 (all heads) for kAllGather, world for kAllToAll (chunk d goes to rank d).
// The received buffer of a rank is `world` such units, one per source rank in rank order:
// all-gather receives whole packed partials (world * partials_bytes), all-to-all one chunk
// from each source (world * chunk_bytes).
struct CpLayout {
  int32_t groups = 0, heads_per_group = 0, rows = 0;
  size_t out_bytes = 0;       // out part of one chunk (256-aligned)
  size_t chunk_bytes = 0;     // out + lse of one chunk (256-aligned)
  size_t partials_bytes = 0;  // one rank's packed partials: groups * chunk_bytes
  size_t received_bytes = 0;  // what a rank receives: world * (partials or chunk) bytes
};

struct CpPlan {
  CpConfig config{};
  Plan shard{};               // the shard decode's plan (fp32 partial routing for kFloat32)
  CpLayout max_layout{};      // the layout at max_batch: sizes of the workspace buffers
  // Workspace carve-up (byte offsets, 256-aligned) and total size.
  size_t off_local_lens = 0;  // [max_batch * q_len] int32: this rank's visible lengths per token
  size_t off_shard = 0;       // the shard decode's workspace (shard.workspace_bytes)
  size_t off_staging = 0;     // kAllToAll: the shard's batch-major partials before packing
  size_t off_send = 0;        // NCCL kAllToAll: the packed partials sent
  size_t off_recv = 0;        // NCCL: the received partials (all-gather: this rank's slot in place)
  size_t workspace_bytes = 0;
};

// Host validation of a CP configuration: the decode config, then shard, partial type, exchange.
// q_len > 1 returns kNotSupported (the shard decode needs per-token local lengths: planned).
Status can_implement(const CpConfig& config);
// Plans the shard decode and the workspace (the same rules as make_plan about the device).
Status make_cp_plan(const CpConfig& config, CpPlan* plan);
// The packed layout of a call with `batch` requests (1..max_batch).
Status cp_layout(const CpPlan& plan, int32_t batch, CpLayout* layout);
// Heads merged by `rank` under the plan's exchange: all heads for kAllGather, group `rank` for
// kAllToAll (count may be 0 when num_heads < world).
void cp_rank_heads(const CpPlan& plan, int32_t rank, int32_t* first, int32_t* count);

// The shard decode's part of a CP workspace (for read_errors / read_schedule with plan.shard).
Workspace cp_shard_workspace(const CpPlan& plan, const Workspace& ws);

// (1) This rank's shard: computes the local visible lengths from the GLOBAL args.seq_lens on the
// device (into the workspace), runs the shard decode (part1 + the local merge) on the local
// args.kv_cache / args.block_table, and writes the packed partials (CpLayout) at `partials`
// (cp_layout(...).partials_bytes bytes, 256-byte aligned). args.out and args.lse are not used.
Status cp_shard_partials(const CpPlan& plan, const DecodeArgs& args, const Workspace& ws,
                         void* partials, cudaStream_t stream);

// (2) Merges the received partials of all ranks (CpLayout, source rank order) into args.out /
// args.lse (lse optional), in the dtype of q. kAllGather: every head, out is
// [batch, q_len, num_heads, 512]; kAllToAll: the heads of this rank (cp_rank_heads), out is
// [batch, q_len, count, 512] with args' strides. Only args.batch, out and lse (and strides) are read.
Status cp_merge_packed(const CpPlan& plan, const void* received, const DecodeArgs& args,
                       cudaStream_t stream);

// A merge of arbitrary strided partials: for every (row, head), the `num_sources` partials
// merge as part2 merges splits (docs/semantics.md). lse +inf or -inf: empty source; NaN: the row
// is NaN; all empty: out = 0, lse = -inf. Deterministic: sources in index order, no atomics.
// Strides are in elements; the last (512) dimension is contiguous.
struct MergeArgs {
  int32_t num_sources = 0;     // 1..kMaxMergeSources
  int32_t batch = 0;           // >= 1
  int32_t q_len = 1;           // 1..16
  int32_t num_heads = 0;       // 1..kMaxHeads (heads merged by this call)
  PartialType part_type = PartialType::kFloat32;
  const void* part_out = nullptr;  // [sources, batch, q_len, heads, 512]
  int64_t po_stride_source = 0, po_stride_batch = 0, po_stride_token = 0, po_stride_head = 0;
  const float* part_lse = nullptr; // [sources, batch, q_len, heads]
  int64_t pl_stride_source = 0, pl_stride_batch = 0, pl_stride_token = 0, pl_stride_head = 0;
  bool lse_base2 = false;      // part_lse holds log2 sums (FlashInfer-style) instead of natural log
  PartialType out_type = PartialType::kBFloat16;
  void* out = nullptr;         // [batch, q_len, heads, 512]
  int64_t out_stride_batch = 0, out_stride_token = 0, out_stride_head = 0;
  float* lse = nullptr;        // optional [batch, q_len, heads], natural log
  int64_t lse_stride_batch = 0, lse_stride_token = 0, lse_stride_head = 0;
};
Status can_implement(const MergeArgs& args);
Status enqueue_merge_partials(const MergeArgs& args, cudaStream_t stream);

// float64 reference of the merge on the host: parts[s] holds source s's partial (out
// [batch, q_len, heads, 512], lse natural log or base 2), merged by the same algebra.
Status reference_merge_partials(const std::vector<HostOutputs>& parts, int32_t rows,
                                int32_t num_heads, bool lse_base2, HostOutputs* merged);

}  // namespace splitmla
