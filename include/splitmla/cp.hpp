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

#include "splitmla/export.hpp"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "splitmla/decode.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/shard.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {

inline constexpr int kMaxMergeSources = 1024;   // partials one merge call accepts per row

// Shard layouts (ShardLayout, ShardSpec) and the position maps shard_local_length,
// shard_global_position, shard_owner: splitmla/shard.hpp.

// "interleaved" / "contiguous"; "unknown" otherwise.
SPLITMLA_API const char* shard_layout_name(ShardLayout l) noexcept;

// Element type of partial outputs (float32, or the 16-bit dtype of q). kSameAsQ, the CpConfig
// default, is resolved by make_cp_plan to the dtype of q (CpPlan::config holds the resolved type);
// merge arguments take the three concrete types only.
enum class PartialType : int32_t { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2, kSameAsQ = 3 };
SPLITMLA_API const char* partial_type_name(
    PartialType t) noexcept;  // "float32" / "bfloat16" / "float16" / "same_as_q"
// 4 or 2; 0 for kSameAsQ (not resolved yet) and unknown values.
SPLITMLA_API size_t partial_type_bytes(PartialType t) noexcept;

// How the ranks exchange partials: the packed layout cp_shard_partials writes follows it.
enum class CpExchange : int32_t {
  kAllGather = 0,  // every rank receives every partial and merges all heads (the default)
  kAllToAll = 1,   // rank d receives the heads of group d only and merges them
};
SPLITMLA_API const char* cp_exchange_name(CpExchange e) noexcept;  // "all_gather" / "all_to_all"

// Static quantities of a context-parallel decode on one rank.
struct CpConfig {
  // The shard's decode: dtype, heads, q_len (1..16), causal, page size, max_batch, policy, device,
  // part1 as for a single-GPU decode; max_pages_per_seq is the width of this rank's LOCAL block
  // table. Token t of a request sees this rank's positions below its global limit
  // (docs/semantics.md section 1): shard_local_length of that limit, computed per token by the
  // shard decode's planner from the global seq_lens.
  DecodeConfig decode{};
  ShardSpec shard{};
  // kSameAsQ (the default: the type of decode.dtype, half the bytes of float32 to exchange; on the
  // H200 pair it kept exchange + merge within 30 us at 128 heads x batch 8 where float32 took 33-36
  // us, with the same largest difference from the one-GPU output), the explicit 16-bit type, or
  // kFloat32 (nothing rounded before the merge).
  PartialType partial_type = PartialType::kSameAsQ;
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
  size_t off_shard = 0;       // the shard decode's workspace (shard.workspace_bytes)
  size_t off_staging = 0;     // kAllToAll: the shard's batch-major partials before packing
  size_t off_send = 0;        // NCCL kAllToAll: the packed partials sent
  size_t off_recv = 0;        // NCCL: the received partials (all-gather: this rank's slot in place)
  size_t workspace_bytes = 0;
};

// Host validation of a CP configuration: the decode config, then shard, partial type, exchange.
SPLITMLA_API Status can_implement(const CpConfig& config);
// Plans the shard decode and the workspace (the same rules as make_plan about the device).
SPLITMLA_API Status make_cp_plan(const CpConfig& config, CpPlan* plan);
// The packed layout of a call with `batch` requests (1..max_batch).
SPLITMLA_API Status cp_layout(const CpPlan& plan, int32_t batch, CpLayout* layout);
// Heads merged by `rank` under the plan's exchange: all heads for kAllGather, group `rank` for
// kAllToAll (count may be 0 when num_heads < world).
SPLITMLA_API void cp_rank_heads(const CpPlan& plan, int32_t rank, int32_t* first, int32_t* count);

// The shard decode's part of a CP workspace (for read_errors / read_schedule with plan.shard).
SPLITMLA_API Workspace cp_shard_workspace(const CpPlan& plan, const Workspace& ws);

// (1) This rank's shard: runs the shard decode (planner, part1, the local merge) on the GLOBAL
// args.seq_lens (the planner writes every token's local visible length into the workspace) and
// the local args.kv_cache / args.block_table, and writes the packed partials (CpLayout) at `partials`
// (cp_layout(...).partials_bytes bytes, 256-byte aligned). args.out and args.lse are not used.
SPLITMLA_API Status cp_shard_partials(const CpPlan& plan, const DecodeArgs& args,
                                      const Workspace& ws, void* partials, cudaStream_t stream);

// (2) Merges the received partials of all ranks (CpLayout, source rank order) into args.out /
// args.lse (lse optional), in the dtype of q. kAllGather: every head, out is
// [batch, q_len, num_heads, 512]; kAllToAll: the heads of this rank (cp_rank_heads), out is
// [batch, q_len, count, 512] with args' strides. Only args.batch, out and lse (and strides) are read.
SPLITMLA_API Status cp_merge_packed(const CpPlan& plan, const void* received,
                                    const DecodeArgs& args, cudaStream_t stream);

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
SPLITMLA_API Status can_implement(const MergeArgs& args);
SPLITMLA_API Status enqueue_merge_partials(const MergeArgs& args, cudaStream_t stream);

// float64 reference of the merge on the host: parts[s] holds source s's partial (out
// [batch, q_len, heads, 512], lse natural log or base 2), merged by the same algebra.
// Defined in the reference library (splitmla::reference), not in libsplitmla.
SPLITMLA_API Status reference_merge_partials(const std::vector<HostOutputs>& parts, int32_t rows,
                                             int32_t num_heads, bool lse_base2,
                                             HostOutputs* merged);

}  // namespace splitmla
