// Memory use of the CPU reference (issue 14, item 1): a valid problem with a huge seq_len whose
// rows all alias one page must not need n x 576 floats, and an allocation that does fail must
// come back as kOutOfMemory, never as an exception escaping the library.
//
// Each case runs in a forked child with its address space capped (RLIMIT_AS = what the process
// maps now + a margin), so an n x 576 allocation fails deterministically whatever the machine's
// memory and overcommit settings are; an exception escaping the library ends the child with
// SIGABRT, which the parent reports as a failure. Sanitizer runtimes reserve and map memory in
// ways an address-space limit breaks, so under ASan these cases are reported as skipped.
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "problem_builder.hpp"
#include "splitmla/reference.hpp"

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;
using splitmla::Status;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

struct NotSanitized {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(!kSanitized);
    r.message() << "skipped: address-space limits do not work under AddressSanitizer";
    return r;
  }
};

// Bytes of address space this process maps now (/proc/self/statm, first field in pages).
size_t mapped_bytes() {
  std::FILE* fp = std::fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (fp != nullptr) {
    if (std::fscanf(fp, "%lu", &pages) != 1) pages = 0;
    std::fclose(fp);
  }
  return size_t(pages) * size_t(sysconf(_SC_PAGESIZE));
}

// Runs `body` in a child whose address space may grow by `margin` bytes. Returns its exit code
// (body's return value), 134 if an exception escaped the library (it would abort a real
// caller), or 128 + signal if it died.
int in_limited_child(size_t margin, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    rlimit lim{};
    lim.rlim_cur = lim.rlim_max = mapped_bytes() + margin;
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(100);
    int rc = 134;  // an exception escaping the library would abort a real caller
    try {
      rc = body();
    } catch (...) {
    }
    _exit(rc);  // never back into the test runner
  }
  BOOST_TEST_REQUIRE(pid > 0, "fork failed");
  int st = 0;
  BOOST_TEST_REQUIRE(waitpid(pid, &st, 0) == pid);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

constexpr size_t kMargin = size_t(512) << 20;  // 512 MB more than the process maps already

// One request, one head, page_size 128; every table entry points at page 0.
HostProblem aliasing_page0(int32_t max_pages, int32_t seq_len) {
  reftest::Spec s;
  s.num_heads = 1;
  s.page_size = 128;
  s.seq_lens = {128};
  s.spare_pages = 0;
  s.spare_entries = 0;
  HostProblem p = reftest::make_problem(s, false);  // one page of random rows
  p.num_pages = 1;
  p.kv_cache.resize(size_t(128) * kHeadDimQK);
  p.max_pages_per_seq = max_pages;
  p.block_table.assign(size_t(max_pages), 0);
  p.seq_lens = {seq_len};
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reference_memory)

// 2^20 visible rows would take 2.4 GB as floats; the child may grow by 512 MB. Every row
// aliases one of page 0's 128 rows (8192 times each), so the softmax weights are those of the
// 128-row problem: same out, lse larger by ln(8192).
BOOST_AUTO_TEST_CASE(huge_seq_len_aliasing_one_page_streams_rows,
                     *boost::unit_test::precondition(NotSanitized())) {
  const int32_t pages = 8192, n = pages * 128;
  const HostProblem small = aliasing_page0(1, 128);
  HostOutputs want;
  BOOST_TEST_REQUIRE(splitmla::reference_decode(small, &want) == Status::kSuccess);
  const int rc = in_limited_child(kMargin, [&] {
    const HostProblem big = aliasing_page0(pages, n);
    HostOutputs got;
    const Status s = splitmla::reference_decode(big, &got);
    if (s != Status::kSuccess) {
      std::fprintf(stderr, "reference_decode: %s\n", splitmla::status_message(s).c_str());
      return 1;
    }
    if (got.out.size() != size_t(kHeadDimV) || got.lse.size() != 1u) return 2;
    for (int d = 0; d < kHeadDimV; ++d)
      if (!(std::fabs(got.out[d] - want.out[d]) <= 1e-5f * (1.f + std::fabs(want.out[d]))))
        return 3;
    if (!(std::fabs(got.lse[0] - (want.lse[0] + std::log(8192.0))) <= 1e-4)) return 4;
    return 0;
  });
  BOOST_TEST(rc == 0, "child exit " << rc
                                    << " (0 ok, 1 bad status, 2 sizes, 3 out, 4 lse, 134 abort: "
                                       "an exception escaped the library)");
}

// 64 requests x 128 heads x 128 splits x 512 floats = 2.1 GB of partials cannot be allocated in
// the child: the library must say kOutOfMemory instead of throwing std::bad_alloc.
BOOST_AUTO_TEST_CASE(failed_allocation_is_a_status,
                     *boost::unit_test::precondition(NotSanitized())) {
  reftest::Spec s;
  s.num_heads = 128;
  s.page_size = 16;
  s.seq_lens.assign(64, 3);
  const HostProblem p = reftest::make_problem(s, false);
  const int rc = in_limited_child(kMargin, [&] {
    splitmla::HostSplits splits;
    const Status st = splitmla::reference_split_partials(p, 128, &splits);
    if (st != Status::kOutOfMemory) return 1;
    const std::string msg = splitmla::status_message(st);
    if (msg.find("memory") == std::string::npos) return 2;
    splitmla::HostOutputs out;  // the direct pass of the same problem is small and still works
    if (splitmla::reference_decode(p, &out) != Status::kSuccess) return 3;
    return 0;
  });
  BOOST_TEST(rc == 0, "child exit " << rc
                                    << " (0 ok, 1 not kOutOfMemory, 2 message, 3 direct pass, "
                                       "134 abort: an exception escaped the library)");
}

BOOST_AUTO_TEST_SUITE_END()
