// torch.ops.splitmla: the library's decode as PyTorch dispatcher ops.
//
//   decode_out(q, kv_cache, block_table, seq_lens, out, lse?, workspace, <plan fields>,
//              softmax_scale, kv_scale?, causal) -> ()          writes out (and lse)
//   decode(q, kv_cache, block_table, seq_lens, <plan fields>, softmax_scale, kv_scale?, causal)
//              -> (out, lse)                                    allocates them and its workspace
//   workspace_size(<static config>, device) -> int              planning helper (no tensors)
//
// The plan is passed as the static fields of DecodeConfig (ints); dtype, num_heads, q_len and
// page_size come from the tensors. CPU tensors run the float64 CPU reference
// (splitmla::reference_decode); CUDA tensors run splitmla::decode on the current CUDA stream of
// q's device, under a device guard, with no host synchronization (capturable in a CUDA graph).
// Every library status becomes a Python exception whose text is splitmla::status_message (the
// field and its value); faults in device data (bad page ids, lengths) give NaN rows, as in C++.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "splitmla/decode.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla_torch {
namespace {

using splitmla::Status;

// Library statuses as Python exceptions: bad arguments -> ValueError, not implemented ->
// NotImplementedError (a RuntimeError), device and runtime failures -> RuntimeError.
[[noreturn]] void throw_status(const char* op, Status s) {
  const std::string msg = std::string("splitmla.") + op + ": " + splitmla::status_message(s);
  switch (s) {
    case Status::kNotSupported:
      TORCH_CHECK_NOT_IMPLEMENTED(false, msg);
    case Status::kNoCudaDevice:
    case Status::kNotBuilt:
    case Status::kCudaError:
    case Status::kOutOfMemory:
    case Status::kCaptureActive:
    case Status::kDeviceMismatch:
      TORCH_CHECK(false, msg);
    default:
      TORCH_CHECK_VALUE(false, msg);
  }
}

void check(const char* op, Status s) {
  if (s != Status::kSuccess) throw_status(op, s);
}

// A plan is a pure function of the static configuration and the device, but make_plan on a GPU
// also loads the kernels' modules: keep one per configuration so a call (and a capture) does no
// more than a lookup. This caches plain data only; the workspace stays the caller's.
struct PlanKey {
  int dtype, num_heads, q_len, page_size, max_batch, max_pages, kind, value, device, num_sms,
      part1, causal, kv_format;
  bool operator<(const PlanKey& o) const {
    return std::tie(dtype, num_heads, q_len, page_size, max_batch, max_pages, kind, value, device,
                    num_sms, part1, causal, kv_format) <
           std::tie(o.dtype, o.num_heads, o.q_len, o.page_size, o.max_batch, o.max_pages, o.kind,
                    o.value, o.device, o.num_sms, o.part1, o.causal, o.kv_format);
  }
};

Status cached_plan(const splitmla::DecodeConfig& c, splitmla::Plan* plan) {
  static std::mutex mu;
  static std::map<PlanKey, splitmla::Plan> cache;
  const PlanKey key{static_cast<int>(c.dtype), c.num_heads, c.q_len, c.page_size, c.max_batch,
                    c.max_pages_per_seq, static_cast<int>(c.policy.kind), c.policy.value,
                    c.device, c.num_sms, static_cast<int>(c.part1), c.causal ? 1 : 0,
                    static_cast<int>(c.kv_format)};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) {
    *plan = it->second;
    return Status::kSuccess;
  }
  const Status s = splitmla::make_plan(c, plan);
  if (s == Status::kSuccess) cache.emplace(key, *plan);
  return s;
}

int32_t to_i32(const char* op, const char* name, int64_t v) {
  TORCH_CHECK_VALUE(v >= INT32_MIN && v <= INT32_MAX, "splitmla.", op, ": ", name, " = ", v,
                    ", must fit in int32");
  return static_cast<int32_t>(v);
}

splitmla::DType to_dtype(const char* op, const char* name, at::ScalarType t) {
  if (t == at::kBFloat16) return splitmla::DType::kBFloat16;
  if (t == at::kHalf) return splitmla::DType::kFloat16;
  TORCH_CHECK_VALUE(false, "splitmla.", op, ": ", name, ".dtype = ", t,
                    ", must be torch.bfloat16 or torch.float16");
}

// The static fields of a plan, as the ops receive them.
struct PlanFields {
  int64_t max_batch, max_pages_per_seq, policy_kind, policy_value, num_sms, part1;
  bool causal = true;  // token visibility when q_len > 1 (the workspace does not depend on it)
  splitmla::KvFormat kv_format = splitmla::KvFormat::kSameAsQ;  // from the cache tensor
};

// The KV format of a cache tensor: a 16-bit cache has q's dtype; an fp8 cache is torch.uint8
// (or torch.float8_e4m3fn) rows of 576 bytes (fp8_e4m3: e4m3 values times one float32 kv_scale
// per call) or 656 bytes (fp8_ds_mla: 512 e4m3 values, four float32 scales, 64 bf16 rope
// values), read byte for byte as serving engines store them.
splitmla::KvFormat kv_format_of(const char* op, const at::Tensor& kv_cache, const at::Tensor& q,
                                const c10::optional<at::Tensor>& kv_scale) {
  const at::ScalarType t = kv_cache.scalar_type();
  if (t != at::kByte && t != at::kFloat8_e4m3fn) {
    TORCH_CHECK_VALUE(t == q.scalar_type(), "splitmla.", op, ": kv_cache.dtype = ", t,
                      ", must equal q.dtype = ", q.scalar_type(),
                      " (or be torch.uint8 / torch.float8_e4m3fn for an fp8 cache)");
    TORCH_CHECK_VALUE(!kv_scale.has_value(), "splitmla.", op, ": kv_scale is given for a ", t,
                      " cache; it belongs to fp8_e4m3 caches (uint8 rows of 576 bytes)");
    return splitmla::KvFormat::kSameAsQ;
  }
  const int64_t row = kv_cache.dim() >= 1 ? kv_cache.size(-1) : 0;
  if (row == splitmla::kv_row_bytes(splitmla::KvFormat::kFp8E4M3)) {
    TORCH_CHECK_VALUE(kv_scale.has_value(), "splitmla.", op, ": kv_cache is an fp8_e4m3 cache (",
                      t, ", rows of ", row, " bytes): kv_scale (one float32) is required");
    const at::Tensor& sc = *kv_scale;
    TORCH_CHECK_VALUE(sc.numel() == 1 && sc.scalar_type() == at::kFloat, "splitmla.", op,
                      ": kv_scale.shape = ", sc.sizes(), ", dtype = ", sc.scalar_type(),
                      "; must be one torch.float32 value");
    TORCH_CHECK_VALUE(sc.device() == q.device(), "splitmla.", op, ": kv_scale.device = ",
                      sc.device(), ", must be q.device = ", q.device());
    return splitmla::KvFormat::kFp8E4M3;
  }
  if (row == splitmla::kv_row_bytes(splitmla::KvFormat::kFp8DsMla)) {
    TORCH_CHECK_VALUE(!kv_scale.has_value(), "splitmla.", op,
                      ": kv_scale is given for an fp8_ds_mla cache (rows of ", row,
                      " bytes), whose rows carry their own scales; pass kv_scale=None");
    return splitmla::KvFormat::kFp8DsMla;
  }
  TORCH_CHECK_VALUE(false, "splitmla.", op, ": kv_cache.size(-1) = ", row, " for a ", t,
                    " cache; an fp8 row is 576 bytes (fp8_e4m3) or 656 bytes (fp8_ds_mla)");
}

splitmla::DecodeConfig make_config(const char* op, splitmla::DType dtype, int64_t num_heads,
                                   int64_t q_len, int64_t page_size, const PlanFields& f,
                                   int32_t device) {
  splitmla::DecodeConfig c;
  c.dtype = dtype;
  c.num_heads = to_i32(op, "num_heads", num_heads);
  c.q_len = to_i32(op, "q_len", q_len);
  c.page_size = to_i32(op, "page_size", page_size);
  c.max_batch = to_i32(op, "max_batch", f.max_batch);
  c.max_pages_per_seq = to_i32(op, "max_pages_per_seq", f.max_pages_per_seq);
  c.policy.kind = static_cast<splitmla::SplitPolicyKind>(to_i32(op, "policy_kind", f.policy_kind));
  c.policy.value = to_i32(op, "policy_value", f.policy_value);
  c.num_sms = to_i32(op, "num_sms", f.num_sms);
  c.part1 = static_cast<splitmla::Part1Variant>(to_i32(op, "part1", f.part1));
  c.causal = f.causal;
  c.kv_format = f.kv_format;
  c.device = device;
  return c;
}

// The tensors of one call, checked for what the library cannot see (ranks, dtypes, devices,
// contiguity of the innermost dimensions), then turned into DecodeArgs.
struct Call {
  splitmla::DecodeConfig config;
  splitmla::DecodeArgs args;
  float kv_scale_value = 1.f;  // CPU tensors, fp8_e4m3: the scale the reference reads
};

Call prepare(const char* op, const at::Tensor& q, const at::Tensor& kv_cache,
             const at::Tensor& block_table, const at::Tensor& seq_lens, const at::Tensor& out,
             const c10::optional<at::Tensor>& lse, const PlanFields& fields, double softmax_scale,
             const c10::optional<at::Tensor>& kv_scale) {
  TORCH_CHECK_VALUE(q.dim() == 4, "splitmla.", op, ": q.dim() = ", q.dim(),
                    ", must be 4 ([batch, q_len, num_heads, 576])");
  TORCH_CHECK_VALUE(q.size(3) == splitmla::kHeadDimQK, "splitmla.", op, ": q.size(3) = ",
                    q.size(3), ", must be 576");
  TORCH_CHECK_VALUE(kv_cache.dim() == 3 || (kv_cache.dim() == 4 && kv_cache.size(2) == 1),
                    "splitmla.", op, ": kv_cache.shape = ", kv_cache.sizes(),
                    ", must be [num_pages, page_size, row] or [num_pages, page_size, 1, row]");
  PlanFields f = fields;
  f.kv_format = kv_format_of(op, kv_cache, q, kv_scale);
  const bool fp8 = splitmla::is_fp8(f.kv_format);
  const int64_t row = fp8 ? splitmla::kv_row_bytes(f.kv_format) : splitmla::kHeadDimQK;
  TORCH_CHECK_VALUE(kv_cache.size(-1) == splitmla::kHeadDimQK || fp8, "splitmla.", op,
                    ": kv_cache.size(-1) = ", kv_cache.size(-1), ", must be 576");
  TORCH_CHECK_VALUE(block_table.dim() == 2, "splitmla.", op, ": block_table.dim() = ",
                    block_table.dim(), ", must be 2 ([batch, max_pages_per_seq])");
  TORCH_CHECK_VALUE(seq_lens.dim() == 1, "splitmla.", op, ": seq_lens.dim() = ", seq_lens.dim(),
                    ", must be 1 ([batch])");
  const int64_t batch = q.size(0), q_len = q.size(1), heads = q.size(2);
  TORCH_CHECK_VALUE(block_table.size(0) == batch, "splitmla.", op, ": block_table.size(0) = ",
                    block_table.size(0), ", must be batch = q.size(0) = ", batch);
  TORCH_CHECK_VALUE(seq_lens.size(0) == batch, "splitmla.", op, ": seq_lens.size(0) = ",
                    seq_lens.size(0), ", must be batch = q.size(0) = ", batch);
  TORCH_CHECK_VALUE(out.dim() == 4 && out.size(0) == batch && out.size(1) == q_len &&
                        out.size(2) == heads && out.size(3) == splitmla::kHeadDimV,
                    "splitmla.", op, ": out.shape = ", out.sizes(), ", must be [", batch, ", ",
                    q_len, ", ", heads, ", 512]");
  const splitmla::DType dtype = to_dtype(op, "q", q.scalar_type());
  TORCH_CHECK_VALUE(out.scalar_type() == q.scalar_type(), "splitmla.", op, ": out.dtype = ",
                    out.scalar_type(), ", must equal q.dtype = ", q.scalar_type());
  TORCH_CHECK_VALUE(block_table.scalar_type() == at::kInt, "splitmla.", op,
                    ": block_table.dtype = ", block_table.scalar_type(), ", must be torch.int32");
  TORCH_CHECK_VALUE(seq_lens.scalar_type() == at::kInt, "splitmla.", op, ": seq_lens.dtype = ",
                    seq_lens.scalar_type(), ", must be torch.int32");
  const at::Device dev = q.device();
  auto same_device = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK_VALUE(t.device() == dev, "splitmla.", op, ": ", name, ".device = ", t.device(),
                      ", must be q.device = ", dev);
  };
  same_device(kv_cache, "kv_cache");
  same_device(block_table, "block_table");
  same_device(seq_lens, "seq_lens");
  same_device(out, "out");
  // Innermost dimensions the kernels read as packed rows.
  TORCH_CHECK_VALUE(q.stride(3) == 1, "splitmla.", op, ": q.stride(3) = ", q.stride(3),
                    ", the last dimension must be contiguous");
  TORCH_CHECK_VALUE(out.stride(3) == 1, "splitmla.", op, ": out.stride(3) = ", out.stride(3),
                    ", the last dimension must be contiguous");
  TORCH_CHECK_VALUE(kv_cache.stride(-1) == 1 && (kv_cache.size(1) == 1 || kv_cache.stride(1) == row),
                    "splitmla.", op, ": kv_cache.stride() = ", kv_cache.strides(),
                    ", rows must be packed at ", row, fp8 ? " bytes" : " elements",
                    " within a page");
  TORCH_CHECK_VALUE(block_table.size(1) <= 1 || block_table.stride(1) == 1, "splitmla.", op,
                    ": block_table.stride(1) = ", block_table.stride(1), ", must be 1");
  TORCH_CHECK_VALUE(batch <= 1 || seq_lens.stride(0) == 1, "splitmla.", op,
                    ": seq_lens.stride(0) = ", seq_lens.stride(0), ", must be 1");

  Call c;
  const int32_t device = dev.is_cuda() ? dev.index() : 0;
  c.config = make_config(op, dtype, heads, q_len, kv_cache.size(1), f, device);
  splitmla::DecodeArgs& a = c.args;
  a.batch = to_i32(op, "batch", batch);
  a.num_pages = to_i32(op, "num_pages", kv_cache.size(0));
  a.max_pages_per_seq = to_i32(op, "max_pages_per_seq", block_table.size(1));
  a.softmax_scale = static_cast<float>(softmax_scale);
  a.q = q.data_ptr();
  a.q_stride_batch = q.stride(0);
  a.q_stride_token = q.stride(1);
  a.q_stride_head = q.stride(2);
  a.kv_cache = kv_cache.data_ptr();
  a.kv_stride_page = kv_cache.stride(0);  // elements of a 16-bit cache, bytes of an fp8 one
  if (f.kv_format == splitmla::KvFormat::kFp8E4M3) {
    a.kv_scale = kv_scale->data_ptr<float>();
    if (kv_scale->is_cpu()) c.kv_scale_value = kv_scale->item<float>();
  }
  a.block_table = block_table.data_ptr<int32_t>();
  a.block_table_stride = block_table.stride(0);
  a.seq_lens = seq_lens.data_ptr<int32_t>();
  a.out = out.data_ptr();
  a.out_stride_batch = out.stride(0);
  a.out_stride_token = out.stride(1);
  a.out_stride_head = out.stride(2);
  if (lse.has_value()) {
    const at::Tensor& l = *lse;
    TORCH_CHECK_VALUE(l.dim() == 3 && l.size(0) == batch && l.size(1) == q_len &&
                          l.size(2) == heads,
                      "splitmla.", op, ": lse.shape = ", l.sizes(), ", must be [", batch, ", ",
                      q_len, ", ", heads, "] (a [batch, heads, q_len] buffer passes as its "
                      "transpose(1, 2))");
    TORCH_CHECK_VALUE(l.scalar_type() == at::kFloat, "splitmla.", op, ": lse.dtype = ",
                      l.scalar_type(), ", must be torch.float32");
    same_device(l, "lse");
    a.lse = l.data_ptr<float>();
    a.lse_stride_batch = l.stride(0);
    a.lse_stride_token = l.stride(1);
    a.lse_stride_head = l.stride(2);
  }
  return c;
}

void check_workspace(const char* op, const at::Tensor& ws, const at::Tensor& q,
                     const splitmla::Plan& plan) {
  TORCH_CHECK_VALUE(ws.scalar_type() == at::kByte, "splitmla.", op, ": workspace.dtype = ",
                    ws.scalar_type(), ", must be torch.uint8");
  TORCH_CHECK_VALUE(ws.device() == q.device(), "splitmla.", op, ": workspace.device = ",
                    ws.device(), ", must be q.device = ", q.device());
  TORCH_CHECK_VALUE(ws.is_contiguous(), "splitmla.", op, ": workspace must be contiguous");
  TORCH_CHECK_VALUE(static_cast<size_t>(ws.numel()) >= plan.workspace_bytes, "splitmla.", op,
                    ": kWorkspaceTooSmall: workspace.numel() = ", ws.numel(),
                    " bytes, the plan needs ", plan.workspace_bytes,
                    " (splitmla.make_plan(...).workspace_bytes)");
}

// CPU: the float64 reference on dense copies of the inputs, written into out/lse (any strides).
void run_cpu(const char* op, const Call& c, const at::Tensor& q, const at::Tensor& kv_cache,
             const at::Tensor& block_table, const at::Tensor& seq_lens, const at::Tensor& out,
             const c10::optional<at::Tensor>& lse) {
  splitmla::HostProblem p;
  p.dtype = c.config.dtype;
  p.batch = c.args.batch;
  p.q_len = c.config.q_len;
  p.causal = c.config.causal;
  p.num_heads = c.config.num_heads;
  p.page_size = c.config.page_size;
  p.num_pages = c.args.num_pages;
  p.max_pages_per_seq = c.args.max_pages_per_seq;
  p.softmax_scale = static_cast<double>(c.args.softmax_scale);  // the float the GPU uses
  auto bits = [](const at::Tensor& t, std::vector<uint16_t>* v) {
    const at::Tensor d = t.contiguous();
    v->resize(static_cast<size_t>(d.numel()));
    std::memcpy(v->data(), d.data_ptr(), v->size() * sizeof(uint16_t));
  };
  bits(q, &p.q);
  p.kv_format = c.config.kv_format;
  if (splitmla::is_fp8(p.kv_format)) {
    const at::Tensor d = kv_cache.contiguous();
    p.kv_bytes.resize(static_cast<size_t>(d.numel()));
    std::memcpy(p.kv_bytes.data(), d.data_ptr(), p.kv_bytes.size());
    if (p.kv_format == splitmla::KvFormat::kFp8E4M3) p.kv_scale = c.kv_scale_value;
  } else {
    bits(kv_cache, &p.kv_cache);
  }
  const at::Tensor bt = block_table.contiguous();
  p.block_table.assign(bt.data_ptr<int32_t>(), bt.data_ptr<int32_t>() + bt.numel());
  const at::Tensor sl = seq_lens.contiguous();
  p.seq_lens.assign(sl.data_ptr<int32_t>(), sl.data_ptr<int32_t>() + sl.numel());
  splitmla::HostOutputs ref;
  check(op, splitmla::reference_decode(p, &ref));
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  out.copy_(at::from_blob(ref.out.data(), out.sizes(), f32));  // rounded to q's dtype once
  if (lse.has_value()) lse->copy_(at::from_blob(ref.lse.data(), lse->sizes(), f32));
}

void decode_out_impl(const at::Tensor& q, const at::Tensor& kv_cache, const at::Tensor& block_table,
                     const at::Tensor& seq_lens, const at::Tensor& out,
                     const c10::optional<at::Tensor>& lse, const at::Tensor& workspace,
                     int64_t max_batch, int64_t max_pages_per_seq, int64_t policy_kind,
                     int64_t policy_value, int64_t num_sms, int64_t part1, double softmax_scale,
                     const c10::optional<at::Tensor>& kv_scale, bool causal) {
  const char* op = "decode_out";
  // causal: which positions each of the q_len query tokens sees (with q_len = 1 both rules
  // give seq_len); it is part of the plan, so it selects the cached plan too.
  const PlanFields f{max_batch, max_pages_per_seq, policy_kind, policy_value, num_sms, part1,
                     causal};
  Call c = prepare(op, q, kv_cache, block_table, seq_lens, out, lse, f, softmax_scale, kv_scale);
  if (q.is_cpu() && c.config.num_sms == 0) {
    TORCH_CHECK_VALUE(false, "splitmla.", op, ": num_sms = 0 asks the device, and q is on the "
                      "CPU: pass the SM count the workspace was planned for (splitmla.make_plan)");
  }
  TORCH_CHECK_VALUE(q.is_cpu() || q.is_cuda(), "splitmla.", op, ": q.device = ", q.device(),
                    ", must be cpu or cuda");
  const c10::cuda::OptionalCUDAGuard guard(q.is_cuda() ? c10::optional<c10::Device>(q.device())
                                                       : c10::nullopt);
  splitmla::Plan plan;
  check(op, cached_plan(c.config, &plan));
  check(op, splitmla::can_implement(plan, c.args));
  check_workspace(op, workspace, q, plan);
  if (q.is_cpu()) {
    run_cpu(op, c, q, kv_cache, block_table, seq_lens, out, lse);
    return;
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  splitmla::Workspace ws;
  ws.data = workspace.data_ptr();
  ws.bytes = static_cast<size_t>(workspace.numel());
  ws.device = q.device().index();
  check(op, splitmla::decode(plan, c.args, ws, stream));
}

int64_t workspace_size_impl(int64_t num_heads, int64_t page_size, int64_t max_batch,
                            int64_t max_pages_per_seq, at::ScalarType dtype, int64_t policy_kind,
                            int64_t policy_value, int64_t num_sms, int64_t part1, int64_t device,
                            int64_t q_len, int64_t kv_format) {
  const char* op = "workspace_size";
  PlanFields f{max_batch, max_pages_per_seq, policy_kind, policy_value, num_sms, part1};
  f.kv_format = static_cast<splitmla::KvFormat>(to_i32(op, "kv_format", kv_format));
  const splitmla::DecodeConfig c = make_config(op, to_dtype(op, "dtype", dtype), num_heads, q_len,
                                               page_size, f, to_i32(op, "device", device));
  splitmla::Plan plan;
  check(op, cached_plan(c, &plan));
  return static_cast<int64_t>(plan.workspace_bytes);
}

std::tuple<at::Tensor, at::Tensor> decode_impl(
    const at::Tensor& q, const at::Tensor& kv_cache, const at::Tensor& block_table,
    const at::Tensor& seq_lens, int64_t max_batch, int64_t max_pages_per_seq, int64_t policy_kind,
    int64_t policy_value, int64_t num_sms, int64_t part1, double softmax_scale,
    const c10::optional<at::Tensor>& kv_scale, bool causal) {
  TORCH_CHECK_VALUE(q.dim() == 4, "splitmla.decode: q.dim() = ", q.dim(),
                    ", must be 4 ([batch, q_len, num_heads, 576])");
  TORCH_CHECK_VALUE(kv_cache.dim() >= 2, "splitmla.decode: kv_cache.dim() = ", kv_cache.dim(),
                    ", must be 3 or 4");
  const splitmla::DType dtype = to_dtype("decode", "q", q.scalar_type());
  const int64_t batch = q.size(0), q_len = q.size(1), heads = q.size(2);
  at::Tensor out = at::empty({batch, q_len, heads, splitmla::kHeadDimV}, q.options());
  at::Tensor lse = at::empty({batch, q_len, heads}, q.options().dtype(at::kFloat));
  // The workspace of this call, from torch's allocator (a captured graph keeps it in its pool).
  const int32_t device = q.is_cuda() ? q.device().index() : 0;
  int64_t bytes = 0;
  {
    const c10::cuda::OptionalCUDAGuard guard(
        q.is_cuda() ? c10::optional<c10::Device>(q.device()) : c10::nullopt);
    PlanFields f{max_batch, max_pages_per_seq, policy_kind, policy_value, num_sms, part1, causal};
    f.kv_format = kv_format_of("decode", kv_cache, q, kv_scale);
    splitmla::Plan plan;
    check("decode", cached_plan(make_config("decode", dtype, heads, q_len, kv_cache.size(1), f,
                                            device),
                                &plan));
    bytes = static_cast<int64_t>(plan.workspace_bytes);
  }
  at::Tensor workspace = at::empty({bytes}, q.options().dtype(at::kByte));
  decode_out_impl(q, kv_cache, block_table, seq_lens, out, lse, workspace, max_batch,
                  max_pages_per_seq, policy_kind, policy_value, num_sms, part1, softmax_scale,
                  kv_scale, causal);
  return {out, lse};
}

// Test aid (torch.ops.splitmla_testing.cxx_api_decode): the decode exactly as a C++ caller of
// the library writes it (README "Using the library"): its own make_plan, its own ScratchPool,
// dense strides from set_dense_strides, decode(plan, args, pool, stream), then a sync before the
// pool is freed. The GPU tests compare the ops with it bit for bit.
std::tuple<at::Tensor, at::Tensor> cxx_api_decode_impl(
    const at::Tensor& q, const at::Tensor& kv_cache, const at::Tensor& block_table,
    const at::Tensor& seq_lens, int64_t max_batch, int64_t max_pages_per_seq, int64_t policy_kind,
    int64_t policy_value, int64_t num_sms, int64_t part1, double softmax_scale) {
  const char* op = "cxx_api_decode";
  TORCH_CHECK_VALUE(q.is_cuda() && q.is_contiguous() && kv_cache.is_contiguous() &&
                        block_table.is_contiguous() && seq_lens.is_contiguous(),
                    "splitmla_testing.", op, ": dense CUDA tensors only");
  const c10::cuda::CUDAGuard guard(q.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  const int64_t batch = q.size(0), heads = q.size(2), page_size = kv_cache.size(1);
  const PlanFields f{max_batch, max_pages_per_seq, policy_kind, policy_value, num_sms, part1};
  const splitmla::DecodeConfig cfg = make_config(op, to_dtype(op, "q", q.scalar_type()), heads,
                                                 q.size(1), page_size, f, q.device().index());
  splitmla::Plan plan;
  check(op, splitmla::make_plan(cfg, &plan));
  splitmla::ScratchPool pool;
  check(op, pool.init(q.device().index()));
  check(op, pool.reserve_for(plan, stream));
  at::Tensor out = at::empty({batch, q.size(1), heads, splitmla::kHeadDimV}, q.options());
  at::Tensor lse = at::empty({batch, q.size(1), heads}, q.options().dtype(at::kFloat));
  splitmla::DecodeArgs a;
  a.batch = to_i32(op, "batch", batch);
  a.num_pages = to_i32(op, "num_pages", kv_cache.size(0));
  a.max_pages_per_seq = to_i32(op, "max_pages_per_seq", block_table.size(1));
  a.softmax_scale = static_cast<float>(softmax_scale);
  a.q = q.data_ptr();
  a.kv_cache = kv_cache.data_ptr();
  a.block_table = block_table.data_ptr<int32_t>();
  a.seq_lens = seq_lens.data_ptr<int32_t>();
  a.out = out.data_ptr();
  a.lse = lse.data_ptr<float>();
  a.set_dense_strides(cfg.num_heads, cfg.q_len, cfg.page_size);
  check(op, splitmla::can_implement(plan, a));
  check(op, splitmla::decode(plan, a, pool, stream));
  TORCH_CHECK(cudaStreamSynchronize(stream) == cudaSuccess, "splitmla_testing.", op,
              ": cudaStreamSynchronize failed");
  return {out, lse};
}

}  // namespace
}  // namespace splitmla_torch

TORCH_LIBRARY(splitmla_testing, m) {
  m.def(
      "cxx_api_decode(Tensor q, Tensor kv_cache, Tensor block_table, Tensor seq_lens, "
      "int max_batch, int max_pages_per_seq, int policy_kind, int policy_value, int num_sms, "
      "int part1, float softmax_scale) -> (Tensor out, Tensor lse)");
}

TORCH_LIBRARY_IMPL(splitmla_testing, CUDA, m) {
  m.impl("cxx_api_decode", &splitmla_torch::cxx_api_decode_impl);
}

TORCH_LIBRARY(splitmla, m) {
  m.def(
      "decode_out(Tensor q, Tensor kv_cache, Tensor block_table, Tensor seq_lens, "
      "Tensor(a!) out, Tensor(b!)? lse, Tensor(c!) workspace, int max_batch, "
      "int max_pages_per_seq, int policy_kind, int policy_value, int num_sms, int part1, "
      "float softmax_scale, Tensor? kv_scale=None, bool causal=True) -> ()");
  m.def(
      "decode(Tensor q, Tensor kv_cache, Tensor block_table, Tensor seq_lens, int max_batch, "
      "int max_pages_per_seq, int policy_kind, int policy_value, int num_sms, int part1, "
      "float softmax_scale, Tensor? kv_scale=None, bool causal=True) -> (Tensor out, Tensor lse)");
  // No tensor arguments: a catch-all kernel (planning is a host function of static bounds).
  m.def(
      "workspace_size(int num_heads, int page_size, int max_batch, int max_pages_per_seq, "
      "ScalarType dtype, int policy_kind, int policy_value, int num_sms, int part1, int device, "
      "int q_len=1, int kv_format=0) -> int",
      &splitmla_torch::workspace_size_impl);
}

TORCH_LIBRARY_IMPL(splitmla, CPU, m) {
  m.impl("decode_out", &splitmla_torch::decode_out_impl);
  m.impl("decode", &splitmla_torch::decode_impl);
}

TORCH_LIBRARY_IMPL(splitmla, CUDA, m) {
  m.impl("decode_out", &splitmla_torch::decode_out_impl);
  m.impl("decode", &splitmla_torch::decode_impl);
}

// Not differentiable (an inference kernel with no backward): fall through autograd, so outputs
// never carry a grad_fn that would fail or warn only at backward time.
TORCH_LIBRARY_IMPL(splitmla, Autograd, m) {
  m.impl("decode_out", torch::CppFunction::makeFallthrough());
  m.impl("decode", torch::CppFunction::makeFallthrough());
}
