// Host-side readers of what the last run left in the workspace: the error flags and the schedule.
// Host calls that synchronize the stream: never inside a captured region.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "api/plan_detail.hpp"
#include "api/workspace.hpp"
#include "core/error.hpp"
#include "kernels/common/params.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
namespace {

using detail::check_workspace;
using detail::fail;

// What every reader checks: the workspace against the plan, and batch within the plan's bound.
Status check_readback(const Plan& plan, const Workspace& ws, int32_t batch) {
  SPLITMLA_TRY(check_workspace(plan, ws));
  if (batch < 1 || batch > plan.config.max_batch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..%d", batch, plan.config.max_batch);
  return Status::kSuccess;
}

// `bytes` of device memory at `src` to the host, then the stream synchronized.
Status copy_back(void* dst, const void* src, size_t bytes, cudaStream_t stream, const char* what) {
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);
  return detail::cuda_status(e, what);
}


}  // namespace

std::vector<int32_t> ErrorReport::bad_requests() const {
  std::vector<int32_t> bad;
  for (size_t b = 0; b < request_flags.size(); ++b)
    if (request_flags[b] != 0) bad.push_back(static_cast<int32_t>(b));
  return bad;
}

Status read_errors(const Plan& plan, const Workspace& ws, int32_t batch, cudaStream_t stream,
                   ErrorReport* report) {
  if (report == nullptr) return fail(Status::kNullPointer, "report = nullptr");
  SPLITMLA_TRY(check_readback(plan, ws, batch));
  report->request_flags.assign(static_cast<size_t>(batch), 0u);
  const detail::WorkspaceViews w = detail::workspace_views(plan, ws);
  SPLITMLA_TRY(copy_back(report->request_flags.data(), w.req_error, sizeof(uint32_t) * batch,
                         stream, "reading the error flags"));
  report->any = 0;
  for (uint32_t f : report->request_flags) report->any |= f;
  return Status::kSuccess;
}

Status read_schedule(const Plan& plan, const Workspace& ws, int32_t batch, cudaStream_t stream,
                     ScheduleInfo* info) {
  if (info == nullptr) return fail(Status::kNullPointer, "info = nullptr");
  SPLITMLA_TRY(check_readback(plan, ws, batch));
  const detail::WorkspaceViews w = detail::workspace_views(plan, ws);
  // The fields the planner writes, not the header's padding (never written: copying it would
  // read uninitialized device memory, which compute-sanitizer's initcheck reports).
  kernels::WsHeader h{};
  SPLITMLA_TRY(copy_back(&h, w.header, offsetof(kernels::WsHeader, pad), stream,
                         "reading the schedule header"));
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
  if (h.num_pieces > 0)
    SPLITMLA_TRY(copy_back(pieces.data(), w.pieces, sizeof(kernels::Piece) * pieces.size(), stream,
                           "reading the schedule"));
  info->num_pieces = h.num_pieces;
  info->num_multi = h.num_multi;
  info->splits_per_request.assign(static_cast<size_t>(batch), 0);
  for (const auto& p : pieces)
    if (p.b >= 0 && p.b < batch) info->splits_per_request[p.b]++;
  return Status::kSuccess;
}

}  // namespace splitmla
