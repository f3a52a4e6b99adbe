// SplitMLA host-facing types: dtypes, the split policy, the static decode configuration and the
// per-call argument views. Semantics: docs/semantics.md (section 1).
#pragma once

#include "splitmla/export.hpp"

#include <cstddef>
#include <cstdint>

namespace splitmla {

inline constexpr int kHeadDimQK = 576;   // 512 latent + 64 rope
inline constexpr int kHeadDimV = 512;    // the value is the first 512 elements of each KV row
inline constexpr int kMaxHeads = 128;
inline constexpr int kMaxPageSize = 128;
inline constexpr int kMaxBatch = 65536;
inline constexpr int kMaxForcedSplits = 1024;
inline constexpr int kMaxQLen = 16;      // query tokens per request (multi-token prediction)
// Longest planned sequence (max_pages_per_seq * page_size): int32 positions with a tile of
// headroom in the kernels.
inline constexpr int kMaxSeqLen = 2147483647 - 256;

enum class DType : int32_t { kBFloat16 = 0, kFloat16 = 1 };

// "bfloat16" / "float16" (the fixture format's spelling); "unknown" otherwise.
SPLITMLA_API const char* dtype_name(DType d) noexcept;

// How the KV cache stores its rows (docs/semantics.md section 1). q and out stay in `dtype`;
// an fp8 row is dequantized on its way to the tensor cores.
enum class KvFormat : int32_t {
  kSameAsQ = 0,   // 576 values of `dtype` (bf16 or fp16), 1152 bytes per row
  kFp8E4M3 = 1,   // 576 e4m3 bytes; value = e4m3 * kv_scale, one float32 scale per call
  kFp8DsMla = 2,  // 656 bytes: 512 e4m3, 4 float32 scales (one per 128 latent values), 64 bf16
};
inline constexpr int kFp8E4M3RowBytes = 576;
inline constexpr int kFp8DsMlaRowBytes = 656;
inline constexpr int kFp8DsMlaScaleOffset = 512;  // byte offset of the 4 scales in a row
inline constexpr int kFp8DsMlaRopeOffset = 528;   // byte offset of the 64 bf16 rope values

// "fp8_e4m3" / "fp8_ds_mla"; for kSameAsQ the name of `dtype` ("bfloat16" / "float16"), which
// is the fixture format's spelling; "unknown" otherwise.
SPLITMLA_API const char* kv_format_name(KvFormat f, DType dtype) noexcept;
// Parses the names above (kSameAsQ for the dtype's own name); false for anything else.
SPLITMLA_API bool parse_kv_format(const char* name, DType dtype, KvFormat* out) noexcept;
// Bytes of one cache row: 1152, 576 or 656; 0 for an unknown format.
SPLITMLA_API int32_t kv_row_bytes(KvFormat f) noexcept;
inline constexpr bool is_fp8(KvFormat f) { return f == KvFormat::kFp8E4M3 || f == KvFormat::kFp8DsMla; }

enum class SplitPolicyKind : int32_t {
  kAuto = 0,    // device planner balances tokens over one wave of CTAs (README: "Split policies")
  kForced = 1,  // every request is cut into `value` equal ranges of ceil(n / value) positions
  kChunk = 2,   // every request is cut into ranges of `value` tokens (batch invariant)
};

// Which part1 kernel runs (README: "part1 variants"). kAuto picks the Hopper wgmma kernel on an
// sm_90 device when the library was built for sm_90a, for 32 rows (q_len x heads) or more of a
// 16-bit cache at any q_len and for 64 heads or more of an fp8_e4m3 cache at q_len = 1; the
// mma.sync kernel otherwise (every fp8_ds_mla cache included). The other values force one (tests and studies
// compare them); the wgmma kernel serves any q_len when forced, and refuses fp8_ds_mla
// (kNotSupported).
enum class Part1Variant : int32_t {
  kAuto = 0,
  kMmaSync = 1,  // mma.sync m16n8k16, 16/32/64 query rows per CTA: the checked baseline
  kWgmma = 2,    // sm_90a warpgroup MMAs, 64 query rows per CTA (rows padded to 64)
};

// "auto" / "mma_sync" / "wgmma"; "unknown" otherwise.
SPLITMLA_API const char* part1_variant_name(Part1Variant v) noexcept;

struct SplitPolicy {
  SplitPolicyKind kind = SplitPolicyKind::kAuto;
  int32_t value = 0;  // forced: split count 1..kMaxForcedSplits; chunk: tokens >= 1; auto: ignored

  static constexpr SplitPolicy automatic() { return {SplitPolicyKind::kAuto, 0}; }
  static constexpr SplitPolicy forced(int32_t splits) { return {SplitPolicyKind::kForced, splits}; }
  static constexpr SplitPolicy chunk(int32_t tokens) { return {SplitPolicyKind::kChunk, tokens}; }
};

// Static quantities of a decode: they bound the grid and the workspace, so one plan and one
// workspace serve every step (and every CUDA-graph replay) whose data stays within them.
struct DecodeConfig {
  DType dtype = DType::kBFloat16;
  int32_t num_heads = 0;          // 1..128
  int32_t q_len = 1;              // 1..16 query tokens per request, the same for the whole call
  // Visibility of a request's q_len tokens (docs/semantics.md section 1): causal (default) lets
  // token t see positions [0, seq_len - q_len + t + 1); not causal, every token sees all seq_len.
  bool causal = true;
  int32_t page_size = 0;          // power of two, 1..128
  int32_t max_batch = 0;          // 1..65536: largest batch any run of this plan will see
  int32_t max_pages_per_seq = 0;  // widest block table; max_seq_len = max_pages_per_seq * page_size
  SplitPolicy policy{};
  int32_t device = -1;            // CUDA device ordinal; -1: the current device at plan time
  int32_t num_sms = 0;            // 0: read from the device; > 0: override (studies, CPU tests)
  Part1Variant part1 = Part1Variant::kAuto;  // part1 kernel; kAuto chooses (see Part1Variant)
  // Query rows (q_len x num_heads, token-major) per part1 CTA of the mma.sync kernel: 0 chooses
  // (16, 32 or 64 by the row count); 16, 32 or 64 force a tier (tests and studies: two calls
  // are bitwise comparable only on the same tier). The wgmma kernel always takes 64.
  int32_t rows_per_cta = 0;
  KvFormat kv_format = KvFormat::kSameAsQ;    // fp8 caches: mma_sync part1 only (for now)
};

// One decode call's tensors. Every pointer is device memory; strides are in elements, except
// kv_stride_page of an fp8 cache, which is in bytes. The last dimension of q, kv_cache and out
// is contiguous.
struct SPLITMLA_API DecodeArgs {
  int32_t batch = 0;              // 1..config.max_batch
  int32_t num_pages = 0;          // pages in kv_cache: valid page ids are 0..num_pages-1
  int32_t max_pages_per_seq = 0;  // block table width (<= config.max_pages_per_seq)
  float softmax_scale = 0.f;      // finite, > 0

  const void* q = nullptr;        // [batch, q_len, num_heads, 576], dtype
  int64_t q_stride_batch = 0, q_stride_token = 0, q_stride_head = 0;

  // [num_pages, page_size, row]: rows packed at kv_row_bytes(config.kv_format) bytes (576
  // values of dtype, or the raw bytes of an fp8 row).
  const void* kv_cache = nullptr;
  int64_t kv_stride_page = 0;     // elements for 16-bit caches, bytes for fp8 caches
  // fp8_e4m3: one float32 in device memory, read by the kernels (finite and > 0, else every
  // request's output is NaN and flagged kErrBadScale). Not read for the other formats.
  const float* kv_scale = nullptr;

  const int32_t* block_table = nullptr;  // [batch, max_pages_per_seq]
  int64_t block_table_stride = 0;

  const int32_t* seq_lens = nullptr;     // [batch], KV tokens per request (new token included)

  void* out = nullptr;            // [batch, q_len, num_heads, 512], dtype
  int64_t out_stride_batch = 0, out_stride_token = 0, out_stride_head = 0;

  float* lse = nullptr;           // optional [batch, q_len, num_heads], natural log; nullptr: none
  int64_t lse_stride_batch = 0, lse_stride_token = 0, lse_stride_head = 0;

  // Fills the strides of densely packed tensors (the usual layout) from the extents.
  void set_dense_strides(int32_t num_heads, int32_t q_len, int32_t page_size,
                         KvFormat kv_format = KvFormat::kSameAsQ);
};

// A device buffer lent to a run: carved by the plan, never allocated by the run.
struct Workspace {
  void* data = nullptr;
  size_t bytes = 0;
  int32_t device = -1;
};

// Per-request error flags recorded on the device (bits of ErrorReport::request_flags).
enum ErrorBits : uint32_t {
  kErrBadPageId = 1u,   // a block-table entry of a visible position was outside [0, num_pages)
  kErrBadSeqLen = 2u,   // seq_len negative or beyond max_pages_per_seq * page_size
  kErrBadScale = 4u,    // an fp8 scale the request needs is NaN, infinite, zero or negative
};

}  // namespace splitmla
