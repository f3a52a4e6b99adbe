// Internal: the workspace's named sub-buffers. The public Plan holds only the total
// (workspace_bytes); where each buffer starts is a pure function of the plan's bounds, computed
// by the same code that sizes the workspace, so sizing and carving cannot disagree.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/common/params.hpp"
#include "splitmla/decode.hpp"
#include "splitmla/export.hpp"

namespace splitmla::detail {

// Byte offsets of the sub-buffers, each 256-byte aligned, in this order.
struct WorkspaceLayout {
  size_t header = 0;        // kernels::WsHeader: piece and part2 counts of the last plan
  size_t pieces = 0;        // kernels::Piece[pieces_bound]
  size_t cta_begin = 0;     // int32[work_ctas + 1]: first piece of each work CTA (auto)
  size_t multi = 0;         // kernels::MultiEntry[multi_bound]: the requests part2 merges
  size_t req_error = 0;     // uint32[max_batch]: ErrorBits per request
  size_t token_limits = 0;  // int32[max_batch, q_len]: visible positions per query token
  size_t part_lse = 0;      // float[slots_bound, rows]: partial lse (natural log)
  size_t part_out = 0;      // float[slots_bound, rows, 512]: partial outputs
  size_t total = 0;         // bytes of the whole workspace
};

// The layout for a plan's bounds (rows, slots_bound, pieces_bound, work_ctas, multi_bound,
// config.max_batch, config.q_len); kBadPolicy when the partial slots cannot be addressed.
SPLITMLA_INTERNAL_API Status workspace_layout(const Plan& plan, WorkspaceLayout* layout);

// Typed views of the sub-buffers inside a workspace laid out for `plan`.
struct WorkspaceViews {
  kernels::WsHeader* header = nullptr;
  kernels::Piece* pieces = nullptr;
  int32_t* cta_begin = nullptr;
  kernels::MultiEntry* multi = nullptr;
  uint32_t* req_error = nullptr;
  int32_t* token_limits = nullptr;
  float* part_lse = nullptr;
  float* part_out = nullptr;
};
WorkspaceViews workspace_views(const Plan& plan, const Workspace& ws);

// The workspace fits the plan: present, large enough, 256-byte aligned, on the plan's device.
Status check_workspace(const Plan& plan, const Workspace& ws);

}  // namespace splitmla::detail
