// The run step: validation, then launches on the caller's stream. No allocation, no sync, no
// host reads of device memory (capturable). The host-side readers are in readback.cpp.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#include "api/plan_detail.hpp"
#include "api/workspace.hpp"
#include "core/error.hpp"
#include "kernels/common/params.hpp"
#include "kernels/part1/variants.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
namespace {

using detail::fail;

using detail::check_workspace;

Status check_current_device(const Plan& plan) {
  int current = -1;
  cudaError_t e = cudaGetDevice(&current);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(Status::kNoCudaDevice, "cudaGetDevice: %s", cudaGetErrorString(e));
  }
  if (current != plan.device)
    return fail(Status::kDeviceMismatch, "current device = %d, plan.device = %d", current,
                plan.device);
  return Status::kSuccess;
}

Status check_all(const Plan& plan, const DecodeArgs& args, const Workspace& ws) {
  SPLITMLA_TRY(can_implement(plan, args));
  SPLITMLA_TRY(check_workspace(plan, ws));
  return check_current_device(plan);
}


// `shard`: a context-parallel shard (lib/cp) whose seq_lens are global; nullptr for one GPU.
Status launch_plan(const Plan& plan, const DecodeArgs& a, const Workspace& ws, cudaStream_t s,
                   const ShardSpec* shard = nullptr) {
  kernels::PlannerParams p{};
  p.seq_lens = a.seq_lens;
  const detail::WorkspaceViews w = detail::workspace_views(plan, ws);
  p.token_limits = w.token_limits;
  p.pieces = w.pieces;
  p.cta_begin = w.cta_begin;
  p.multi = w.multi;
  p.req_error = w.req_error;
  p.header = w.header;
  p.batch = a.batch;
  p.q_len = plan.config.q_len;
  p.causal = plan.config.causal ? 1 : 0;
  p.policy_kind = static_cast<int32_t>(plan.config.policy.kind);
  p.policy_value = plan.config.policy.value;
  p.work_ctas = plan.work_ctas;
  p.key_tile = plan.key_tile;
  p.capacity = static_cast<int64_t>(a.max_pages_per_seq) * plan.config.page_size;
  p.all_slots = plan.out_f32 ? 1 : 0;
  p.sharded = shard != nullptr ? 1 : 0;
  if (shard != nullptr) p.shard = *shard;
  return detail::cuda_status(kernels::launch_planner(p, s), "planner launch");
}

Status launch_part1(const Plan& plan, const DecodeArgs& a, const Workspace& ws, cudaStream_t s) {
  kernels::Part1Params p{};
  p.q = a.q;
  p.q_stride_batch = a.q_stride_batch;
  p.q_stride_token = a.q_stride_token;
  p.q_stride_head = a.q_stride_head;
  p.kv = a.kv_cache;
  p.kv_stride_page = a.kv_stride_page;
  p.kv_scale = a.kv_scale;
  p.kv_format = static_cast<int32_t>(plan.config.kv_format);
  p.block_table = a.block_table;
  p.bt_stride = a.block_table_stride;
  p.out = a.out;
  p.out_stride_batch = a.out_stride_batch;
  p.out_stride_token = a.out_stride_token;
  p.out_stride_head = a.out_stride_head;
  p.lse = a.lse;
  p.lse_stride_batch = a.lse_stride_batch;
  p.lse_stride_token = a.lse_stride_token;
  p.lse_stride_head = a.lse_stride_head;
  const detail::WorkspaceViews w = detail::workspace_views(plan, ws);
  p.pieces = w.pieces;
  p.cta_begin = w.cta_begin;
  p.header = w.header;
  p.part_out = w.part_out;
  p.part_lse = w.part_lse;
  p.req_error = w.req_error;
  p.token_limits = w.token_limits;
  p.num_heads = plan.config.num_heads;
  p.q_len = plan.config.q_len;
  p.rows = plan.rows;
  p.num_pages = a.num_pages;
  int shift = 0;
  while ((1 << shift) < plan.config.page_size) ++shift;
  p.page_shift = shift;
  p.head_blocks = plan.row_blocks;
  p.one_piece_per_cta = plan.config.policy.kind != SplitPolicyKind::kAuto;
  p.scale_log2 = a.softmax_scale * 1.4426950408889634f;
  return detail::cuda_status(kernels::launch_part1(plan.part1, plan.config.dtype, plan.config.kv_format,
                                        plan.rows_per_cta, p, plan.work_ctas * plan.row_blocks, s),
                  "part1 launch");
}

Status launch_part2(const Plan& plan, const DecodeArgs& a, const Workspace& ws, cudaStream_t s) {
  if (plan.multi_bound == 0) return Status::kSuccess;  // no request can have two splits
  kernels::Part2Params p{};
  const detail::WorkspaceViews w = detail::workspace_views(plan, ws);
  p.multi = w.multi;
  p.header = w.header;
  p.part_out = w.part_out;
  p.part_lse = w.part_lse;
  p.out = a.out;
  p.out_stride_batch = a.out_stride_batch;
  p.out_stride_token = a.out_stride_token;
  p.out_stride_head = a.out_stride_head;
  p.lse = a.lse;
  p.lse_stride_batch = a.lse_stride_batch;
  p.lse_stride_token = a.lse_stride_token;
  p.lse_stride_head = a.lse_stride_head;
  p.num_heads = plan.config.num_heads;
  p.rows = plan.rows;
  p.out_f32 = plan.out_f32 ? 1 : 0;
  const int64_t multi = std::min<int64_t>(plan.multi_bound, a.batch);
  const int64_t pairs = multi * plan.rows;
  // Few (request, row) pairs (small batch): spread each pair's merge over 4 blocks of 8 split
  // groups; otherwise a warp a pair (part2.cu). Static bounds only: capturable. The chunk policy
  // promises batch invariance, and the two layouts add in different orders, so it always takes
  // the narrow one.
  const bool wide = pairs < 2LL * plan.num_sms &&
                    plan.config.policy.kind != SplitPolicyKind::kChunk;
  // The kernel walks the pairs that exist with a grid stride, its grid capped at one wave of
  // resident blocks (part2.cu): a call with few split requests does not launch a block per bound
  // pair (16,384 for 128 requests x 128 heads: part2 with nothing to merge took 8.4 us that way on
  // an H200, 4.5 us with the stride).
  const int64_t bound_pairs = std::min<int64_t>(pairs, INT32_MAX);
  return detail::cuda_status(
      kernels::launch_part2(plan.config.dtype, p, static_cast<int>(bound_pairs), plan.num_sms, wide,
                            plan.pdl, s),
      "part2 launch");
}

}  // namespace

Status enqueue_plan(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                    cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  return launch_plan(plan, args, ws, stream);
}

Status enqueue_part1(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                     cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  return launch_part1(plan, args, ws, stream);
}

Status enqueue_part2(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                     cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  return launch_part2(plan, args, ws, stream);
}

Status enqueue_run(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                   cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  SPLITMLA_TRY(launch_part1(plan, args, ws, stream));
  return launch_part2(plan, args, ws, stream);
}

Status decode(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
              cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  SPLITMLA_TRY(launch_plan(plan, args, ws, stream));
  SPLITMLA_TRY(launch_part1(plan, args, ws, stream));
  return launch_part2(plan, args, ws, stream);
}

namespace detail {

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::kSuccess;
  cudaGetLastError();
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
    return fail(Status::kNotBuilt, "%s: %s", what, cudaGetErrorString(e));
  return fail(Status::kCudaError, "%s: %s", what, cudaGetErrorString(e));
}

Status decode_shard(const Plan& plan, const ShardSpec& shard, const DecodeArgs& args,
                    const Workspace& ws, cudaStream_t stream) {
  SPLITMLA_TRY(check_all(plan, args, ws));
  SPLITMLA_TRY(launch_plan(plan, args, ws, stream, &shard));
  SPLITMLA_TRY(launch_part1(plan, args, ws, stream));
  return launch_part2(plan, args, ws, stream);
}

}  // namespace detail

Status decode(const Plan& plan, const DecodeArgs& args, const ScratchPool& pool,
              cudaStream_t stream) {
  Workspace ws;
  SPLITMLA_TRY(pool.workspace_for(plan, &ws));
  return decode(plan, args, ws, stream);
}

Status part1_occupancy(const Plan& plan, int* blocks_per_sm, int* grid_ctas) {
  if (blocks_per_sm == nullptr || grid_ctas == nullptr)
    return fail(Status::kNullPointer, "blocks_per_sm or grid_ctas = nullptr");
  SPLITMLA_TRY(check_current_device(plan));
  SPLITMLA_TRY(detail::cuda_status(kernels::part1_occupancy(plan.part1, plan.config.dtype,
                                                 plan.config.kv_format, plan.rows_per_cta,
                                                 blocks_per_sm),
                        "occupancy query"));
  *grid_ctas = plan.work_ctas * plan.row_blocks;
  return Status::kSuccess;
}

}  // namespace splitmla
