// The workspace's named sub-buffers: one function sizes and places them (workspace_layout), so
// make_plan's size and the run's views cannot disagree.
#include "api/workspace.hpp"

#include <cstdint>
#include <limits>

#include "core/error.hpp"

namespace splitmla::detail {
namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Places buffers one after another, each 256-byte aligned.
struct Carver {
  size_t offset = 0;
  size_t take(size_t bytes) {
    size_t at = offset;
    offset = align_up(offset + bytes);
    return at;
  }
};

template <class T>
T* at(const Workspace& ws, size_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(ws.data) + offset);
}

}  // namespace

Status workspace_layout(const Plan& p, WorkspaceLayout* layout) {
  const size_t rows = static_cast<size_t>(p.rows);  // q_len * num_heads
  const size_t slots = static_cast<size_t>(p.slots_bound);
  // Overflow guard: slots * rows * 512 * 4 must fit comfortably in size_t.
  if (slots > (std::numeric_limits<size_t>::max() / 8) / (rows * kHeadDimV * sizeof(float))) {
    return fail(Status::kBadPolicy, "policy needs %zu partial slots, too many to address", slots);
  }
  WorkspaceLayout l;
  Carver c;
  l.header = c.take(sizeof(kernels::WsHeader));
  l.pieces = c.take(sizeof(kernels::Piece) * static_cast<size_t>(p.pieces_bound));
  l.cta_begin = c.take(sizeof(int32_t) * (static_cast<size_t>(p.work_ctas) + 1));
  l.multi = c.take(sizeof(kernels::MultiEntry) * static_cast<size_t>(p.multi_bound));
  l.req_error = c.take(sizeof(uint32_t) * static_cast<size_t>(p.config.max_batch));
  l.token_limits = c.take(sizeof(int32_t) * static_cast<size_t>(p.config.max_batch) *
                          static_cast<size_t>(p.config.q_len));
  l.part_lse = c.take(sizeof(float) * slots * rows);
  l.part_out = c.take(sizeof(float) * slots * rows * kHeadDimV);
  l.total = c.offset;
  *layout = l;
  return Status::kSuccess;
}

WorkspaceViews workspace_views(const Plan& plan, const Workspace& ws) {
  WorkspaceLayout l;
  // The plan came from make_plan, which computed this same layout successfully.
  if (workspace_layout(plan, &l) != Status::kSuccess) return WorkspaceViews{};
  WorkspaceViews v;
  v.header = at<kernels::WsHeader>(ws, l.header);
  v.pieces = at<kernels::Piece>(ws, l.pieces);
  v.cta_begin = at<int32_t>(ws, l.cta_begin);
  v.multi = at<kernels::MultiEntry>(ws, l.multi);
  v.req_error = at<uint32_t>(ws, l.req_error);
  v.token_limits = at<int32_t>(ws, l.token_limits);
  v.part_lse = at<float>(ws, l.part_lse);
  v.part_out = at<float>(ws, l.part_out);
  return v;
}

Status check_workspace(const Plan& plan, const Workspace& ws) {
  if (ws.data == nullptr) return fail(Status::kWorkspaceTooSmall, "workspace.data = nullptr");
  if (ws.bytes < plan.workspace_bytes)
    return fail(Status::kWorkspaceTooSmall, "workspace.bytes = %zu, plan needs %zu", ws.bytes,
                plan.workspace_bytes);
  if (reinterpret_cast<uintptr_t>(ws.data) % kAlign != 0)
    return fail(Status::kMisaligned, "workspace.data = %p, must be 256-byte aligned", ws.data);
  if (ws.device != plan.device)
    return fail(Status::kDeviceMismatch, "workspace.device = %d, plan.device = %d", ws.device,
                plan.device);
  return Status::kSuccess;
}

}  // namespace splitmla::detail
