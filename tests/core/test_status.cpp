// Status codes and their text: every code has a name, a failure records a detail naming the field
// and its value, other codes keep the generic text, and the detail belongs to the calling thread.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "splitmla/status.hpp"

using splitmla::Status;
namespace detail = splitmla::detail;

namespace {

constexpr int kFirst = static_cast<int>(Status::kSuccess);
constexpr int kLast = static_cast<int>(Status::kMismatch);

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Every test starts without a recorded detail, whatever ran before it on this thread.
struct Clean {
  Clean() { detail::clear_error(); }
  ~Clean() { detail::clear_error(); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(status_text, Clean)

BOOST_AUTO_TEST_CASE(every_code_has_a_distinct_k_prefixed_name) {
  std::set<std::string> names;
  for (int i = kFirst; i <= kLast; ++i) {
    const std::string name = splitmla::status_name(static_cast<Status>(i));
    BOOST_TEST_CONTEXT("code " << i) {
      BOOST_TEST(starts_with(name, "k"));
      BOOST_TEST(name != "kUnknown");
      BOOST_TEST(names.insert(name).second, "duplicate name " << name);
    }
  }
  BOOST_TEST(std::string(splitmla::status_name(Status::kBadNumHeads)) == "kBadNumHeads");
  BOOST_TEST(std::string(splitmla::status_name(Status::kSuccess)) == "kSuccess");
}

BOOST_AUTO_TEST_CASE(an_out_of_range_code_is_named_unknown_without_crashing) {
  const Status bogus = static_cast<Status>(kLast + 17);
  BOOST_TEST(std::string(splitmla::status_name(bogus)) == "kUnknown");
  const std::string msg = splitmla::status_message(bogus);
  BOOST_TEST(starts_with(msg, "kUnknown: "));
}

BOOST_AUTO_TEST_CASE(every_code_has_a_generic_message_after_its_name) {
  for (int i = kFirst; i <= kLast; ++i) {
    const Status s = static_cast<Status>(i);
    const std::string prefix = std::string(splitmla::status_name(s)) + ": ";
    const std::string msg = splitmla::status_message(s);
    BOOST_TEST_CONTEXT("code " << prefix) {
      BOOST_TEST(starts_with(msg, prefix));
      BOOST_TEST(msg.size() > prefix.size(), "empty generic text");
    }
  }
}

BOOST_AUTO_TEST_CASE(fail_returns_its_status_and_records_field_and_value) {
  const Status s = detail::fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", 0, 128);
  BOOST_TEST(static_cast<int>(s) == static_cast<int>(Status::kBadNumHeads));
  BOOST_TEST(std::string(splitmla::last_error_detail()) == "num_heads = 0, must be in 1..128");
  BOOST_TEST(splitmla::status_message(Status::kBadNumHeads) ==
             "kBadNumHeads: num_heads = 0, must be in 1..128");
}

BOOST_AUTO_TEST_CASE(a_different_status_keeps_the_generic_text) {
  const std::string generic = splitmla::status_message(Status::kBadPageSize);
  (void)detail::fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", 200, 128);
  const std::string after = splitmla::status_message(Status::kBadPageSize);
  BOOST_TEST(after == generic);
  BOOST_TEST(after.find("num_heads = 200") == std::string::npos);
  // The detail is still there for the status that recorded it.
  BOOST_TEST(splitmla::status_message(Status::kBadNumHeads).find("num_heads = 200") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(success_never_shows_a_stale_detail) {
  (void)detail::fail(Status::kBadBatch, "batch = %d, must be in 1..%d", -3, 65536);
  const std::string msg = splitmla::status_message(Status::kSuccess);
  BOOST_TEST(starts_with(msg, "kSuccess: "));
  BOOST_TEST(msg.find("batch = -3") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_later_failure_replaces_the_earlier_detail) {
  (void)detail::fail(Status::kBadPageSize, "page_size = %d, must be a power of two", 3);
  (void)detail::fail(Status::kBadPageSize, "page_size = %d, must be a power of two", 256);
  BOOST_TEST(std::string(splitmla::last_error_detail()) ==
             "page_size = 256, must be a power of two");
}

BOOST_AUTO_TEST_CASE(clear_error_forgets_the_detail) {
  const std::string generic = splitmla::status_message(Status::kBadStride);
  (void)detail::fail(Status::kBadStride, "q_stride_head = %lld, must be >= 576", -1LL);
  BOOST_TEST(std::string(splitmla::last_error_detail()) != "");
  detail::clear_error();
  BOOST_TEST(std::string(splitmla::last_error_detail()) == "");
  BOOST_TEST(splitmla::status_message(Status::kBadStride) == generic);
}

BOOST_AUTO_TEST_CASE(a_very_long_detail_is_truncated_not_overflowed) {
  const std::string path(5000, 'x');
  (void)detail::fail(Status::kFileError, "cannot open '%s'", path.c_str());
  const char* d = splitmla::last_error_detail();
  const size_t n = std::strlen(d);
  BOOST_TEST(n > 100u);
  BOOST_TEST(n < path.size());
  BOOST_TEST(std::string(d, 12) == "cannot open ");
  // The message still starts with the code's name.
  BOOST_TEST(starts_with(splitmla::status_message(Status::kFileError), "kFileError: cannot open "));
}

BOOST_AUTO_TEST_CASE(a_failure_on_another_thread_leaves_this_threads_detail_alone) {
  (void)detail::fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", 0, 128);

  std::string other_initial, other_after;
  std::thread worker([&] {
    other_initial = splitmla::last_error_detail();
    (void)detail::fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", 129, 128);
    other_after = splitmla::status_message(Status::kBadNumHeads);
  });
  worker.join();

  BOOST_TEST(other_initial == "", "a new thread must start without a detail");
  BOOST_TEST(other_after == "kBadNumHeads: num_heads = 129, must be in 1..128");
  BOOST_TEST(std::string(splitmla::last_error_detail()) == "num_heads = 0, must be in 1..128");
  BOOST_TEST(splitmla::status_message(Status::kBadNumHeads) ==
             "kBadNumHeads: num_heads = 0, must be in 1..128");
}

BOOST_AUTO_TEST_CASE(clearing_on_another_thread_leaves_this_threads_detail_alone) {
  (void)detail::fail(Status::kBadSoftmaxScale, "softmax_scale = %g, must be finite and > 0", -1.0);
  std::thread worker([] { detail::clear_error(); });
  worker.join();
  BOOST_TEST(std::string(splitmla::last_error_detail()) ==
             "softmax_scale = -1, must be finite and > 0");
}

BOOST_AUTO_TEST_SUITE_END()
