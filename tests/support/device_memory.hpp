// Owners of CUDA allocations for the tests and the drivers (CUDA runtime only, no framework):
// the caller decides what a failed allocation means (a Boost.Test REQUIRE, or the drivers' die).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>

namespace splitmla::testsupport {

// Whether a CUDA device is visible (the library's device_count() > 0), asked once per process.
bool have_cuda_device();

// One device (cudaMalloc) or pinned host (cudaMallocHost) allocation, freed on destruction.
// A size of 0 holds no allocation.
template <bool kPinned>
class CudaMemory {
 public:
  CudaMemory() = default;
  ~CudaMemory() { release(); }
  CudaMemory(const CudaMemory&) = delete;
  CudaMemory& operator=(const CudaMemory&) = delete;
  CudaMemory(CudaMemory&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  CudaMemory& operator=(CudaMemory&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }

  // Frees what it held, then allocates `bytes`; on failure holds nothing (bytes() == 0).
  cudaError_t alloc(size_t bytes);
  void release();
  void* get() const { return p_; }
  template <class T> T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

using DeviceMemory = CudaMemory<false>;
using PinnedMemory = CudaMemory<true>;

extern template class CudaMemory<false>;
extern template class CudaMemory<true>;

}  // namespace splitmla::testsupport
