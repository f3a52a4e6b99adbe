// The GPU suites' checks and owners: Status printing for Boost.Test, the REQUIRE macros of a
// Status and a cudaError_t, a device buffer that REQUIREs its copies, a stream; and the shared
// test-support pieces (tests/support) under the names the suites use.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "splitmla/decode.hpp"
#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"
#include "support/device_memory.hpp"
#include "support/gpu_skip.hpp"
#include "support/page_ids.hpp"
#include "support/problems.hpp"
#include "support/random.hpp"

namespace splitmla {
// Boost.Test prints statuses by name in failed assertions (its customization point; no
// operator<< is added to the library's namespace).
inline std::ostream& boost_test_print_type(std::ostream& os, Status s) { return os << status_name(s); }
}  // namespace splitmla

namespace gputest {

using splitmla::DType;
using splitmla::HostOutputs;
using splitmla::HostProblem;
using splitmla::Status;
using splitmla::kHeadDimQK;
using splitmla::kHeadDimV;

// Skipping without a GPU (tests/support/gpu_skip.hpp).
using splitmla::testsupport::AnnounceSkip;
using splitmla::testsupport::AnnounceSkipDevice;
using splitmla::testsupport::gpu_precondition;
using splitmla::testsupport::gpu_required;
using splitmla::testsupport::have_gpu;
using splitmla::testsupport::needs_gpu;
using splitmla::testsupport::not_sanitizing;
using splitmla::testsupport::sanitizing;

// Random adversarial problems (tests/support/problems.hpp).
using splitmla::testsupport::Rng;
using splitmla::testsupport::kPoisonHalf;
using splitmla::testsupport::pages_needed;
using splitmla::testsupport::boundary_lengths;
using GenSpec = splitmla::testsupport::AdversarialSpec;
inline int32_t poison_page_id(int32_t num_pages, int64_t k) {
  return splitmla::testsupport::bad_page_id(num_pages, k);
}
inline HostProblem make_problem(const GenSpec& g) {
  HostProblem p;
  std::string why;
  BOOST_REQUIRE_MESSAGE(splitmla::testsupport::make_adversarial_problem(g, &p, &why), why);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Status and CUDA checks.

#define GPUTEST_REQUIRE_OK(expr)                                                       \
  do {                                                                                 \
    const ::splitmla::Status gputest_s_ = (expr);                                      \
    BOOST_REQUIRE_MESSAGE(gputest_s_ == ::splitmla::Status::kSuccess,                  \
                          #expr << " -> " << ::splitmla::status_message(gputest_s_));  \
  } while (0)

#define GPUTEST_CUDA(expr)                                                                  \
  do {                                                                                      \
    const cudaError_t gputest_e_ = (expr);                                                  \
    BOOST_REQUIRE_MESSAGE(gputest_e_ == cudaSuccess,                                        \
                          #expr << " -> " << cudaGetErrorString(gputest_e_));               \
  } while (0)

// Owns one device allocation; its copies REQUIRE success.
class DevBuf {
 public:
  DevBuf() = default;
  explicit DevBuf(size_t bytes) { alloc(bytes); }

  void alloc(size_t bytes) {
    const cudaError_t e = mem_.alloc(bytes);
    BOOST_REQUIRE_MESSAGE(e == cudaSuccess, "cudaMalloc(" << bytes << ") -> " << cudaGetErrorString(e));
  }
  void release() { mem_.release(); }
  void* get() const { return mem_.get(); }
  template <class T> T* as() const { return mem_.as<T>(); }
  size_t bytes() const { return mem_.bytes(); }

  template <class T> void upload(const std::vector<T>& h) {
    BOOST_REQUIRE_EQUAL(h.size() * sizeof(T), bytes());
    if (bytes() != 0) GPUTEST_CUDA(cudaMemcpy(get(), h.data(), bytes(), cudaMemcpyHostToDevice));
  }
  template <class T> std::vector<T> download() const {
    std::vector<T> h(bytes() / sizeof(T));
    if (bytes() != 0) GPUTEST_CUDA(cudaMemcpy(h.data(), get(), bytes(), cudaMemcpyDeviceToHost));
    return h;
  }
  void fill_bytes(int value) {
    if (bytes() != 0) GPUTEST_CUDA(cudaMemset(get(), value, bytes()));
  }

 private:
  splitmla::testsupport::DeviceMemory mem_;
};

// Owns a non-blocking stream.
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { GPUTEST_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() { if (s != nullptr) cudaStreamDestroy(s); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

}  // namespace gputest
