// The Hopper part1 variant's shared-memory contract, checked on the CPU: wgmma descriptor
// encodings against golden constants (the values CUTLASS's CuTe produces for the same layouts),
// the planar 128B-swizzled tile layout, and how a plan chooses between the part1 variants.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <set>
#include <string>

#include "kernels/part1/wgmma/sm90_desc.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
// Boost.Test prints statuses and variants by name in failed assertions.
inline std::ostream& boost_test_print_type(std::ostream& os, Status s) { return os << status_name(s); }
inline std::ostream& boost_test_print_type(std::ostream& os, Part1Variant v) {
  return os << part1_variant_name(v);
}
}  // namespace splitmla

using splitmla::kernels::sm90::kSwizzle128B;
using splitmla::kernels::sm90::make_smem_desc;
using splitmla::kernels::sm90::tile_offset;
using splitmla::kernels::sm90::k16_offset_32b;
using splitmla::kernels::sm90::kSwizzle32B;

BOOST_AUTO_TEST_SUITE(descriptors)

BOOST_AUTO_TEST_CASE(k_major_128b_swizzle_matches_the_golden_constant) {
  // LBO 1 (16 B, unused), SBO 64 (1024 B: one 8-row atom), layout type 1 (128B swizzle).
  BOOST_TEST(make_smem_desc(0, 16, 1024, kSwizzle128B) == 0x4000004000010000ull);
}

BOOST_AUTO_TEST_CASE(mn_major_v_view_matches_the_golden_constant) {
  // V read transposed: LBO 512 (8192 B between 64-column groups), SBO 64 (1024 B per 8 rows).
  BOOST_TEST(make_smem_desc(0, 8192, 1024, kSwizzle128B) == 0x4000004002000000ull);
}

BOOST_AUTO_TEST_CASE(start_address_is_stored_in_16_byte_units) {
  const uint64_t d = make_smem_desc(0x1C400, 16, 1024, kSwizzle128B);
  BOOST_TEST((d & 0x3FFFu) == 0x1C40u);
  // Advancing one k16 step inside a swizzled 128-byte row adds 32 bytes = 2 units.
  BOOST_TEST(make_smem_desc(0x1C400 + 32, 16, 1024, kSwizzle128B) - d == 2u);
  // Addresses above the 14-bit field (256 KB) never spill into the LBO bits.
  BOOST_TEST(((make_smem_desc(0x40000, 16, 1024, kSwizzle128B) >> 16) & 0x3FFFu) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tile_layout)

BOOST_AUTO_TEST_CASE(v_column_256_row_16_is_at_34816) {
  // Group 4 (columns 256..319) starts at 4 * 8192; row 16 is two 1024-byte atoms in.
  BOOST_TEST(tile_offset(64, 16, 256) == 34816u);
}

BOOST_AUTO_TEST_CASE(chunks_are_xor_swizzled_by_row) {
  BOOST_TEST(tile_offset(64, 0, 8) == 16u);          // chunk 1 of row 0
  BOOST_TEST(tile_offset(64, 3, 8) == 3u * 128 + 32);  // chunk 1 ^ 3 = 2 of row 3
  BOOST_TEST(tile_offset(64, 7, 63) == 7u * 128 + 0 * 16 + 14);  // chunk 7 ^ 7 = 0, element 7
  BOOST_TEST(tile_offset(64, 9, 575) == 8u * 8192 + 9 * 128 + (7 ^ 1) * 16 + 14);
}

BOOST_AUTO_TEST_CASE(k_major_32b_swizzle_matches_the_golden_constant) {
  // The v2 kernel's qlast buffer: LBO 1 (16 B, unused), SBO 16 (256 B: one 8-row atom of 32-byte
  // rows), layout type 3 (32B swizzle) in bits 62..63.
  BOOST_TEST(make_smem_desc(0, 16, 256, kSwizzle32B) == 0xC000001000010000ull);
  BOOST_TEST(make_smem_desc(0x38400, 16, 256, kSwizzle32B) == 0xC000001000013840ull);
}

BOOST_AUTO_TEST_CASE(k16_blocks_swap_chunks_every_four_rows) {
  BOOST_TEST(k16_offset_32b(0, 0) == 0u);
  BOOST_TEST(k16_offset_32b(0, 8) == 16u);            // chunk 1 of row 0
  BOOST_TEST(k16_offset_32b(3, 9) == 3u * 32 + 16 + 2);  // rows 0..3 keep their chunks
  BOOST_TEST(k16_offset_32b(4, 0) == 4u * 32 + 16);   // rows 4..7 swap them
  BOOST_TEST(k16_offset_32b(4, 15) == 4u * 32 + 14);
  BOOST_TEST(k16_offset_32b(8, 8) == 8u * 32 + 16);   // the next atom starts over
  BOOST_TEST(k16_offset_32b(63, 7) == 63u * 32 + 16 + 14);  // row 63: bit 2 set
}

BOOST_AUTO_TEST_CASE(every_element_of_a_tile_has_its_own_bytes) {
  std::set<uint32_t> seen;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < 576; ++c) {
      const uint32_t off = tile_offset(64, r, c);
      BOOST_TEST_REQUIRE(off < 64u * 1152);
      BOOST_TEST_REQUIRE(off % 2 == 0u);
      seen.insert(off);
    }
  BOOST_TEST(seen.size() == 64u * 576);
}

BOOST_AUTO_TEST_CASE(a_16_byte_chunk_column_hits_8_distinct_bank_groups) {
  // The 8 rows of one swizzle atom put a given logical chunk in 8 different 16-byte slots.
  for (int chunk = 0; chunk < 8; ++chunk) {
    std::set<uint32_t> slots;
    for (int r = 0; r < 8; ++r) slots.insert((tile_offset(64, r, chunk * 8) % 128) / 16);
    BOOST_TEST(slots.size() == 8u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(variant_choice)

splitmla::DecodeConfig config(int heads, splitmla::Part1Variant v) {
  splitmla::DecodeConfig c;
  c.num_heads = heads;
  c.page_size = 64;
  c.max_batch = 4;
  c.max_pages_per_seq = 16;
  c.device = 0;
  c.num_sms = 132;  // plan without reading a device
  c.part1 = v;
  return c;
}

BOOST_AUTO_TEST_CASE(variant_names) {
  BOOST_TEST(std::string(splitmla::part1_variant_name(splitmla::Part1Variant::kAuto)) == "auto");
  BOOST_TEST(std::string(splitmla::part1_variant_name(splitmla::Part1Variant::kMmaSync)) ==
             "mma_sync");
  BOOST_TEST(std::string(splitmla::part1_variant_name(splitmla::Part1Variant::kWgmma)) == "wgmma");
}

BOOST_AUTO_TEST_CASE(auto_keeps_mma_sync_up_to_32_heads) {
  splitmla::Plan p;
  BOOST_TEST_REQUIRE(splitmla::make_plan(config(16, splitmla::Part1Variant::kAuto), &p) ==
                     splitmla::Status::kSuccess);
  BOOST_TEST((p.part1 == splitmla::Part1Variant::kMmaSync));
  BOOST_TEST(p.rows_per_cta == 16);
}

BOOST_AUTO_TEST_CASE(forced_mma_sync_serves_128_heads_in_two_blocks) {
  splitmla::Plan p;
  BOOST_TEST_REQUIRE(splitmla::make_plan(config(128, splitmla::Part1Variant::kMmaSync), &p) ==
                     splitmla::Status::kSuccess);
  BOOST_TEST((p.part1 == splitmla::Part1Variant::kMmaSync));
  BOOST_TEST(p.rows_per_cta == 64);
  BOOST_TEST(p.row_blocks == 2);
}

BOOST_AUTO_TEST_CASE(wgmma_is_chosen_for_many_heads_only_when_built) {
  splitmla::Plan p;
  const splitmla::Status s128 = splitmla::make_plan(config(128, splitmla::Part1Variant::kAuto), &p);
  BOOST_TEST_REQUIRE(s128 == splitmla::Status::kSuccess);
  splitmla::Plan forced;
  const splitmla::Status s3 = splitmla::make_plan(config(3, splitmla::Part1Variant::kWgmma), &forced);
#if defined(SPLITMLA_HAVE_SM90A)
  BOOST_TEST((p.part1 == splitmla::Part1Variant::kWgmma));
  BOOST_TEST(p.row_blocks == 2);
  BOOST_TEST_REQUIRE(s3 == splitmla::Status::kSuccess);
  BOOST_TEST((forced.part1 == splitmla::Part1Variant::kWgmma));
  BOOST_TEST(forced.rows_per_cta == 64);  // 3 heads padded to one 64-row block
#else
  BOOST_TEST((p.part1 == splitmla::Part1Variant::kMmaSync));
  BOOST_TEST(s3 == splitmla::Status::kNotSupported);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("sm_90a") != std::string::npos);
#endif
}

// fp8 caches: the wgmma family reads fp8_e4m3 (its own instances, when built), never fp8_ds_mla;
// auto takes it for fp8_e4m3 from 64 rows at q_len = 1 (measured faster at 128 heads), keeps
// mma.sync for 16 heads, for q_len > 1 and for every fp8_ds_mla shape.
BOOST_AUTO_TEST_CASE(wgmma_reads_fp8_e4m3_when_forced_and_never_ds_mla) {
  splitmla::DecodeConfig c = config(128, splitmla::Part1Variant::kWgmma);
  c.kv_format = splitmla::KvFormat::kFp8E4M3;
  splitmla::Plan p;
  const splitmla::Status se = splitmla::make_plan(c, &p);
#if defined(SPLITMLA_HAVE_SM90A)
  BOOST_TEST_REQUIRE(se == splitmla::Status::kSuccess, splitmla::status_message(se));
  BOOST_TEST((p.part1 == splitmla::Part1Variant::kWgmma));
  BOOST_TEST(p.rows_per_cta == 64);
  BOOST_TEST(p.row_blocks == 2);
#else
  BOOST_TEST(se == splitmla::Status::kNotSupported);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("sm_90a") != std::string::npos);
#endif
  c.kv_format = splitmla::KvFormat::kFp8DsMla;
  BOOST_TEST(splitmla::make_plan(c, &p) == splitmla::Status::kNotSupported);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("fp8_ds_mla") != std::string::npos,
             splitmla::last_error_detail());
  struct AutoCase {
    splitmla::KvFormat f;
    int heads, q_len;
    bool wgmma;  // auto's expected family where the wgmma instances are built
  };
  for (const AutoCase ac : {AutoCase{splitmla::KvFormat::kFp8E4M3, 128, 1, true},
                            AutoCase{splitmla::KvFormat::kFp8E4M3, 64, 1, true},
                            AutoCase{splitmla::KvFormat::kFp8E4M3, 32, 1, false},
                            AutoCase{splitmla::KvFormat::kFp8E4M3, 16, 1, false},
                            AutoCase{splitmla::KvFormat::kFp8E4M3, 64, 2, false},
                            AutoCase{splitmla::KvFormat::kFp8DsMla, 128, 1, false}}) {
    BOOST_TEST_CONTEXT(splitmla::kv_format_name(ac.f, c.dtype) << " heads " << ac.heads
                                                                 << " q_len " << ac.q_len) {
      splitmla::DecodeConfig a = config(ac.heads, splitmla::Part1Variant::kAuto);
      a.kv_format = ac.f;
      a.q_len = ac.q_len;
      BOOST_TEST_REQUIRE(splitmla::make_plan(a, &p) == splitmla::Status::kSuccess,
                         splitmla::last_error_detail());
#if defined(SPLITMLA_HAVE_SM90A)
      const bool expect_wgmma = ac.wgmma;
#else
      const bool expect_wgmma = false;
#endif
      BOOST_TEST((p.part1 == (expect_wgmma ? splitmla::Part1Variant::kWgmma
                                           : splitmla::Part1Variant::kMmaSync)));
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_variant_is_refused_by_name) {
  splitmla::Plan p;
  BOOST_TEST(splitmla::make_plan(config(16, static_cast<splitmla::Part1Variant>(7)), &p) ==
             splitmla::Status::kNotSupported);
  BOOST_TEST(std::string(splitmla::last_error_detail()).find("part1 = 7") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
