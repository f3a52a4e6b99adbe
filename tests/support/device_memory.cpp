// CUDA allocations of the tests and drivers; see device_memory.hpp.
#include "support/device_memory.hpp"

#include "splitmla/decode.hpp"

namespace splitmla::testsupport {

bool have_cuda_device() {
  static const bool has = splitmla::device_count() > 0;
  return has;
}

template <bool kPinned>
cudaError_t CudaMemory<kPinned>::alloc(size_t bytes) {
  release();
  if (bytes == 0) return cudaSuccess;
  const cudaError_t e = kPinned ? cudaMallocHost(&p_, bytes) : cudaMalloc(&p_, bytes);
  if (e != cudaSuccess) {
    p_ = nullptr;
    return e;
  }
  n_ = bytes;
  return cudaSuccess;
}

template <bool kPinned>
void CudaMemory<kPinned>::release() {
  if (p_ != nullptr) {
    if (kPinned) cudaFreeHost(p_);
    else cudaFree(p_);
  }
  p_ = nullptr;
  n_ = 0;
}

template class CudaMemory<false>;
template class CudaMemory<true>;

}  // namespace splitmla::testsupport
