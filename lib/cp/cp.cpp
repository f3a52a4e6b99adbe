// Context-parallel decode, host side: validation, the plan and its workspace, the shard partials
// (shard decode on global lengths -> packed partials) and the merges. The float64 merge reference
// is in the reference library (lib/reference/merge_partials.cpp).
// Launches only: no allocation, no sync, no host reads of device memory in the run calls.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/guard.hpp"
#include "core/merge.hpp"
#include "api/plan_detail.hpp"
#include "cp/cp_params.hpp"
#include "splitmla/cp.hpp"

namespace splitmla {
namespace {

using detail::fail;

constexpr size_t kAlign = 256;
size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }
bool is_aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

bool valid_type(PartialType t) {
  return t == PartialType::kFloat32 || t == PartialType::kBFloat16 || t == PartialType::kFloat16;
}
PartialType type_of(DType d) {
  return d == DType::kFloat16 ? PartialType::kFloat16 : PartialType::kBFloat16;
}

CpLayout layout_of(const CpConfig& c, int32_t batch) {
  CpLayout l;
  const int32_t h = c.decode.num_heads;
  l.groups = c.exchange == CpExchange::kAllToAll ? c.shard.world : 1;
  l.heads_per_group = (h + l.groups - 1) / l.groups;
  l.rows = batch * c.decode.q_len;
  const size_t rh = static_cast<size_t>(l.rows) * static_cast<size_t>(l.heads_per_group);
  l.out_bytes = align_up(rh * kHeadDimV * partial_type_bytes(c.partial_type));
  l.chunk_bytes = l.out_bytes + align_up(rh * sizeof(float));
  l.partials_bytes = static_cast<size_t>(l.groups) * l.chunk_bytes;
  l.received_bytes = static_cast<size_t>(c.shard.world) *
                     (c.exchange == CpExchange::kAllToAll ? l.chunk_bytes : l.partials_bytes);
  return l;
}

// Batch-major staging of the shard decode (kAllToAll): out then lse, each 256-aligned.
size_t staging_out_bytes(const CpConfig& c, int32_t batch) {
  return align_up(static_cast<size_t>(batch) * c.decode.q_len * c.decode.num_heads * kHeadDimV *
                  partial_type_bytes(c.partial_type));
}
size_t staging_bytes(const CpConfig& c, int32_t batch) {
  return staging_out_bytes(c, batch) +
         align_up(static_cast<size_t>(batch) * c.decode.q_len * c.decode.num_heads * sizeof(float));
}

Status check_cp_workspace(const CpPlan& plan, const Workspace& ws) {
  if (ws.data == nullptr) return fail(Status::kWorkspaceTooSmall, "workspace.data = nullptr");
  if (ws.bytes < plan.workspace_bytes)
    return fail(Status::kWorkspaceTooSmall, "workspace.bytes = %zu, CP plan needs %zu", ws.bytes,
                plan.workspace_bytes);
  if (!is_aligned(ws.data, kAlign))
    return fail(Status::kMisaligned, "workspace.data = %p, must be 256-byte aligned", ws.data);
  if (ws.device != plan.shard.device)
    return fail(Status::kDeviceMismatch, "workspace.device = %d, plan.device = %d", ws.device,
                plan.shard.device);
  return Status::kSuccess;
}

Status check_batch(const CpPlan& plan, int32_t batch) {
  if (plan.workspace_bytes == 0) return fail(Status::kBadShape, "CP plan is empty: call make_cp_plan first");
  if (batch < 1 || batch > plan.config.decode.max_batch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..max_batch (%d)", batch,
                plan.config.decode.max_batch);
  return Status::kSuccess;
}

char* at(const Workspace& ws, size_t off) { return static_cast<char*>(ws.data) + off; }

}  // namespace

const char* shard_layout_name(ShardLayout l) noexcept {
  switch (l) {
    case ShardLayout::kInterleaved: return "interleaved";
    case ShardLayout::kContiguous: return "contiguous";
  }
  return "unknown";
}

const char* partial_type_name(PartialType t) noexcept {
  switch (t) {
    case PartialType::kFloat32: return "float32";
    case PartialType::kBFloat16: return "bfloat16";
    case PartialType::kFloat16: return "float16";
    case PartialType::kSameAsQ: return "same_as_q";
  }
  return "unknown";
}

size_t partial_type_bytes(PartialType t) noexcept {
  switch (t) {
    case PartialType::kFloat32: return 4;
    case PartialType::kBFloat16:
    case PartialType::kFloat16: return 2;
    case PartialType::kSameAsQ: break;  // resolved by make_cp_plan
  }
  return 0;
}

const char* cp_exchange_name(CpExchange e) noexcept {
  switch (e) {
    case CpExchange::kAllGather: return "all_gather";
    case CpExchange::kAllToAll: return "all_to_all";
  }
  return "unknown";
}

Status can_implement(const CpConfig& c) {
  SPLITMLA_TRY(can_implement(c.decode));
  const ShardSpec& s = c.shard;
  if (s.world < 1 || s.world > kMaxCpWorld)
    return fail(Status::kBadShape, "shard.world = %d, must be in 1..%d", s.world, kMaxCpWorld);
  if (s.rank < 0 || s.rank >= s.world)
    return fail(Status::kBadShape, "shard.rank = %d, must be in 0..%d (world %d)", s.rank,
                s.world - 1, s.world);
  switch (s.layout) {
    case ShardLayout::kInterleaved:
      if (s.granularity < 1 || c.decode.page_size % s.granularity != 0)
        return fail(Status::kBadShape,
                    "shard.granularity = %d, must be >= 1 and divide page_size (%d)",
                    s.granularity, c.decode.page_size);
      break;
    case ShardLayout::kContiguous:
      if (s.range < 1)
        return fail(Status::kBadShape, "shard.range = %d (contiguous), must be >= 1", s.range);
      break;
    default:
      return fail(Status::kBadShape, "shard.layout = %d, must be kInterleaved or kContiguous",
                  static_cast<int>(s.layout));
  }
  if (c.partial_type != PartialType::kSameAsQ &&
      (!valid_type(c.partial_type) ||
       (c.partial_type != PartialType::kFloat32 && c.partial_type != type_of(c.decode.dtype))))
    return fail(Status::kBadDType,
                "partial_type = %s (%d), must be kSameAsQ, float32 or the dtype of q (%s)",
                partial_type_name(c.partial_type), static_cast<int>(c.partial_type),
                dtype_name(c.decode.dtype));
  if (c.exchange != CpExchange::kAllGather && c.exchange != CpExchange::kAllToAll)
    return fail(Status::kNotSupported, "exchange = %d, must be kAllGather or kAllToAll",
                static_cast<int>(c.exchange));
  return Status::kSuccess;
}

Status make_cp_plan(const CpConfig& requested, CpPlan* plan) {
  if (plan == nullptr) return fail(Status::kNullPointer, "plan = nullptr");
  SPLITMLA_TRY(can_implement(requested));
  CpConfig config = requested;  // with kSameAsQ resolved: everything below reads a concrete type
  if (config.partial_type == PartialType::kSameAsQ)
    config.partial_type = type_of(config.decode.dtype);
  CpPlan p;
  p.config = config;
  if (config.partial_type == PartialType::kFloat32)
    SPLITMLA_TRY(detail::make_plan_f32_partials(config.decode, &p.shard));
  else
    SPLITMLA_TRY(make_plan(config.decode, &p.shard));
  p.config.decode.device = p.shard.device;
  const int32_t mb = config.decode.max_batch;
  p.max_layout = layout_of(config, mb);
  size_t off = 0;
  auto take = [&off](size_t bytes) {
    const size_t at = off;
    off = align_up(off + bytes);
    return at;
  };
  p.off_shard = take(p.shard.workspace_bytes);
  const bool a2a = config.exchange == CpExchange::kAllToAll;
  p.off_staging = take(a2a ? staging_bytes(config, mb) : 0);
  p.off_send = take(a2a ? p.max_layout.partials_bytes : 0);
  p.off_recv = take(p.max_layout.received_bytes);
  p.workspace_bytes = off;

  if (device_count() > 0) {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess) {
      cudaGetLastError();
      return fail(Status::kCudaError, "cudaGetDevice failed");
    }
    if (current != p.shard.device && cudaSetDevice(p.shard.device) != cudaSuccess) {
      cudaGetLastError();
      return fail(Status::kDeviceMismatch, "device = %d cannot be made current", p.shard.device);
    }
    const cudaError_t e = cp::load_cp_kernels();
    if (current != p.shard.device) cudaSetDevice(current);
    SPLITMLA_TRY(detail::cuda_status(e, "loading the context-parallel kernels"));
  }
  *plan = p;
  return Status::kSuccess;
}

Status cp_layout(const CpPlan& plan, int32_t batch, CpLayout* layout) {
  if (layout == nullptr) return fail(Status::kNullPointer, "layout = nullptr");
  SPLITMLA_TRY(check_batch(plan, batch));
  *layout = layout_of(plan.config, batch);
  return Status::kSuccess;
}

void cp_rank_heads(const CpPlan& plan, int32_t rank, int32_t* first, int32_t* count) {
  const int32_t h = plan.config.decode.num_heads;
  int32_t f = 0, n = h;
  if (plan.config.exchange == CpExchange::kAllToAll) {
    const int32_t hp = (h + plan.config.shard.world - 1) / plan.config.shard.world;
    f = rank * hp < h ? rank * hp : h;
    n = (f + hp < h ? f + hp : h) - f;
  }
  if (first != nullptr) *first = f;
  if (count != nullptr) *count = n;
}

Workspace cp_shard_workspace(const CpPlan& plan, const Workspace& ws) {
  Workspace w;
  w.data = ws.data == nullptr ? nullptr : at(ws, plan.off_shard);
  w.bytes = ws.bytes > plan.off_shard ? ws.bytes - plan.off_shard : 0;
  w.device = ws.device;
  return w;
}

Status cp_shard_partials(const CpPlan& plan, const DecodeArgs& args, const Workspace& ws,
                         void* partials, cudaStream_t stream) {
  SPLITMLA_TRY(check_batch(plan, args.batch));
  SPLITMLA_TRY(check_cp_workspace(plan, ws));
  if (partials == nullptr) return fail(Status::kNullPointer, "partials = nullptr");
  if (!is_aligned(partials, kAlign))
    return fail(Status::kMisaligned, "partials = %p, must be 256-byte aligned", partials);
  if (args.seq_lens == nullptr) return fail(Status::kNullPointer, "seq_lens = nullptr");
  const CpConfig& c = plan.config;
  const int32_t h = c.decode.num_heads, ql = c.decode.q_len;
  const CpLayout l = layout_of(c, args.batch);
  const bool a2a = c.exchange == CpExchange::kAllToAll;

  // The shard decode: the GLOBAL seq_lens (its planner writes each token's local limit), the
  // local table and cache, out/lse batch-major (into the packed buffer directly for all-gather,
  // into the staging area for all-to-all).
  DecodeArgs local = args;
  char* base = a2a ? at(ws, plan.off_staging) : static_cast<char*>(partials);
  local.out = base;
  local.out_stride_head = kHeadDimV;
  local.out_stride_token = static_cast<int64_t>(h) * kHeadDimV;
  local.out_stride_batch = static_cast<int64_t>(ql) * local.out_stride_token;
  local.lse = reinterpret_cast<float*>(base + (a2a ? staging_out_bytes(c, args.batch) : l.out_bytes));
  local.lse_stride_head = 1;
  local.lse_stride_token = h;
  local.lse_stride_batch = static_cast<int64_t>(ql) * h;
  // Validate everything before the first launch (a refused call launches nothing).
  SPLITMLA_TRY(can_implement(plan.shard, local));
  const Workspace shard_ws = cp_shard_workspace(plan, ws);

  SPLITMLA_TRY(detail::decode_shard(plan.shard, c.shard, local, shard_ws, stream));
  if (!a2a) return Status::kSuccess;

  cp::PackParams pp{};
  pp.out = base;
  pp.lse = local.lse;
  pp.dst = static_cast<char*>(partials);
  pp.chunk_bytes = static_cast<int64_t>(l.chunk_bytes);
  pp.out_bytes = static_cast<int64_t>(l.out_bytes);
  pp.rows = l.rows;
  pp.num_heads = h;
  pp.heads_per_group = l.heads_per_group;
  pp.elem_bytes = static_cast<int32_t>(partial_type_bytes(c.partial_type));
  return detail::cuda_status(cp::launch_pack(pp, stream), "CP pack launch");
}

Status cp_merge_packed(const CpPlan& plan, const void* received, const DecodeArgs& args,
                       cudaStream_t stream) {
  SPLITMLA_TRY(check_batch(plan, args.batch));
  if (received == nullptr) return fail(Status::kNullPointer, "received = nullptr");
  if (!is_aligned(received, kAlign))
    return fail(Status::kMisaligned, "received = %p, must be 256-byte aligned", received);
  const CpConfig& c = plan.config;
  const CpLayout l = layout_of(c, args.batch);
  const bool a2a = c.exchange == CpExchange::kAllToAll;
  int32_t first = 0, count = 0;
  cp_rank_heads(plan, c.shard.rank, &first, &count);
  if (count == 0) return Status::kSuccess;  // all-to-all with fewer heads than ranks
  const size_t esize = partial_type_bytes(c.partial_type);
  const size_t unit = a2a ? l.chunk_bytes : l.partials_bytes;
  const int64_t hp = l.heads_per_group;

  MergeArgs m;
  m.num_sources = c.shard.world;
  m.batch = args.batch;
  m.q_len = c.decode.q_len;
  m.num_heads = count;
  m.part_type = c.partial_type;
  m.part_out = received;
  m.po_stride_head = kHeadDimV;
  m.po_stride_token = hp * kHeadDimV;
  m.po_stride_batch = m.q_len * m.po_stride_token;
  m.po_stride_source = static_cast<int64_t>(unit / esize);
  m.part_lse = reinterpret_cast<const float*>(static_cast<const char*>(received) + l.out_bytes);
  m.pl_stride_head = 1;
  m.pl_stride_token = hp;
  m.pl_stride_batch = m.q_len * hp;
  m.pl_stride_source = static_cast<int64_t>(unit / sizeof(float));
  m.out_type = type_of(c.decode.dtype);
  m.out = args.out;
  m.out_stride_batch = args.out_stride_batch;
  m.out_stride_token = args.out_stride_token;
  m.out_stride_head = args.out_stride_head;
  m.lse = args.lse;
  m.lse_stride_batch = args.lse_stride_batch;
  m.lse_stride_token = args.lse_stride_token;
  m.lse_stride_head = args.lse_stride_head;
  return enqueue_merge_partials(m, stream);
}

Status can_implement(const MergeArgs& a) {
  if (a.num_sources < 1 || a.num_sources > kMaxMergeSources)
    return fail(Status::kBadShape, "num_sources = %d, must be in 1..%d", a.num_sources,
                kMaxMergeSources);
  if (a.batch < 1 || a.batch > kMaxBatch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..%d", a.batch, kMaxBatch);
  if (a.q_len < 1 || a.q_len > 16)
    return fail(Status::kBadShape, "q_len = %d, must be in 1..16", a.q_len);
  if (a.num_heads < 1 || a.num_heads > kMaxHeads)
    return fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", a.num_heads, kMaxHeads);
  if (!valid_type(a.part_type))
    return fail(Status::kBadDType, "part_type = %s (%d), must be float32, bfloat16 or float16",
                partial_type_name(a.part_type), static_cast<int>(a.part_type));
  if (!valid_type(a.out_type))
    return fail(Status::kBadDType, "out_type = %s (%d), must be float32, bfloat16 or float16",
                partial_type_name(a.out_type), static_cast<int>(a.out_type));
  struct Ptr { const void* p; const char* name; size_t align; };
  const Ptr ptrs[] = {{a.part_out, "part_out", 4 * partial_type_bytes(a.part_type)},
                      {a.part_lse, "part_lse", 4},
                      {a.out, "out", 4 * partial_type_bytes(a.out_type)}};
  for (const Ptr& p : ptrs) {
    if (p.p == nullptr) return fail(Status::kNullPointer, "%s = nullptr", p.name);
    if (!is_aligned(p.p, p.align))
      return fail(Status::kMisaligned, "%s = %p, must be %zu-byte aligned", p.name, p.p, p.align);
  }
  if (a.lse != nullptr && !is_aligned(a.lse, 4))
    return fail(Status::kMisaligned, "lse = %p, must be 4-byte aligned", static_cast<void*>(a.lse));
  // Strides: non-negative; those of the 512-wide rows multiples of 4 elements (vector access);
  // an output row stride that is used must not make rows overlap.
  struct Stride { int64_t v; const char* name; int64_t multiple; int64_t min; };
  const Stride strides[] = {
      {a.po_stride_source, "po_stride_source", 4, 0}, {a.po_stride_batch, "po_stride_batch", 4, 0},
      {a.po_stride_token, "po_stride_token", 4, 0},   {a.po_stride_head, "po_stride_head", 4, 0},
      {a.pl_stride_source, "pl_stride_source", 1, 0}, {a.pl_stride_batch, "pl_stride_batch", 1, 0},
      {a.pl_stride_token, "pl_stride_token", 1, 0},   {a.pl_stride_head, "pl_stride_head", 1, 0},
      {a.out_stride_batch, "out_stride_batch", 4, a.batch > 1 ? kHeadDimV : 0},
      {a.out_stride_token, "out_stride_token", 4, a.q_len > 1 ? kHeadDimV : 0},
      {a.out_stride_head, "out_stride_head", 4, a.num_heads > 1 ? kHeadDimV : 0},
      {a.lse_stride_batch, "lse_stride_batch", 1, a.lse != nullptr && a.batch > 1 ? 1 : 0},
      {a.lse_stride_token, "lse_stride_token", 1, a.lse != nullptr && a.q_len > 1 ? 1 : 0},
      {a.lse_stride_head, "lse_stride_head", 1, a.lse != nullptr && a.num_heads > 1 ? 1 : 0}};
  for (const Stride& s : strides) {
    if (s.v < 0)
      return fail(Status::kBadStride, "%s = %lld, must be >= 0", s.name, static_cast<long long>(s.v));
    if (s.v < s.min)
      return fail(Status::kBadStride, "%s = %lld, rows overlap (must be >= %lld)", s.name,
                  static_cast<long long>(s.v), static_cast<long long>(s.min));
    if (s.v % s.multiple != 0)
      return fail(Status::kMisaligned, "%s = %lld, must be a multiple of %lld elements", s.name,
                  static_cast<long long>(s.v), static_cast<long long>(s.multiple));
  }
  return Status::kSuccess;
}

Status enqueue_merge_partials(const MergeArgs& a, cudaStream_t stream) {
  SPLITMLA_TRY(can_implement(a));
  cp::MergeParams p{};
  p.part_out = a.part_out;
  p.po_src = a.po_stride_source;
  p.po_b = a.po_stride_batch;
  p.po_t = a.po_stride_token;
  p.po_h = a.po_stride_head;
  p.part_lse = a.part_lse;
  p.pl_src = a.pl_stride_source;
  p.pl_b = a.pl_stride_batch;
  p.pl_t = a.pl_stride_token;
  p.pl_h = a.pl_stride_head;
  p.out = a.out;
  p.o_b = a.out_stride_batch;
  p.o_t = a.out_stride_token;
  p.o_h = a.out_stride_head;
  p.lse = a.lse;
  p.l_b = a.lse_stride_batch;
  p.l_t = a.lse_stride_token;
  p.l_h = a.lse_stride_head;
  p.num_sources = a.num_sources;
  p.q_len = a.q_len;
  p.num_heads = a.num_heads;
  p.lse_base2 = a.lse_base2 ? 1 : 0;
  const int64_t rows = static_cast<int64_t>(a.batch) * a.q_len;
  return detail::cuda_status(cp::launch_merge(a.part_type, a.out_type, p, rows, stream), "CP merge launch");
}

}  // namespace splitmla
