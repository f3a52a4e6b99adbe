#include "splitmla/types.hpp"

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

void DecodeArgs::set_dense_strides(int32_t num_heads, int32_t q_len, int32_t page_size) {
  q_stride_head = kHeadDimQK;
  q_stride_token = static_cast<int64_t>(num_heads) * kHeadDimQK;
  q_stride_batch = static_cast<int64_t>(q_len) * q_stride_token;
  kv_stride_page = static_cast<int64_t>(page_size) * kHeadDimQK;
  block_table_stride = max_pages_per_seq;
  out_stride_head = kHeadDimV;
  out_stride_token = static_cast<int64_t>(num_heads) * kHeadDimV;
  out_stride_batch = static_cast<int64_t>(q_len) * out_stride_token;
  lse_stride_head = 1;
  lse_stride_token = num_heads;
  lse_stride_batch = static_cast<int64_t>(q_len) * num_heads;
}

}  // namespace splitmla
