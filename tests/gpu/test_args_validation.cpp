// Host validation: a table of bad configurations and bad call arguments, each rejected with the
// expected status and a message naming the field and its value. The configuration checks and
// can_implement(plan, args) need no GPU. On a GPU, the same bad arguments (and bad workspaces) go
// through decode / enqueue_plan / enqueue_run, and the poisoned out and lse buffers show that no
// kernel ran.
#include <boost/test/unit_test.hpp>

#include <cctype>
#include <functional>
#include <limits>
#include <type_traits>

#include "gpu/gpu_test_util.hpp"

using namespace gputest;
using splitmla::DecodeArgs;
using splitmla::DecodeConfig;
using splitmla::SplitPolicy;
using splitmla::SplitPolicyKind;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkip);

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// `word` occurs in `text` as a whole identifier (so "q" does not match inside "seq_lens").
bool has_word(const std::string& text, const std::string& word) {
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool left = at == 0 || !ident_char(text[at - 1]);
    const bool right = at + word.size() >= text.size() || !ident_char(text[at + word.size()]);
    if (left && right) return true;
  }
  return false;
}

// One row of a table: what to break, the status expected, the field names any of which the
// message must name, and the value text it must contain ("" for null pointers).
template <class T>
struct Row {
  std::string what;
  std::function<void(T&)> mutate;
  Status expect;
  std::vector<std::string> fields;
  std::string value;
};

void check_message(Status got, const std::vector<std::string>& fields, const std::string& value) {
  const std::string msg = splitmla::status_message(got);
  bool named = false;
  for (const auto& f : fields) named = named || has_word(msg, f);
  BOOST_TEST(named, "message does not name the field: \"" << msg << "\"");
  if (!value.empty())
    BOOST_TEST(lower(msg).find(lower(value)) != std::string::npos,
               "message does not hold the value " << value << ": \"" << msg << "\"");
}

// ---------------------------------------------------------------------------------------------
// Configurations.

DecodeConfig base_config() {
  DecodeConfig c;
  c.dtype = DType::kBFloat16;
  c.num_heads = 16;
  c.q_len = 1;
  c.page_size = 16;
  c.max_batch = 8;
  c.max_pages_per_seq = 32;
  c.policy = SplitPolicy::automatic();
  c.device = 0;
  c.num_sms = 132;  // given, so no device query is needed
  return c;
}

const std::vector<std::string> kPolicyFields{"policy", "split", "splits", "chunk", "value"};

std::vector<Row<DecodeConfig>> config_rows() {
  using S = Status;
  return {
      {"num_heads 0", [](DecodeConfig& c) { c.num_heads = 0; }, S::kBadNumHeads, {"num_heads"}, "0"},
      {"num_heads 129", [](DecodeConfig& c) { c.num_heads = 129; }, S::kBadNumHeads, {"num_heads"}, "129"},
      {"num_heads -1", [](DecodeConfig& c) { c.num_heads = -1; }, S::kBadNumHeads, {"num_heads"}, "-1"},
      {"page_size 3", [](DecodeConfig& c) { c.page_size = 3; }, S::kBadPageSize, {"page_size"}, "3"},
      {"page_size 256", [](DecodeConfig& c) { c.page_size = 256; }, S::kBadPageSize, {"page_size"}, "256"},
      {"page_size 0", [](DecodeConfig& c) { c.page_size = 0; }, S::kBadPageSize, {"page_size"}, "0"},
      {"page_size 48", [](DecodeConfig& c) { c.page_size = 48; }, S::kBadPageSize, {"page_size"}, "48"},
      {"q_len 0", [](DecodeConfig& c) { c.q_len = 0; }, S::kBadShape, {"q_len"}, "0"},
      {"q_len 17", [](DecodeConfig& c) { c.q_len = 17; }, S::kBadShape, {"q_len"}, "17"},
      {"q_len -2", [](DecodeConfig& c) { c.q_len = -2; }, S::kBadShape, {"q_len"}, "-2"},
      {"rows_per_cta 16 on the wgmma kernel", [](DecodeConfig& c) {
         c.rows_per_cta = 16;
         c.part1 = splitmla::Part1Variant::kWgmma;
       }, S::kNotSupported, {"rows_per_cta"}, "16"},
      {"max_batch 0", [](DecodeConfig& c) { c.max_batch = 0; }, S::kBadBatch, {"max_batch"}, "0"},
      {"max_batch 70000", [](DecodeConfig& c) { c.max_batch = 70000; }, S::kBadBatch, {"max_batch"}, "70000"},
      {"max_batch 65537", [](DecodeConfig& c) { c.max_batch = 65537; }, S::kBadBatch, {"max_batch"}, "65537"},
      {"max_pages_per_seq 0", [](DecodeConfig& c) { c.max_pages_per_seq = 0; }, S::kBadShape,
       {"max_pages_per_seq"}, "0"},
      {"max_pages_per_seq -5", [](DecodeConfig& c) { c.max_pages_per_seq = -5; }, S::kBadShape,
       {"max_pages_per_seq"}, "-5"},
      // Positions are int32 with a tile of headroom: 2^24 pages of 128 rows is one page too many.
      {"max_pages_per_seq * page_size 2^31", [](DecodeConfig& c) {
         c.page_size = 128;
         c.max_pages_per_seq = 16777216;
       }, S::kBadShape, {"max_pages_per_seq * page_size"}, "2147483648"},
      {"max_pages_per_seq * page_size kMaxSeqLen + 1", [](DecodeConfig& c) {
         c.page_size = 1;
         c.max_pages_per_seq = splitmla::kMaxSeqLen + 1;
       }, S::kBadShape, {"max_pages_per_seq * page_size"}, "2147483392"},
      {"part1 variant 5", [](DecodeConfig& c) { c.part1 = static_cast<splitmla::Part1Variant>(5); },
       S::kNotSupported, {"part1"}, "5"},
      {"dtype 7", [](DecodeConfig& c) { c.dtype = static_cast<DType>(7); }, S::kBadDType, {"dtype"}, "7"},
      {"kv_format 9", [](DecodeConfig& c) { c.kv_format = static_cast<splitmla::KvFormat>(9); },
       S::kBadDType, {"kv_format"}, "9"},
      {"forced 0", [](DecodeConfig& c) { c.policy = SplitPolicy::forced(0); }, S::kBadPolicy, kPolicyFields, "0"},
      {"forced 5000", [](DecodeConfig& c) { c.policy = SplitPolicy::forced(5000); }, S::kBadPolicy, kPolicyFields,
       "5000"},
      {"forced -3", [](DecodeConfig& c) { c.policy = SplitPolicy::forced(-3); }, S::kBadPolicy, kPolicyFields, "-3"},
      {"chunk 0", [](DecodeConfig& c) { c.policy = SplitPolicy::chunk(0); }, S::kBadPolicy, kPolicyFields, "0"},
      {"chunk -64", [](DecodeConfig& c) { c.policy = SplitPolicy::chunk(-64); }, S::kBadPolicy, kPolicyFields, "-64"},
      {"policy kind 9", [](DecodeConfig& c) { c.policy = SplitPolicy{static_cast<SplitPolicyKind>(9), 1}; },
       S::kBadPolicy, kPolicyFields, "9"},
  };
}

// ---------------------------------------------------------------------------------------------
// Call arguments (base: batch 4 of max_batch 8, 64 pages, table width 32, 16 heads, page 16).

constexpr int32_t kHeads = 16, kPage = 16, kMpps = 32, kPages = 64, kBatch = 4;

template <class P>
P* shift(P* p, std::ptrdiff_t bytes) {
  using C = std::conditional_t<std::is_const<P>::value, const char, char>;
  return reinterpret_cast<P*>(reinterpret_cast<C*>(p) + bytes);
}

std::vector<Row<DecodeArgs>> args_rows() {
  using S = Status;
  using A = DecodeArgs;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const int64_t q_batch = static_cast<int64_t>(kHeads) * kHeadDimQK;
  const int64_t out_batch = static_cast<int64_t>(kHeads) * kHeadDimV;
  return {
      {"batch 0", [](A& a) { a.batch = 0; }, S::kBadBatch, {"batch"}, "0"},
      {"batch 9 > max_batch 8", [](A& a) { a.batch = 9; }, S::kBadBatch, {"batch"}, "9"},
      {"batch -1", [](A& a) { a.batch = -1; }, S::kBadBatch, {"batch"}, "-1"},
      {"num_pages -1", [](A& a) { a.num_pages = -1; }, S::kBadShape, {"num_pages"}, "-1"},
      {"max_pages_per_seq 33 > planned 32", [](A& a) { a.max_pages_per_seq = 33; }, S::kBadShape,
       {"max_pages_per_seq"}, "33"},
      {"softmax_scale 0", [](A& a) { a.softmax_scale = 0.f; }, S::kBadSoftmaxScale, {"softmax_scale"}, "0"},
      {"softmax_scale -1", [](A& a) { a.softmax_scale = -1.f; }, S::kBadSoftmaxScale, {"softmax_scale"}, "-1"},
      {"softmax_scale NaN", [nan](A& a) { a.softmax_scale = nan; }, S::kBadSoftmaxScale, {"softmax_scale"}, "nan"},
      {"softmax_scale inf", [inf](A& a) { a.softmax_scale = inf; }, S::kBadSoftmaxScale, {"softmax_scale"}, "inf"},
      {"q null", [](A& a) { a.q = nullptr; }, S::kNullPointer, {"q"}, ""},
      {"kv_cache null", [](A& a) { a.kv_cache = nullptr; }, S::kNullPointer, {"kv_cache"}, ""},
      {"out null", [](A& a) { a.out = nullptr; }, S::kNullPointer, {"out"}, ""},
      {"block_table null", [](A& a) { a.block_table = nullptr; }, S::kNullPointer, {"block_table"}, ""},
      {"seq_lens null", [](A& a) { a.seq_lens = nullptr; }, S::kNullPointer, {"seq_lens"}, ""},
      {"q odd address", [](A& a) { a.q = shift(a.q, 1); }, S::kMisaligned, {"q"}, ""},
      {"q 8-byte aligned only", [](A& a) { a.q = shift(a.q, 8); }, S::kMisaligned, {"q"}, ""},
      {"kv_cache odd address", [](A& a) { a.kv_cache = shift(a.kv_cache, 1); }, S::kMisaligned, {"kv_cache"}, ""},
      {"out odd address", [](A& a) { a.out = shift(a.out, 1); }, S::kMisaligned, {"out"}, ""},
      {"out 2-byte offset", [](A& a) { a.out = shift(a.out, 2); }, S::kMisaligned, {"out"}, ""},
      {"block_table odd address", [](A& a) { a.block_table = shift(a.block_table, 1); }, S::kMisaligned,
       {"block_table"}, ""},
      {"seq_lens odd address", [](A& a) { a.seq_lens = shift(a.seq_lens, 1); }, S::kMisaligned, {"seq_lens"}, ""},
      {"lse odd address", [](A& a) { a.lse = shift(a.lse, 1); }, S::kMisaligned, {"lse"}, ""},
      {"q_stride_head 580", [](A& a) { a.q_stride_head = 580; }, S::kMisaligned, {"q_stride_head"}, "580"},
      {"q_stride_batch +4", [q_batch](A& a) { a.q_stride_batch = q_batch + 4; }, S::kMisaligned,
       {"q_stride_batch"}, std::to_string(q_batch + 4)},
      {"kv_stride_page +4", [](A& a) { a.kv_stride_page = kPage * kHeadDimQK + 4; }, S::kMisaligned,
       {"kv_stride_page"}, std::to_string(kPage * kHeadDimQK + 4)},
      {"out_stride_head 516", [](A& a) { a.out_stride_head = 516; }, S::kMisaligned, {"out_stride_head"}, "516"},
      {"out_stride_batch +4", [out_batch](A& a) { a.out_stride_batch = out_batch + 4; }, S::kMisaligned,
       {"out_stride_batch"}, std::to_string(out_batch + 4)},
      {"q_stride_batch negative", [q_batch](A& a) { a.q_stride_batch = -q_batch; }, S::kBadStride,
       {"q_stride_batch"}, std::to_string(-q_batch)},
      {"q_stride_head negative", [](A& a) { a.q_stride_head = -576; }, S::kBadStride, {"q_stride_head"}, "-576"},
      {"kv_stride_page negative", [](A& a) { a.kv_stride_page = -kPage * kHeadDimQK; }, S::kBadStride,
       {"kv_stride_page"}, std::to_string(-kPage * kHeadDimQK)},
      {"out_stride_batch negative", [out_batch](A& a) { a.out_stride_batch = -out_batch; }, S::kBadStride,
       {"out_stride_batch"}, std::to_string(-out_batch)},
      {"block_table_stride negative", [](A& a) { a.block_table_stride = -32; }, S::kBadStride,
       {"block_table_stride"}, "-32"},
      {"lse_stride_head negative", [](A& a) { a.lse_stride_head = -1; }, S::kBadStride, {"lse_stride_head"}, "-1"},
      {"q heads overlap (q_stride_head 568)", [](A& a) { a.q_stride_head = 568; }, S::kBadStride,
       {"q_stride_head"}, "568"},
      {"out heads overlap (out_stride_head 504)", [](A& a) { a.out_stride_head = 504; }, S::kBadStride,
       {"out_stride_head"}, "504"},
      {"kv pages overlap (kv_stride_page 15 rows)", [](A& a) { a.kv_stride_page = (kPage - 1) * kHeadDimQK; },
       S::kBadStride, {"kv_stride_page"}, std::to_string((kPage - 1) * kHeadDimQK)},
      {"table rows overlap (block_table_stride 31)", [](A& a) { a.block_table_stride = kMpps - 1; },
       S::kBadStride, {"block_table_stride"}, std::to_string(kMpps - 1)},
      {"lse heads overlap (lse_stride_head 0)", [](A& a) { a.lse_stride_head = 0; }, S::kBadStride,
       {"lse_stride_head"}, "0"},
  };
}

// Valid arguments pointing at fake, aligned addresses (host checks never dereference).
DecodeArgs fake_args() {
  DecodeArgs a;
  a.batch = kBatch;
  a.num_pages = kPages;
  a.max_pages_per_seq = kMpps;
  a.softmax_scale = 0.1f;
  a.set_dense_strides(kHeads, 1, kPage);
  a.q = reinterpret_cast<const void*>(uintptr_t{0x10000000});
  a.kv_cache = reinterpret_cast<const void*>(uintptr_t{0x20000000});
  a.block_table = reinterpret_cast<const int32_t*>(uintptr_t{0x30000000});
  a.seq_lens = reinterpret_cast<const int32_t*>(uintptr_t{0x40000000});
  a.out = reinterpret_cast<void*>(uintptr_t{0x50000000});
  a.lse = reinterpret_cast<float*>(uintptr_t{0x60000000});
  return a;
}

// A plan made on the host (num_sms given); the precondition skips the plan-based host checks if
// this build's make_plan still needs a device for that.
bool host_plan(splitmla::Plan* plan) { return splitmla::make_plan(base_config(), plan) == Status::kSuccess; }

boost::test_tools::assertion_result host_plan_available(boost::unit_test::test_unit_id) {
  splitmla::Plan plan;
  const Status s = splitmla::make_plan(base_config(), &plan);
  boost::test_tools::assertion_result r(s == Status::kSuccess);
  if (s != Status::kSuccess) r.message() << "make_plan without a device: " << splitmla::status_message(s);
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(host_only)

BOOST_AUTO_TEST_CASE(valid_config_is_accepted_and_sized) {
  const DecodeConfig c = base_config();
  const Status s = splitmla::can_implement(c);
  BOOST_TEST(s == Status::kSuccess, splitmla::status_message(s));
  size_t bytes = 0;
  const Status w = splitmla::workspace_size(c, &bytes);
  BOOST_TEST(w == Status::kSuccess, splitmla::status_message(w));
  BOOST_TEST(bytes > 0u);
  splitmla::Plan plan;
  if (host_plan(&plan)) {
    BOOST_TEST(plan.workspace_bytes == bytes);
    BOOST_TEST(plan.workspace_bytes % 256 == 0u);
    BOOST_TEST(plan.num_sms == 132);
  } else {
    BOOST_TEST_MESSAGE("make_plan needs a device in this build; plan checks left to the GPU run");
  }
}

BOOST_AUTO_TEST_CASE(bad_configs_are_rejected_with_field_and_value) {
  for (const auto& row : config_rows()) {
    BOOST_TEST_CONTEXT("config: " << row.what) {
      DecodeConfig c = base_config();
      row.mutate(c);
      const Status s = splitmla::can_implement(c);
      BOOST_TEST(s == row.expect, "can_implement -> " << splitmla::status_message(s) << ", expected "
                                                      << splitmla::status_name(row.expect));
      check_message(s, row.fields, row.value);
      splitmla::Plan plan;
      const Status p = splitmla::make_plan(c, &plan);
      BOOST_TEST(p == row.expect, "make_plan -> " << splitmla::status_message(p));
      size_t bytes = 0;
      const Status w = splitmla::workspace_size(c, &bytes);
      BOOST_TEST(w == row.expect, "workspace_size -> " << splitmla::status_message(w));
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_args_are_rejected_with_field_and_value,
                     *boost::unit_test::precondition(host_plan_available)) {
  splitmla::Plan plan;
  BOOST_REQUIRE(host_plan(&plan));
  const Status ok = splitmla::can_implement(plan, fake_args());
  BOOST_REQUIRE_MESSAGE(ok == Status::kSuccess, "base args rejected: " << splitmla::status_message(ok));
  DecodeArgs no_lse = fake_args();
  no_lse.lse = nullptr;
  const Status ok2 = splitmla::can_implement(plan, no_lse);
  BOOST_TEST(ok2 == Status::kSuccess, "lse = null must be accepted: " << splitmla::status_message(ok2));
  for (const auto& row : args_rows()) {
    BOOST_TEST_CONTEXT("args: " << row.what) {
      DecodeArgs a = fake_args();
      row.mutate(a);
      const Status s = splitmla::can_implement(plan, a);
      BOOST_TEST(s == row.expect, "can_implement -> " << splitmla::status_message(s) << ", expected "
                                                      << splitmla::status_name(row.expect));
      check_message(s, row.fields, row.value);
    }
  }
}

// With q_len > 1 the token strides are used: they must not overlap the heads of one token, and
// the batch stride must cover every token. With q_len = 1 they are never read (any value >= 0).
BOOST_AUTO_TEST_CASE(token_strides_are_checked_when_q_len_is_above_1,
                     *boost::unit_test::precondition(host_plan_available)) {
  using S = Status;
  using A = DecodeArgs;
  DecodeConfig c = base_config();
  c.q_len = 2;
  splitmla::Plan plan;
  const Status ps = splitmla::make_plan(c, &plan);
  BOOST_REQUIRE_MESSAGE(ps == S::kSuccess, splitmla::status_message(ps));
  BOOST_TEST(plan.rows == 2 * kHeads);
  A dense = fake_args();
  dense.set_dense_strides(kHeads, 2, kPage);
  const Status ok = splitmla::can_implement(plan, dense);
  BOOST_REQUIRE_MESSAGE(ok == S::kSuccess, "dense q_len 2 args rejected: " << splitmla::status_message(ok));
  const int64_t qt = int64_t{kHeads} * kHeadDimQK, ot = int64_t{kHeads} * kHeadDimV;
  const std::vector<Row<DecodeArgs>> rows = {
      {"q tokens overlap", [qt](A& a) { a.q_stride_token = qt - kHeadDimQK; }, S::kBadStride,
       {"q_stride_token"}, std::to_string(qt - kHeadDimQK)},
      {"q_stride_token +4", [qt](A& a) { a.q_stride_token = qt + 4; }, S::kMisaligned,
       {"q_stride_token"}, std::to_string(qt + 4)},
      {"q batch covers one token only", [qt](A& a) { a.q_stride_batch = qt; }, S::kBadStride,
       {"q_stride_batch"}, std::to_string(qt)},
      {"out tokens overlap", [ot](A& a) { a.out_stride_token = ot - 8; }, S::kBadStride,
       {"out_stride_token"}, std::to_string(ot - 8)},
      {"out batch covers one token only", [ot](A& a) { a.out_stride_batch = ot; }, S::kBadStride,
       {"out_stride_batch"}, std::to_string(ot)},
      {"lse_stride_token 0", [](A& a) { a.lse_stride_token = 0; }, S::kBadStride,
       {"lse_stride_token"}, "0"},
      {"lse batch covers one token only", [](A& a) { a.lse_stride_batch = kHeads; }, S::kBadStride,
       {"lse_stride_batch"}, std::to_string(kHeads)},
  };
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT("args: " << row.what) {
      A a = dense;
      row.mutate(a);
      const Status s = splitmla::can_implement(plan, a);
      BOOST_TEST(s == row.expect, "can_implement -> " << splitmla::status_message(s) << ", expected "
                                                      << splitmla::status_name(row.expect));
      check_message(s, row.fields, row.value);
    }
  }
  // lse as FlashMLA keeps it, [batch, heads, q_len] passed as its transpose: head-major rows
  // are accepted; a head stride that does not cover the tokens overlaps and is refused.
  {
    A a = dense;
    a.lse_stride_token = 1;
    a.lse_stride_head = 2;
    a.lse_stride_batch = 2 * kHeads;
    const Status s = splitmla::can_implement(plan, a);
    BOOST_TEST(s == S::kSuccess, "head-major lse -> " << splitmla::status_message(s));
    a.lse_stride_head = 1;  // (t, h) and (t + 1, h - 1) collide
    const Status bad = splitmla::can_implement(plan, a);
    BOOST_TEST(bad == S::kBadStride, "overlapping lse -> " << splitmla::status_message(bad));
    a.lse_stride_head = 2;
    a.lse_stride_batch = 2 * kHeads - 2;  // the batch stride must cover a request's 2 x heads
    BOOST_TEST(splitmla::can_implement(plan, a) == S::kBadStride);
  }
  // q_len = 1: the token strides are not read.
  splitmla::Plan one;
  BOOST_REQUIRE(host_plan(&one));
  A a = fake_args();
  a.q_stride_token = a.out_stride_token = a.lse_stride_token = 0;
  const Status s1 = splitmla::can_implement(one, a);
  BOOST_TEST(s1 == S::kSuccess, splitmla::status_message(s1));
}

// fp8 caches: the Hopper wgmma kernel reads fp8_e4m3 (fp8_ds_mla: refused naming kv_format);
// auto picks it for 128 heads of fp8_e4m3 where it runs, mma.sync otherwise; the fp8 arguments
// (byte page stride, kv_scale) are checked with the field and its value.
BOOST_AUTO_TEST_CASE(fp8_configs_and_args, *boost::unit_test::precondition(host_plan_available)) {
  for (splitmla::KvFormat f : {splitmla::KvFormat::kFp8E4M3, splitmla::KvFormat::kFp8DsMla}) {
    const std::string name = splitmla::kv_format_name(f, DType::kBFloat16);
    BOOST_TEST_CONTEXT(name) {
      DecodeConfig c = base_config();
      c.kv_format = f;
      c.num_heads = 128;
      c.part1 = splitmla::Part1Variant::kWgmma;
      splitmla::Plan plan;
      bool wgmma_reads_it = false;
      {
        const Status s = splitmla::make_plan(c, &plan);
        wgmma_reads_it = s == Status::kSuccess;
        const std::string msg = splitmla::status_message(s);
        if (f == splitmla::KvFormat::kFp8DsMla) {
          // The wgmma kernel reads fp8_e4m3 only: the refusal names kv_format.
          BOOST_TEST(s == Status::kNotSupported, msg);
          BOOST_TEST(msg.find("kv_format") != std::string::npos, msg);
        } else {
          // fp8_e4m3: planned where the wgmma family is built and runs; else the refusal names
          // the build or the device.
          BOOST_TEST((s == Status::kSuccess || (s == Status::kNotSupported &&
                                                (msg.find("sm_90a") != std::string::npos ||
                                                 msg.find("sm_90") != std::string::npos))),
                     msg);
        }
      }
      c.part1 = splitmla::Part1Variant::kAuto;
      BOOST_REQUIRE(splitmla::make_plan(c, &plan) == Status::kSuccess);
      BOOST_TEST((plan.part1 == (wgmma_reads_it ? splitmla::Part1Variant::kWgmma
                                                : splitmla::Part1Variant::kMmaSync)),
                 "auto for 128 heads of " << name << ": wgmma where it reads the format");
      c.num_heads = kHeads;
      BOOST_REQUIRE(splitmla::make_plan(c, &plan) == Status::kSuccess);

      DecodeArgs a = fake_args();
      a.set_dense_strides(kHeads, 1, kPage, f);
      const int64_t row = splitmla::kv_row_bytes(f);
      BOOST_TEST(a.kv_stride_page == kPage * row);
      a.kv_scale = reinterpret_cast<const float*>(uintptr_t{0x70000000});
      const Status ok = splitmla::can_implement(plan, a);
      BOOST_TEST(ok == Status::kSuccess, splitmla::status_message(ok));

      using A = DecodeArgs;
      std::vector<Row<DecodeArgs>> rows = {
          {"kv pages overlap (bytes)", [row](A& x) { x.kv_stride_page = (kPage - 1) * row; }, Status::kBadStride,
           {"kv_stride_page"}, std::to_string((kPage - 1) * row)},
          {"kv_stride_page +8 bytes", [row](A& x) { x.kv_stride_page = kPage * row + 8; }, Status::kMisaligned,
           {"kv_stride_page"}, std::to_string(kPage * row + 8)},
          {"kv_stride_page negative", [row](A& x) { x.kv_stride_page = -kPage * row; }, Status::kBadStride,
           {"kv_stride_page"}, std::to_string(-kPage * row)},
      };
      if (f == splitmla::KvFormat::kFp8E4M3) {
        rows.push_back({"kv_scale null", [](A& x) { x.kv_scale = nullptr; }, Status::kNullPointer, {"kv_scale"}, ""});
        rows.push_back({"kv_scale odd address", [](A& x) { x.kv_scale = shift(x.kv_scale, 2); }, Status::kMisaligned,
                        {"kv_scale"}, ""});
      }
      for (const auto& r : rows) {
        BOOST_TEST_CONTEXT("args: " << r.what) {
          DecodeArgs b = a;
          r.mutate(b);
          const Status s = splitmla::can_implement(plan, b);
          BOOST_TEST(s == r.expect, "can_implement -> " << splitmla::status_message(s));
          check_message(s, r.fields, r.value);
        }
      }
      if (f == splitmla::KvFormat::kFp8DsMla) {  // ds_mla carries its scales: no pointer needed
        DecodeArgs b = a;
        b.kv_scale = nullptr;
        BOOST_TEST(splitmla::can_implement(plan, b) == Status::kSuccess);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(on_device)

namespace {

struct DeviceFixture {
  Stream stream;
  HostProblem p;
  DeviceProblem dp;
  splitmla::Plan plan;
  splitmla::ScratchPool pool;
  splitmla::Workspace ws;

  DeviceFixture() {
    GenSpec g;
    g.num_heads = kHeads;
    g.page_size = kPage;
    g.lens = {100, 0, 500, 31};  // 7 + 0 + 32 + 2 pages of 64, widest 32 of 32
    g.max_pages_per_seq = kMpps;
    g.num_pages = kPages;
    g.seed = 3;
    p = make_problem(g);
    dp.upload(p);
    plan = plan_for(p, SplitPolicy::automatic(), /*max_batch=*/8);
    GPUTEST_REQUIRE_OK(pool.init());
    GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
    GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));
  }

  // Poison both outputs, run `call`, sync; true when out and lse still hold only poison.
  bool untouched_after(const std::function<Status()>& call, Status* s) {
    dp.poison_outputs();
    GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
    *s = call();
    const std::string msg = splitmla::status_message(*s);  // before any other library call
    GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
    GPUTEST_CUDA(cudaGetLastError());
    const auto o = dp.out.download<uint16_t>();
    const auto l = dp.lse.download<uint32_t>();
    bool clean = true;
    for (uint16_t v : o) clean = clean && v == kPoisonHalf;
    for (uint32_t v : l) clean = clean && v == 0xFFFFFFFFu;
    last_msg = msg;
    return clean;
  }
  std::string last_msg;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(bad_args_reach_no_kernel, DeviceFixture, *needs_gpu()) {
  // The base arguments run and write the outputs (so an untouched buffer below means "rejected").
  Status s = Status::kSuccess;
  BOOST_REQUIRE(!untouched_after([&] { return splitmla::decode(plan, dp.args, pool, stream.s); }, &s));
  GPUTEST_REQUIRE_OK(s);
  check_matches(p, read_back(dp), reference_of(p), "base arguments");

  for (const auto& row : args_rows()) {
    BOOST_TEST_CONTEXT("args: " << row.what) {
      DecodeArgs a = dp.args;
      row.mutate(a);
      const Status pre = splitmla::can_implement(plan, a);
      BOOST_TEST(pre == row.expect, "can_implement -> " << splitmla::status_message(pre));
      if (pre == Status::kSuccess) continue;  // would launch on bad arguments: already failed above
      for (int entry = 0; entry < 3; ++entry) {
        const bool clean = untouched_after(
            [&] {
              switch (entry) {
                case 0: return splitmla::decode(plan, a, pool, stream.s);
                case 1: return splitmla::decode(plan, a, ws, stream.s);
                default: {
                  const Status e = splitmla::enqueue_plan(plan, a, ws, stream.s);
                  return e != Status::kSuccess ? e : splitmla::enqueue_run(plan, a, ws, stream.s);
                }
              }
            },
            &s);
        BOOST_TEST(s == row.expect, "entry " << entry << " -> " << last_msg);
        BOOST_TEST(clean, "entry " << entry << ": out/lse written although the call was rejected");
      }
    }
  }
}

BOOST_FIXTURE_TEST_CASE(bad_workspaces_reach_no_kernel, DeviceFixture, *needs_gpu()) {
  struct WsRow {
    std::string what;
    splitmla::Workspace w;
    Status expect;
  };
  const std::vector<WsRow> rows{
      {"null workspace", {nullptr, plan.workspace_bytes, ws.device}, Status::kWorkspaceTooSmall},
      {"zero bytes", {ws.data, 0, ws.device}, Status::kWorkspaceTooSmall},
      {"one byte short", {ws.data, plan.workspace_bytes - 1, ws.device}, Status::kWorkspaceTooSmall},
      {"other device", {ws.data, ws.bytes, plan.device + 1}, Status::kDeviceMismatch},
  };
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT(row.what) {
      Status s = Status::kSuccess;
      bool clean = untouched_after([&] { return splitmla::decode(plan, dp.args, row.w, stream.s); }, &s);
      BOOST_TEST(s == row.expect, "decode -> " << last_msg);
      BOOST_TEST(clean);
      if (row.expect == Status::kWorkspaceTooSmall)
        BOOST_TEST(lower(last_msg).find("workspace") != std::string::npos, last_msg);
      clean = untouched_after([&] { return splitmla::enqueue_plan(plan, dp.args, row.w, stream.s); }, &s);
      BOOST_TEST(s == row.expect, "enqueue_plan -> " << last_msg);
      BOOST_TEST(clean);
      clean = untouched_after([&] { return splitmla::enqueue_run(plan, dp.args, row.w, stream.s); }, &s);
      BOOST_TEST(s == row.expect, "enqueue_run -> " << last_msg);
      BOOST_TEST(clean);
    }
  }
  // A pool that never reserved: it cannot hand out the workspace, and decode through it refuses.
  splitmla::ScratchPool empty;
  GPUTEST_REQUIRE_OK(empty.init());
  splitmla::Workspace w2;
  const Status wf = empty.workspace_for(plan, &w2);
  BOOST_TEST(wf == Status::kWorkspaceTooSmall, splitmla::status_message(wf));
  Status s = Status::kSuccess;
  const bool clean = untouched_after([&] { return splitmla::decode(plan, dp.args, empty, stream.s); }, &s);
  BOOST_TEST(s == Status::kWorkspaceTooSmall, last_msg);
  BOOST_TEST(clean);
}

// A plan that names another device than the pool's: refused before any launch (needs one GPU:
// the plan is edited, no second device is touched).
BOOST_FIXTURE_TEST_CASE(plan_on_other_device_is_refused, DeviceFixture, *needs_gpu()) {
  splitmla::Plan other = plan;
  other.device = plan.device + 1;
  other.config.device = plan.device + 1;
  Status s = Status::kSuccess;
  const bool clean = untouched_after([&] { return splitmla::decode(other, dp.args, pool, stream.s); }, &s);
  BOOST_TEST(s == Status::kDeviceMismatch, last_msg);
  BOOST_TEST(clean);
  splitmla::Workspace w;
  const Status wf = pool.workspace_for(other, &w);
  BOOST_TEST(wf == Status::kDeviceMismatch, splitmla::status_message(wf));
}

BOOST_AUTO_TEST_SUITE_END()
