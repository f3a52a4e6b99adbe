// The GPU suites' skip rules, checked on any machine (tests/gpu/check_skip_rules.cmake drives it):
// without a GPU a device-only suite exits 77 (CTest: Skipped) only when nothing failed; a failing
// host-side case keeps a failing exit code; SPLITMLA_REQUIRE_GPU=1 turns a missing GPU into a
// failure. SPLITMLA_SELFTEST_HOST_FAIL=1 makes the host-side case fail on purpose.
#include <cstdlib>

#include "gpu/gpu_test_util.hpp"

using namespace gputest;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

BOOST_AUTO_TEST_CASE(host_side_case_fails_only_when_asked) {
  const char* v = std::getenv("SPLITMLA_SELFTEST_HOST_FAIL");
  BOOST_TEST((v == nullptr || std::string(v) != "1"));
}

BOOST_AUTO_TEST_CASE(device_case_runs_only_with_a_gpu, *needs_gpu()) {
  BOOST_TEST(splitmla::device_count() > 0);
}
