// The run step: validation, then launches on the caller's stream. No allocation, no sync, no
// host reads of device memory (capturable). Host-side readers of errors/schedule live here too.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/plan_detail.hpp"
#include "kernels/params.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
namespace {

using detail::fail;

template <class T>
T* at(const Workspace& ws, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(ws.data) + offset);
}

Status check_workspace(const Plan& plan, const Workspace& ws) {
  if (ws.data == nullptr) return fail(Status::kWorkspaceTooSmall, "workspace.data = nullptr");
  if (ws.bytes < plan.workspace_bytes)
    return fail(Status::kWorkspaceTooSmall, "workspace.bytes = %zu, plan needs %zu", ws.bytes,
                plan.workspace_bytes);
  if (reinterpret_cast<uintptr_t>(ws.data) % 256 != 0)
    return fail(Status::kMisaligned, "workspace.data = %p, must be 256-byte aligned", ws.data);
  if (ws.device != plan.device)
    return fail(Status::kDeviceMismatch, "workspace.device = %d, plan.device = %d", ws.device,
                plan.device);
  return Status::kSuccess;
}

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

Status launched(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::kSuccess;
  cudaGetLastError();
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
    return fail(Status::kNotBuilt, "%s: %s", what, cudaGetErrorString(e));
  return fail(Status::kCudaError, "%s: %s", what, cudaGetErrorString(e));
}

// `shard`: a context-parallel shard (lib/cp) whose seq_lens are global; nullptr for one GPU.
Status launch_plan(const Plan& plan, const DecodeArgs& a, const Workspace& ws, cudaStream_t s,
                   const ShardSpec* shard = nullptr) {
  kernels::PlannerParams p{};
  p.seq_lens = a.seq_lens;
  p.token_limits = at<int32_t>(ws, plan.off_token_limits);
  p.pieces = at<kernels::Piece>(ws, plan.off_pieces);
  p.cta_begin = at<int32_t>(ws, plan.off_cta_begin);
  p.multi = at<kernels::MultiEntry>(ws, plan.off_multi);
  p.req_error = at<uint32_t>(ws, plan.off_req_error);
  p.header = at<kernels::WsHeader>(ws, plan.off_header);
  p.batch = a.batch;
  p.q_len = plan.config.q_len;
  p.causal = plan.config.causal ? 1 : 0;
  p.policy_kind = static_cast<int32_t>(plan.config.policy.kind);
  p.policy_value = plan.config.policy.value;
  p.work_ctas = plan.work_ctas;
  p.capacity = static_cast<int64_t>(a.max_pages_per_seq) * plan.config.page_size;
  p.all_slots = plan.out_f32 ? 1 : 0;
  p.sharded = shard != nullptr ? 1 : 0;
  if (shard != nullptr) p.shard = *shard;
  return launched(kernels::launch_planner(p, s), "planner launch");
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
  p.pieces = at<kernels::Piece>(ws, plan.off_pieces);
  p.cta_begin = at<int32_t>(ws, plan.off_cta_begin);
  p.header = at<kernels::WsHeader>(ws, plan.off_header);
  p.part_out = at<float>(ws, plan.off_part_out);
  p.part_lse = at<float>(ws, plan.off_part_lse);
  p.req_error = at<uint32_t>(ws, plan.off_req_error);
  p.token_limits = at<int32_t>(ws, plan.off_token_limits);
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
  return launched(kernels::launch_part1(plan.part1, plan.config.dtype, plan.config.kv_format,
                                        plan.rows_per_cta, p, plan.work_ctas * plan.row_blocks, s),
                  "part1 launch");
}

Status launch_part2(const Plan& plan, const DecodeArgs& a, const Workspace& ws, cudaStream_t s) {
  if (plan.multi_bound == 0) return Status::kSuccess;  // no request can have two splits
  kernels::Part2Params p{};
  p.multi = at<kernels::MultiEntry>(ws, plan.off_multi);
  p.header = at<kernels::WsHeader>(ws, plan.off_header);
  p.part_out = at<float>(ws, plan.off_part_out);
  p.part_lse = at<float>(ws, plan.off_part_lse);
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
  // groups; otherwise the pairs alone fill the GPU. Static bounds only: capturable. The chunk
  // policy promises batch invariance, and the two layouts add in different orders, so it always
  // takes the narrow one.
  const bool wide = pairs < 2LL * plan.num_sms &&
                    plan.config.policy.kind != SplitPolicyKind::kChunk;
  return launched(kernels::launch_part2(plan.config.dtype, p, static_cast<int>(pairs), wide, s),
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
  SPLITMLA_TRY(launched(kernels::part1_occupancy(plan.part1, plan.config.dtype,
                                                 plan.config.kv_format, plan.rows_per_cta,
                                                 blocks_per_sm),
                        "occupancy query"));
  *grid_ctas = plan.work_ctas * plan.row_blocks;
  return Status::kSuccess;
}

std::vector<int32_t> ErrorReport::bad_requests() const {
  std::vector<int32_t> bad;
  for (size_t b = 0; b < request_flags.size(); ++b)
    if (request_flags[b] != 0) bad.push_back(static_cast<int32_t>(b));
  return bad;
}

Status read_errors(const Plan& plan, const Workspace& ws, int32_t batch, cudaStream_t stream,
                   ErrorReport* report) {
  if (report == nullptr) return fail(Status::kNullPointer, "report = nullptr");
  SPLITMLA_TRY(check_workspace(plan, ws));
  if (batch < 1 || batch > plan.config.max_batch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..%d", batch, plan.config.max_batch);
  report->request_flags.assign(static_cast<size_t>(batch), 0u);
  cudaError_t e = cudaMemcpyAsync(report->request_flags.data(), at<uint32_t>(ws, plan.off_req_error),
                                  sizeof(uint32_t) * batch, cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  SPLITMLA_TRY(launched(e, "reading the error flags"));
  report->any = 0;
  for (uint32_t f : report->request_flags) report->any |= f;
  return Status::kSuccess;
}

Status read_schedule(const Plan& plan, const Workspace& ws, int32_t batch, cudaStream_t stream,
                     ScheduleInfo* info) {
  if (info == nullptr) return fail(Status::kNullPointer, "info = nullptr");
  SPLITMLA_TRY(check_workspace(plan, ws));
  if (batch < 1 || batch > plan.config.max_batch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..%d", batch, plan.config.max_batch);
  kernels::WsHeader h{};
  cudaError_t e = cudaMemcpyAsync(&h, at<kernels::WsHeader>(ws, plan.off_header), sizeof(h),
                                  cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  SPLITMLA_TRY(launched(e, "reading the schedule header"));
  // A device word sizes nothing until it is checked against the plan's bounds (a stale or
  // overwritten workspace must not make the host allocate gigabytes).
  if (h.num_pieces < 0 || h.num_pieces > plan.pieces_bound)
    return fail(Status::kBadShape,
                "schedule header num_pieces = %d, must be in 0..%d (workspace not written by "
                "a planner run of this plan?)", h.num_pieces, plan.pieces_bound);
  if (h.num_multi < 0 || h.num_multi > std::max(plan.multi_bound, 0))
    return fail(Status::kBadShape, "schedule header num_multi = %d, must be in 0..%d",
                h.num_multi, plan.multi_bound);
  std::vector<kernels::Piece> pieces(static_cast<size_t>(h.num_pieces));
  if (h.num_pieces > 0) {
    e = cudaMemcpyAsync(pieces.data(), at<kernels::Piece>(ws, plan.off_pieces),
                        sizeof(kernels::Piece) * pieces.size(), cudaMemcpyDeviceToHost, stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
    SPLITMLA_TRY(launched(e, "reading the schedule"));
  }
  info->num_pieces = h.num_pieces;
  info->num_multi = h.num_multi;
  info->splits_per_request.assign(static_cast<size_t>(batch), 0);
  for (const auto& p : pieces)
    if (p.b >= 0 && p.b < batch) info->splits_per_request[p.b]++;
  return Status::kSuccess;
}

}  // namespace splitmla
