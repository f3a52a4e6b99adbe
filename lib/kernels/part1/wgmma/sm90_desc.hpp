// wgmma shared-memory descriptors and the swizzled tile layout of the Hopper part1 variant.
// Plain constexpr functions (host and device), so their encodings are checked on the CPU against
// golden constants (tests/core/test_sm90_desc.cpp).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SPLITMLA_HD_CONSTEXPR __host__ __device__ constexpr
#else
#define SPLITMLA_HD_CONSTEXPR constexpr
#endif

namespace splitmla::kernels::sm90 {

// Layout type of a descriptor (bits 62..63): 1 = 128-byte swizzle (2 = 64B, 3 = 32B, 0 = none).
inline constexpr uint32_t kSwizzle128B = 1;
inline constexpr uint32_t kSwizzle32B = 3;

// wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"):
//   bits  0..13  start address >> 4        bits 16..29  leading-dimension byte offset >> 4
//   bits 32..45  stride-dimension byte offset >> 4   bits 49..51  base offset (0: atoms 1024-aligned)
//   bits 62..63  layout type
// K-major 128B-swizzled operand (rows of 64 bf16 = 128 bytes, 8-row atoms of 1024 bytes):
//   lbo = 16 (unused), sbo = 1024.  MN-major (transposed B): lbo = byte stride between 64-element
//   blocks along N, sbo = byte stride between 8-row groups along K.
SPLITMLA_HD_CONSTEXPR uint64_t make_smem_desc(uint32_t smem_addr, uint32_t lbo_bytes,
                                                      uint32_t sbo_bytes, uint32_t layout) {
  return static_cast<uint64_t>((smem_addr >> 4) & 0x3FFFu) |
         (static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFFu) << 32) |
         (static_cast<uint64_t>(layout & 3u) << 62);
}

// The descriptor templates (start address 0) of the planar 128B-swizzled 64-row tiles every
// wgmma kernel uses: K-major (Q, K, P) and MN-major (V: 64-column groups of 64 x 128 bytes).
inline constexpr uint64_t kDescKMajor = make_smem_desc(0, 16, 1024, kSwizzle128B);
inline constexpr uint64_t kDescVMajor = make_smem_desc(0, 64 * 128, 1024, kSwizzle128B);

// A template's descriptor for the operand at shared-window address addr.
SPLITMLA_HD_CONSTEXPR uint64_t desc_at(uint64_t tmpl, uint32_t addr) {
  return tmpl | ((addr >> 4) & 0x3FFFu);
}

// Byte offset of element (row r, column c) of a [rows, 576] tile in the planar 128B-swizzled
// layout every part1 wgmma buffer uses: 9 groups of 64 columns, each group `rows` x 128 bytes,
// 16-byte chunks XORed by (r & 7). rows must be a multiple of 8; buffers 1024-byte aligned.
SPLITMLA_HD_CONSTEXPR uint32_t tile_offset(int rows, int r, int c) {
  return static_cast<uint32_t>((c >> 6) * rows * 128 + r * 128 +
                               ((((c & 63) >> 3) ^ (r & 7)) << 4) + (c & 7) * 2);
}

// Byte offset of element (row r, column c < 16) of a [rows, 16] K-major block in the 32-byte
// swizzle (one k16 step of Q in the v2 kernel's qlast buffer): rows of 32 bytes, 8-row atoms of
// 256 bytes (descriptor: lbo 16 unused, sbo 256, kSwizzle32B), the two 16-byte chunks of a row
// swapped when bit 2 of r is set (address bit 4 ^= bit 7). Buffers 256-byte aligned.
SPLITMLA_HD_CONSTEXPR uint32_t k16_offset_32b(int r, int c) {
  return static_cast<uint32_t>(r * 32 + (((c >> 3) ^ ((r >> 2) & 1)) << 4) + (c & 7) * 2);
}

}  // namespace splitmla::kernels::sm90
