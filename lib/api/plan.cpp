// Host validation and the plan: grids and workspace size from the static configuration, the
// split bounds (lib/core/split_rule.hpp), the part1 variant, and the device preparation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include <cuda_runtime_api.h>

#include "api/plan_detail.hpp"
#include "api/workspace.hpp"
#include "core/error.hpp"
#include "core/split_rule.hpp"
#include "kernels/common/env_switch.hpp"
#include "kernels/common/params.hpp"
#include "kernels/part1/variants.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
namespace {

using detail::fail;

bool is_pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

}  // namespace

Status can_implement(const DecodeConfig& c) {
  if (c.dtype != DType::kBFloat16 && c.dtype != DType::kFloat16)
    return fail(Status::kBadDType, "dtype = %d, must be kBFloat16 (0) or kFloat16 (1)",
                static_cast<int>(c.dtype));
  if (c.kv_format != KvFormat::kSameAsQ && c.kv_format != KvFormat::kFp8E4M3 &&
      c.kv_format != KvFormat::kFp8DsMla)
    return fail(Status::kBadDType,
                "kv_format = %d, must be kSameAsQ (0), kFp8E4M3 (1) or kFp8DsMla (2)",
                static_cast<int>(c.kv_format));
  if (c.num_heads < 1 || c.num_heads > kMaxHeads)
    return fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", c.num_heads, kMaxHeads);
  if (c.q_len < 1 || c.q_len > kMaxQLen)
    return fail(Status::kBadShape, "q_len = %d, must be in 1..%d", c.q_len, kMaxQLen);
  if (c.rows_per_cta != 0 && c.rows_per_cta != 16 && c.rows_per_cta != 32 && c.rows_per_cta != 64)
    return fail(Status::kBadShape, "rows_per_cta = %d, must be 0 (chosen), 16, 32 or 64",
                c.rows_per_cta);
  if (!is_pow2(c.page_size) || c.page_size > kMaxPageSize)
    return fail(Status::kBadPageSize, "page_size = %d, must be a power of two in 1..%d",
                c.page_size, kMaxPageSize);
  if (c.max_batch < 1 || c.max_batch > kMaxBatch)
    return fail(Status::kBadBatch, "max_batch = %d, must be in 1..%d", c.max_batch, kMaxBatch);
  if (c.max_pages_per_seq < 1)
    return fail(Status::kBadShape, "max_pages_per_seq = %d, must be >= 1", c.max_pages_per_seq);
  // Positions are int32 in the kernels, and a tile walk computes up to one 64-row tile past a
  // piece's end: keep that headroom below INT32_MAX.
  if (static_cast<int64_t>(c.max_pages_per_seq) * c.page_size > kMaxSeqLen)
    return fail(Status::kBadShape,
                "max_pages_per_seq * page_size = %lld, must be at most %d (int32 positions)",
                static_cast<long long>(c.max_pages_per_seq) * c.page_size, kMaxSeqLen);
  switch (c.policy.kind) {
    case SplitPolicyKind::kAuto: break;
    case SplitPolicyKind::kForced:
      if (c.policy.value < 1 || c.policy.value > kMaxForcedSplits)
        return fail(Status::kBadPolicy, "policy.value = %d (forced splits), must be in 1..%d",
                    c.policy.value, kMaxForcedSplits);
      break;
    case SplitPolicyKind::kChunk:
      if (c.policy.value < 1)
        return fail(Status::kBadPolicy, "policy.value = %d (chunk tokens), must be >= 1",
                    c.policy.value);
      break;
    default:
      return fail(Status::kBadPolicy, "policy.kind = %d, must be kAuto, kForced or kChunk",
                  static_cast<int>(c.policy.kind));
  }
  if (c.device < -1) return fail(Status::kDeviceMismatch, "device = %d, must be >= -1", c.device);
  if (c.num_sms < 0) return fail(Status::kBadShape, "num_sms = %d, must be >= 0", c.num_sms);
  if (c.part1 != Part1Variant::kAuto && c.part1 != Part1Variant::kMmaSync &&
      c.part1 != Part1Variant::kWgmma)
    return fail(Status::kNotSupported, "part1 = %d, must be kAuto, kMmaSync or kWgmma",
                static_cast<int>(c.part1));
  if (c.part1 == Part1Variant::kWgmma && c.kv_format == KvFormat::kFp8DsMla)
    return fail(Status::kNotSupported,
                "part1 = %s does not read kv_format = %s (its per-row block scales): use mma_sync "
                "or auto",
                part1_variant_name(c.part1), kv_format_name(c.kv_format, c.dtype));
  if (c.part1 == Part1Variant::kWgmma && c.rows_per_cta != 0 && c.rows_per_cta != 64)
    return fail(Status::kNotSupported,
                "part1 = %s with rows_per_cta = %d: the wgmma kernel takes 64 rows per CTA",
                part1_variant_name(c.part1), c.rows_per_cta);
  return Status::kSuccess;
}

int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

namespace {

// What planning needs of the device: its index, SM count and compute capability (major * 10 +
// minor; 0 when planning without a device). Given config.device and config.num_sms, no device
// is needed; otherwise they are queried (attribute reads only).
struct DeviceFacts {
  int32_t device = -1;
  int32_t num_sms = 0;
  int cc = 0;
  bool have_gpu = false;
};

Status device_facts(const DecodeConfig& config, DeviceFacts* d) {
  d->device = config.device;
  d->num_sms = config.num_sms;
  d->have_gpu = device_count() > 0;
  if (d->device < 0 || d->num_sms == 0) {
    if (!d->have_gpu)
      return fail(Status::kNoCudaDevice, "no CUDA device (cudaGetDeviceCount = 0)");
    if (d->device < 0 && cudaGetDevice(&d->device) != cudaSuccess)
      return fail(Status::kCudaError, "cudaGetDevice: %s",
                  cudaGetErrorString(cudaGetLastError()));
    if (d->num_sms == 0) {
      cudaError_t e =
          cudaDeviceGetAttribute(&d->num_sms, cudaDevAttrMultiProcessorCount, d->device);
      if (e != cudaSuccess) {
        cudaGetLastError();
        return fail(Status::kDeviceMismatch, "device = %d: %s", d->device, cudaGetErrorString(e));
      }
    }
  }
  d->cc = 0;
  if (d->have_gpu && d->device >= 0) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d->device) ==
            cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d->device) ==
            cudaSuccess)
      d->cc = major * 10 + minor;
    else
      cudaGetLastError();
  }
  return Status::kSuccess;
}

// The pure part of make_plan: the part1 variant, the rows, the split bounds and the workspace
// size, from the configuration and the device facts. No device call; workspace_size is this.
Status size_plan(const DecodeConfig& config, const DeviceFacts& d, Plan* out) {
  Plan p;
  p.config = config;
  p.device = d.device;
  p.num_sms = d.num_sms;
  // The part1 instance: a row of the variant table (kernels/part1/variants.hpp).
  const kernels::Part1Row* row = nullptr;
  kernels::Part1Device dev;
  dev.cc = d.cc;
  SPLITMLA_TRY(kernels::choose_part1(config, dev, kernels::part1_table(), &row));
  p.part1 = row->family;
  p.rows_per_cta = row->rows_per_cta;
  p.key_tile = row->key_tile;
  // Programmatic dependent launch of part2 where the device has it (sm_90+); SPLITMLA_PDL=0 in the
  // environment (read once) turns it off, to compare the two in one binary.
  static const bool pdl_allowed = kernels::env_switch_on("SPLITMLA_PDL");
  p.pdl = pdl_allowed && d.cc >= 90;
  // Query rows (q_len x heads, token-major) are the M dimension of a part1 CTA.
  const int rows = config.q_len * config.num_heads;
  p.rows = rows;
  p.row_blocks = (rows + p.rows_per_cta - 1) / p.rows_per_cta;
  const int64_t max_seq = static_cast<int64_t>(config.max_pages_per_seq) * config.page_size;
  const split_rule::Bounds b =
      split_rule::plan_bounds(config.policy, config.max_batch, max_seq, p.num_sms, p.row_blocks);
  if (b.work_ctas * p.row_blocks > std::numeric_limits<int32_t>::max() ||
      b.pieces > std::numeric_limits<int32_t>::max() / 2)
    return fail(Status::kBadPolicy,
                "policy value = %d with max_batch = %d gives %lld pieces: grid too large",
                config.policy.value, config.max_batch, static_cast<long long>(b.pieces));
  p.work_ctas = static_cast<int32_t>(b.work_ctas);
  p.pieces_bound = static_cast<int32_t>(b.pieces);
  p.slots_bound = static_cast<int32_t>(b.slots);
  p.multi_bound = static_cast<int32_t>(b.multi);
  detail::WorkspaceLayout layout;
  SPLITMLA_TRY(detail::workspace_layout(p, &layout));
  p.workspace_bytes = layout.total;
  *out = p;
  return Status::kSuccess;
}

// Raises part1's shared-memory limit and loads every module of the run on the plan's device
// (switching to it for the call and back), so nothing is loaded lazily inside a capture.
Status prepare_device(const Plan& p) {
  const DecodeConfig& config = p.config;
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess) {
    cudaGetLastError();
    return fail(Status::kCudaError, "cudaGetDevice failed");
  }
  if (current != p.device && cudaSetDevice(p.device) != cudaSuccess) {
    cudaGetLastError();
    return fail(Status::kDeviceMismatch, "device = %d cannot be made current", p.device);
  }
  cudaError_t e = kernels::prepare_part1(p.part1, config.dtype, config.kv_format, p.rows_per_cta);
  const char* what = "part1";
  if (e == cudaSuccess) {
    e = kernels::load_planner();
    what = "the planner";
  }
  if (e == cudaSuccess) {
    e = kernels::load_part2(config.dtype);
    what = "part2";
  }
  if (current != p.device) cudaSetDevice(current);
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction) {
    cudaGetLastError();
    return fail(Status::kNotBuilt, "%s (part1 %s, dtype %s, kv_format %s, %d rows per CTA): %s",
                what, part1_variant_name(p.part1), dtype_name(config.dtype),
                kv_format_name(config.kv_format, config.dtype), p.rows_per_cta,
                cudaGetErrorString(e));
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(Status::kCudaError, "preparing %s: %s", what, cudaGetErrorString(e));
  }
  return Status::kSuccess;
}

// What make_plan and workspace_size share: validation, the device's facts and the sizing.
Status validated_plan(const DecodeConfig& config, DeviceFacts* d, Plan* p) {
  SPLITMLA_TRY(can_implement(config));
  SPLITMLA_TRY(device_facts(config, d));
  return size_plan(config, *d, p);
}

}  // namespace

Status make_plan(const DecodeConfig& config, Plan* plan) {
  if (plan == nullptr) return fail(Status::kNullPointer, "plan = nullptr");
  DeviceFacts d;
  Plan p;
  SPLITMLA_TRY(validated_plan(config, &d, &p));
  if (d.have_gpu) SPLITMLA_TRY(prepare_device(p));
  *plan = p;
  return Status::kSuccess;
}

// Pure: the same sizing as make_plan (same code), without preparing the device.
Status workspace_size(const DecodeConfig& config, size_t* bytes) {
  if (bytes == nullptr) return fail(Status::kNullPointer, "bytes = nullptr");
  DeviceFacts d;
  Plan p;
  SPLITMLA_TRY(validated_plan(config, &d, &p));
  *bytes = p.workspace_bytes;
  return Status::kSuccess;
}

namespace {

bool aligned(const void* ptr, size_t a) { return reinterpret_cast<uintptr_t>(ptr) % a == 0; }

Status check_ptr(const void* ptr, const char* name, size_t align) {
  if (ptr == nullptr) return fail(Status::kNullPointer, "%s = nullptr", name);
  if (!aligned(ptr, align))
    return fail(Status::kMisaligned, "%s = %p, must be %zu-byte aligned", name, ptr, align);
  return Status::kSuccess;
}

Status check_stride(int64_t stride, int64_t min, bool used, const char* name, int64_t multiple) {
  if (stride < 0) return fail(Status::kBadStride, "%s = %lld, must be >= 0", name,
                              static_cast<long long>(stride));
  if (used && stride < min)
    return fail(Status::kBadStride, "%s = %lld, rows overlap (must be >= %lld)", name,
                static_cast<long long>(stride), static_cast<long long>(min));
  if (used && stride % multiple != 0)
    return fail(Status::kMisaligned, "%s = %lld, must be a multiple of %lld elements", name,
                static_cast<long long>(stride), static_cast<long long>(multiple));
  return Status::kSuccess;
}

}  // namespace

Status can_implement(const Plan& plan, const DecodeArgs& a) {
  const DecodeConfig& c = plan.config;
  SPLITMLA_TRY(can_implement(c));
  if (plan.workspace_bytes == 0 || plan.work_ctas < 1)
    return fail(Status::kBadShape, "plan is empty: call make_plan first");
  if (a.batch < 1 || a.batch > c.max_batch)
    return fail(Status::kBadBatch, "batch = %d, must be in 1..max_batch (%d)", a.batch,
                c.max_batch);
  if (a.num_pages < 1) return fail(Status::kBadShape, "num_pages = %d, must be >= 1", a.num_pages);
  if (a.max_pages_per_seq < 1 || a.max_pages_per_seq > c.max_pages_per_seq)
    return fail(Status::kBadShape, "max_pages_per_seq = %d, must be in 1..%d (planned)",
                a.max_pages_per_seq, c.max_pages_per_seq);
  if (!(a.softmax_scale > 0.f) || !std::isfinite(a.softmax_scale))
    return fail(Status::kBadSoftmaxScale, "softmax_scale = %g, must be finite and > 0",
                static_cast<double>(a.softmax_scale));
  SPLITMLA_TRY(check_ptr(a.q, "q", 16));
  SPLITMLA_TRY(check_ptr(a.kv_cache, "kv_cache", 16));
  SPLITMLA_TRY(check_ptr(a.block_table, "block_table", 4));
  SPLITMLA_TRY(check_ptr(a.seq_lens, "seq_lens", 4));
  SPLITMLA_TRY(check_ptr(a.out, "out", 16));
  if (a.lse != nullptr && !aligned(a.lse, 4))
    return fail(Status::kMisaligned, "lse = %p, must be 4-byte aligned", static_cast<void*>(a.lse));

  // Overlap checks for the usual nesting batch > token > head (a stride that is not used, such
  // as a token stride with q_len = 1, may be anything >= 0).
  const int64_t h = c.num_heads, ql = c.q_len;
  const bool many_heads = h > 1, many_batch = a.batch > 1, many_tokens = ql > 1;
  SPLITMLA_TRY(check_stride(a.q_stride_head, kHeadDimQK, many_heads, "q_stride_head", 8));
  const int64_t q_token_span = (h - 1) * a.q_stride_head + kHeadDimQK;
  SPLITMLA_TRY(check_stride(a.q_stride_token, q_token_span, many_tokens, "q_stride_token", 8));
  SPLITMLA_TRY(check_stride(a.q_stride_batch,
                            (many_tokens ? (ql - 1) * a.q_stride_token : 0) + q_token_span,
                            many_batch, "q_stride_batch", 8));
  if (is_fp8(c.kv_format)) {
    // fp8 caches: the page stride is in bytes; pages start 16-byte aligned (the row sizes 576
    // and 656 are multiples of 16, so every row does too).
    const char* kvf = kv_format_name(c.kv_format, c.dtype);
    const int64_t row = kv_row_bytes(c.kv_format);
    if (a.kv_stride_page < 0)
      return fail(Status::kBadStride, "kv_stride_page = %lld bytes (kv_format = %s), must be >= 0",
                  static_cast<long long>(a.kv_stride_page), kvf);
    if (a.num_pages > 1 && a.kv_stride_page < c.page_size * row)
      return fail(Status::kBadStride,
                  "kv_stride_page = %lld bytes, rows overlap (kv_format = %s: must be >= "
                  "page_size * %lld = %lld)",
                  static_cast<long long>(a.kv_stride_page), kvf, static_cast<long long>(row),
                  static_cast<long long>(c.page_size * row));
    if (a.num_pages > 1 && a.kv_stride_page % 16 != 0)
      return fail(Status::kMisaligned,
                  "kv_stride_page = %lld bytes (kv_format = %s), must be a multiple of 16 bytes",
                  static_cast<long long>(a.kv_stride_page), kvf);
    if (c.kv_format == KvFormat::kFp8E4M3) {
      if (a.kv_scale == nullptr)
        return fail(Status::kNullPointer,
                    "kv_scale = nullptr: kv_format = %s needs a device float32 scale", kvf);
      if (!aligned(a.kv_scale, 4))
        return fail(Status::kMisaligned, "kv_scale = %p, must be 4-byte aligned",
                    static_cast<const void*>(a.kv_scale));
    }
  } else {
    SPLITMLA_TRY(check_stride(a.kv_stride_page, static_cast<int64_t>(c.page_size) * kHeadDimQK,
                              a.num_pages > 1, "kv_stride_page", 8));
  }
  SPLITMLA_TRY(check_stride(a.block_table_stride, a.max_pages_per_seq, many_batch,
                            "block_table_stride", 1));
  SPLITMLA_TRY(check_stride(a.out_stride_head, kHeadDimV, many_heads, "out_stride_head", 8));
  const int64_t out_token_span = (h - 1) * a.out_stride_head + kHeadDimV;
  SPLITMLA_TRY(check_stride(a.out_stride_token, out_token_span, many_tokens, "out_stride_token", 8));
  SPLITMLA_TRY(check_stride(a.out_stride_batch,
                            (many_tokens ? (ql - 1) * a.out_stride_token : 0) + out_token_span,
                            many_batch, "out_stride_batch", 8));
  if (a.lse != nullptr) {
    // lse nests either way: [batch, q_len, heads] (token-major, as out) or [batch, heads, q_len]
    // passed as its transpose (head-major: FlashMLA's softmax_lse layout).
    const bool head_major = many_tokens && a.lse_stride_token > 0 &&
                            a.lse_stride_head >= (ql - 1) * a.lse_stride_token + 1;
    int64_t request_span;  // elements one request's q_len x heads values reach
    if (head_major) {
      request_span = (h - 1) * a.lse_stride_head + (ql - 1) * a.lse_stride_token + 1;
    } else {
      SPLITMLA_TRY(check_stride(a.lse_stride_head, 1, many_heads, "lse_stride_head", 1));
      const int64_t lse_token_span = (h - 1) * a.lse_stride_head + 1;
      SPLITMLA_TRY(check_stride(a.lse_stride_token, lse_token_span, many_tokens,
                                "lse_stride_token", 1));
      request_span = (many_tokens ? (ql - 1) * a.lse_stride_token : 0) + lse_token_span;
    }
    SPLITMLA_TRY(check_stride(a.lse_stride_batch, request_span, many_batch, "lse_stride_batch", 1));
  }
  return Status::kSuccess;
}

}  // namespace splitmla

namespace splitmla::detail {

// Context-parallel shard plans (lib/cp): every request goes through the fp32 partial slots, so
// part2 runs for every request and writes float32 partials. Bounds: one slot per piece, one
// part2 entry per request.
Status make_plan_f32_partials(const DecodeConfig& config, Plan* plan) {
  if (plan == nullptr) return fail(Status::kNullPointer, "plan = nullptr");
  Plan p;
  SPLITMLA_TRY(make_plan(config, &p));
  p.out_f32 = true;
  p.slots_bound = p.pieces_bound;
  p.multi_bound = config.max_batch;
  WorkspaceLayout layout;
  SPLITMLA_TRY(workspace_layout(p, &layout));
  p.workspace_bytes = layout.total;
  *plan = p;
  return Status::kSuccess;
}

}  // namespace splitmla::detail
