// Skipping without a GPU, for the Boost.Test suites (header-only: it needs the framework, which
// each suite executable compiles once). Every GPU test case carries `*needs_gpu()`, so Boost
// reports it as skipped (never as passed), and the module prints one line for CTest to see:
// "skipped: no CUDA device". The drivers skip through experiments/common.hpp's open_device.
#pragma once

#include <boost/test/unit_test.hpp>
#include <boost/test/framework.hpp>
#include <boost/test/tree/observer.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "support/device_memory.hpp"  // have_cuda_device

namespace splitmla::testsupport {

inline bool have_gpu() { return have_cuda_device(); }

inline boost::test_tools::assertion_result gpu_precondition(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(have_gpu());
  if (!have_gpu()) r.message() << "no CUDA device";
  return r;
}

inline boost::unit_test::decorator::precondition needs_gpu() {
  return boost::unit_test::precondition(gpu_precondition);
}

// Under compute-sanitizer (.ci/device.sh sets SPLITMLA_SANITIZE=1) kernels run far slower: the
// suites then shrink their largest cases and skip the extremes, saying so.
inline bool sanitizing() {
  const char* v = std::getenv("SPLITMLA_SANITIZE");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

inline boost::test_tools::assertion_result not_sanitizing(boost::unit_test::test_unit_id id) {
  boost::test_tools::assertion_result r = gpu_precondition(id);
  if (!r) return r;
  boost::test_tools::assertion_result s(!sanitizing());
  if (sanitizing()) s.message() << "too large under compute-sanitizer (SPLITMLA_SANITIZE set)";
  return s;
}

// On a GPU machine a skip is a failure: with SPLITMLA_REQUIRE_GPU=1 (set by .ci/device.sh) a
// broken driver or an invisible device fails the suite instead of skipping it.
inline bool gpu_required() {
  const char* v = std::getenv("SPLITMLA_REQUIRE_GPU");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Counts failed assertions and uncaught exceptions of the whole run.
struct FailureCounter : boost::unit_test::test_observer {
  int failures = 0;
  void assertion_result(boost::unit_test::assertion_result ar) override {
    if (ar == boost::unit_test::AR_FAILED) ++failures;
  }
  void exception_caught(boost::execution_exception const&) override { ++failures; }
  void test_unit_aborted(boost::unit_test::test_unit const&) override { ++failures; }
};

// Global fixture: prints the skip line once per executable, refuses to skip when a GPU is
// required, and for a device-only suite (`device_only`) that ran without a GPU and saw no failure
// in its host-side code ends the process with exit code 77, which CTest reports as Skipped
// (SKIP_RETURN_CODE). Failures of host-side cases keep their failing exit code.
template <bool kDeviceOnly>
struct AnnounceSkipT {
  FailureCounter counter;
  AnnounceSkipT() {
    if (!have_gpu() && gpu_required()) {
      std::cerr << "no CUDA device, but SPLITMLA_REQUIRE_GPU is set: failing instead of skipping"
                << std::endl;
      std::_Exit(1);  // no exit handlers: a leak report cannot change the status
    }
    if (!have_gpu()) std::cout << "skipped: no CUDA device" << std::endl;
    boost::unit_test::framework::register_observer(counter);
  }
  ~AnnounceSkipT() {
    boost::unit_test::framework::deregister_observer(counter);
    if (kDeviceOnly && !have_gpu() && counter.failures == 0) {
      std::cout << "all cases need a GPU: exit 77 (skipped)" << std::endl;
      std::cout.flush();
      std::_Exit(77);
    }
  }
};
using AnnounceSkip = AnnounceSkipT<false>;       // suites with host-side cases too
using AnnounceSkipDevice = AnnounceSkipT<true>;  // suites whose every case needs a GPU

}  // namespace splitmla::testsupport
