// Host types: dtype names use the fixture format's spelling, and set_dense_strides describes
// densely packed row-major tensors (each element at a distinct offset, no gaps, 64-bit strides).
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>

#include "splitmla/policy.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

using splitmla::DecodeArgs;
using splitmla::DType;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;

BOOST_AUTO_TEST_SUITE(dtype)

BOOST_AUTO_TEST_CASE(names_match_the_fixture_format) {
  BOOST_TEST(std::string(splitmla::dtype_name(DType::kBFloat16)) == "bfloat16");
  BOOST_TEST(std::string(splitmla::dtype_name(DType::kFloat16)) == "float16");
}

BOOST_AUTO_TEST_CASE(an_unknown_dtype_is_named_unknown) {
  BOOST_TEST(std::string(splitmla::dtype_name(static_cast<DType>(7))) == "unknown");
  BOOST_TEST(std::string(splitmla::dtype_name(static_cast<DType>(-1))) == "unknown");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dense_strides)

namespace {

struct Shape {
  int32_t batch, q_len, heads, page_size, num_pages, max_pages;
};

DecodeArgs dense(const Shape& s) {
  DecodeArgs a;
  a.batch = s.batch;
  a.num_pages = s.num_pages;
  a.max_pages_per_seq = s.max_pages;
  a.set_dense_strides(s.heads, s.q_len, s.page_size);
  return a;
}

// Walks every index of a 4-d tensor [n0, n1, n2, inner] (inner contiguous) through the strides
// and checks that the offsets are exactly 0 .. n0*n1*n2*inner - 1 in row-major order.
void check_packed(const char* what, int64_t n0, int64_t n1, int64_t n2, int64_t inner,
                  int64_t s0, int64_t s1, int64_t s2) {
  BOOST_TEST_CONTEXT(what) {
    int64_t expected = 0;
    bool ok = true;
    for (int64_t i = 0; i < n0 && ok; ++i)
      for (int64_t j = 0; j < n1 && ok; ++j)
        for (int64_t k = 0; k < n2 && ok; ++k, expected += inner)
          ok = (i * s0 + j * s1 + k * s2) == expected;
    BOOST_TEST(ok, "offsets are not row-major packed");
    BOOST_TEST(expected == n0 * n1 * n2 * inner);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(q_out_lse_kv_and_table_are_row_major_packed) {
  const Shape shapes[] = {
      {1, 1, 1, 1, 1, 1},   {3, 1, 3, 16, 9, 7},     {2, 1, 63, 64, 5, 2},
      {4, 1, 127, 128, 3, 1}, {2, 3, 16, 32, 4, 4},  {5, 1, 128, 2, 11, 33},
  };
  for (const Shape& s : shapes) {
    BOOST_TEST_CONTEXT("batch " << s.batch << " q_len " << s.q_len << " heads " << s.heads
                                << " page " << s.page_size) {
      const DecodeArgs a = dense(s);
      check_packed("q", s.batch, s.q_len, s.heads, kHeadDimQK, a.q_stride_batch, a.q_stride_token,
                   a.q_stride_head);
      check_packed("out", s.batch, s.q_len, s.heads, kHeadDimV, a.out_stride_batch,
                   a.out_stride_token, a.out_stride_head);
      check_packed("lse", s.batch, s.q_len, s.heads, 1, a.lse_stride_batch, a.lse_stride_token,
                   a.lse_stride_head);
      // kv_cache [num_pages, page_size, 576]: rows packed at 576, pages back to back.
      check_packed("kv_cache", s.num_pages, 1, s.page_size, kHeadDimQK, a.kv_stride_page, 0,
                   kHeadDimQK);
      // block_table [batch, max_pages_per_seq].
      check_packed("block_table", s.batch, 1, 1, s.max_pages, a.block_table_stride, 0, 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(strides_do_not_overflow_32_bits) {
  // 128 heads x 576 x q_len 40000 passes 2^31 elements per request: the stride must be 64-bit.
  DecodeArgs a;
  a.max_pages_per_seq = 4;
  a.set_dense_strides(128, 40000, 128);
  const int64_t expected = int64_t{40000} * 128 * kHeadDimQK;
  BOOST_TEST(expected > int64_t{INT32_MAX});
  BOOST_TEST(a.q_stride_batch == expected);
  BOOST_TEST(a.out_stride_batch == int64_t{40000} * 128 * kHeadDimV);
}

BOOST_AUTO_TEST_CASE(only_strides_change) {
  DecodeArgs a;
  int32_t table[1] = {0}, lens[1] = {1};
  float lse[1] = {0.f};
  a.batch = 3;
  a.num_pages = 8;
  a.max_pages_per_seq = 5;
  a.softmax_scale = 0.125f;
  a.block_table = table;
  a.seq_lens = lens;
  a.lse = lse;
  a.set_dense_strides(16, 1, 64);
  BOOST_TEST(a.batch == 3);
  BOOST_TEST(a.num_pages == 8);
  BOOST_TEST(a.max_pages_per_seq == 5);
  BOOST_TEST(a.softmax_scale == 0.125f);
  BOOST_TEST(a.block_table == table);
  BOOST_TEST(a.seq_lens == lens);
  BOOST_TEST(a.lse == lse);
  BOOST_TEST(a.q == nullptr);
  BOOST_TEST(a.out == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(kv_format)

BOOST_AUTO_TEST_CASE(names_row_bytes_and_parsing) {
  using splitmla::KvFormat;
  BOOST_TEST(std::string(splitmla::kv_format_name(KvFormat::kSameAsQ, DType::kBFloat16)) == "bfloat16");
  BOOST_TEST(std::string(splitmla::kv_format_name(KvFormat::kSameAsQ, DType::kFloat16)) == "float16");
  BOOST_TEST(std::string(splitmla::kv_format_name(KvFormat::kFp8E4M3, DType::kFloat16)) == "fp8_e4m3");
  BOOST_TEST(std::string(splitmla::kv_format_name(KvFormat::kFp8DsMla, DType::kBFloat16)) == "fp8_ds_mla");
  BOOST_TEST(std::string(splitmla::kv_format_name(static_cast<KvFormat>(5), DType::kBFloat16)) == "unknown");
  BOOST_TEST(splitmla::kv_row_bytes(KvFormat::kSameAsQ) == 1152);
  BOOST_TEST(splitmla::kv_row_bytes(KvFormat::kFp8E4M3) == 576);
  BOOST_TEST(splitmla::kv_row_bytes(KvFormat::kFp8DsMla) == 656);
  BOOST_TEST(splitmla::kv_row_bytes(static_cast<KvFormat>(5)) == 0);
  KvFormat f = KvFormat::kFp8E4M3;
  BOOST_TEST(splitmla::parse_kv_format("bfloat16", DType::kBFloat16, &f));
  BOOST_TEST((f == KvFormat::kSameAsQ));
  BOOST_TEST(splitmla::parse_kv_format("fp8_ds_mla", DType::kBFloat16, &f));
  BOOST_TEST((f == KvFormat::kFp8DsMla));
  // A 16-bit cache of the other dtype is not a format of this call.
  BOOST_TEST(!splitmla::parse_kv_format("float16", DType::kBFloat16, &f));
  BOOST_TEST(!splitmla::parse_kv_format("fp8", DType::kBFloat16, &f));
  BOOST_TEST(!splitmla::parse_kv_format(nullptr, DType::kBFloat16, &f));
}

BOOST_AUTO_TEST_CASE(dense_page_strides_of_fp8_caches_are_in_bytes) {
  using splitmla::KvFormat;
  DecodeArgs a;
  a.max_pages_per_seq = 4;
  a.set_dense_strides(16, 1, 64, KvFormat::kFp8E4M3);
  BOOST_TEST(a.kv_stride_page == 64 * 576);
  a.set_dense_strides(16, 1, 64, KvFormat::kFp8DsMla);
  BOOST_TEST(a.kv_stride_page == 64 * 656);
  a.set_dense_strides(16, 1, 64);
  BOOST_TEST(a.kv_stride_page == 64 * kHeadDimQK);  // elements for 16-bit caches
  BOOST_TEST(a.q_stride_head == kHeadDimQK);         // q strides are elements either way
}

BOOST_AUTO_TEST_SUITE_END()

// The one spelling of a split policy (splitmla/policy.hpp): what policy_text prints, parse_policy
// reads back to the same policy; the CSV kind names; a bad text names the field and the value.
BOOST_AUTO_TEST_CASE(policy_text_round_trips_through_parse_policy) {
  using splitmla::SplitPolicy;
  for (const SplitPolicy p : {SplitPolicy::automatic(), SplitPolicy::forced(1),
                              SplitPolicy::forced(splitmla::kMaxForcedSplits),
                              SplitPolicy::chunk(1), SplitPolicy::chunk(1 << 30)}) {
    const std::string text = splitmla::policy_text(p);
    BOOST_TEST_CONTEXT(text) {
      SplitPolicy q = SplitPolicy::chunk(99);
      BOOST_TEST((splitmla::parse_policy(text, &q) == splitmla::Status::kSuccess));
      BOOST_TEST(int(q.kind) == int(p.kind));
      if (p.kind != splitmla::SplitPolicyKind::kAuto) BOOST_TEST(q.value == p.value);
      BOOST_TEST(text.rfind(splitmla::policy_kind_name(p.kind), 0) == 0u);
    }
  }
  BOOST_TEST(std::string(splitmla::policy_kind_name(splitmla::SplitPolicyKind::kForced)) == "forced");
  SplitPolicy p;
  const splitmla::Status s = splitmla::parse_policy("forced:1025", &p);
  BOOST_TEST(splitmla::status_name(s) == "kBadPolicy");
  const std::string msg = splitmla::status_message(s);
  BOOST_TEST(msg.find("policy") != std::string::npos, msg);
  BOOST_TEST(msg.find("forced:1025") != std::string::npos, msg);
  BOOST_TEST((splitmla::parse_policy("auto", nullptr) == splitmla::Status::kNullPointer));
}
