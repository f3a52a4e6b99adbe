#include "splitmla/types.hpp"

#include <cstring>
#include <initializer_list>

namespace splitmla {

const char* dtype_name(DType d) noexcept {
  switch (d) {
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
  }
  return "unknown";
}

const char* part1_variant_name(Part1Variant v) noexcept {
  switch (v) {
    case Part1Variant::kAuto: return "auto";
    case Part1Variant::kMmaSync: return "mma_sync";
    case Part1Variant::kWgmma: return "wgmma";
  }
  return "unknown";
}

const char* kv_format_name(KvFormat f, DType dtype) noexcept {
  switch (f) {
    case KvFormat::kSameAsQ: return dtype_name(dtype);
    case KvFormat::kFp8E4M3: return "fp8_e4m3";
    case KvFormat::kFp8DsMla: return "fp8_ds_mla";
  }
  return "unknown";
}

bool parse_kv_format(const char* name, DType dtype, KvFormat* out) noexcept {
  if (name == nullptr || out == nullptr) return false;
  for (KvFormat f : {KvFormat::kSameAsQ, KvFormat::kFp8E4M3, KvFormat::kFp8DsMla}) {
    if (std::strcmp(name, kv_format_name(f, dtype)) == 0) {
      *out = f;
      return true;
    }
  }
  return false;
}

int32_t kv_row_bytes(KvFormat f) noexcept {
  switch (f) {
    case KvFormat::kSameAsQ: return 2 * kHeadDimQK;
    case KvFormat::kFp8E4M3: return kFp8E4M3RowBytes;
    case KvFormat::kFp8DsMla: return kFp8DsMlaRowBytes;
  }
  return 0;
}

void DecodeArgs::set_dense_strides(int32_t num_heads, int32_t q_len, int32_t page_size,
                                   KvFormat kv_format) {
  q_stride_head = kHeadDimQK;
  q_stride_token = static_cast<int64_t>(num_heads) * kHeadDimQK;
  q_stride_batch = static_cast<int64_t>(q_len) * q_stride_token;
  kv_stride_page = static_cast<int64_t>(page_size) *
                   (is_fp8(kv_format) ? kv_row_bytes(kv_format) : kHeadDimQK);
  block_table_stride = max_pages_per_seq;
  out_stride_head = kHeadDimV;
  out_stride_token = static_cast<int64_t>(num_heads) * kHeadDimV;
  out_stride_batch = static_cast<int64_t>(q_len) * out_stride_token;
  lse_stride_head = 1;
  lse_stride_token = num_heads;
  lse_stride_batch = static_cast<int64_t>(q_len) * num_heads;
}

}  // namespace splitmla
