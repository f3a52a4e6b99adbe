// ScratchPool: caller-owned, per-device scratch. Growth is explicit and refused during capture
// and while the pool is pinned (a captured graph holds its address). Growth allocates before it
// frees, so a failed growth keeps the old buffer.
#include <cuda_runtime_api.h>

#include <utility>

#include "core/error.hpp"
#include "splitmla/decode.hpp"

namespace splitmla {
namespace {

using detail::fail;

// Runs `f` with `device` current, restoring the caller's device afterwards.
template <class F>
cudaError_t on_device(int device, F&& f) {
  int previous = -1;
  cudaError_t e = cudaGetDevice(&previous);
  if (e != cudaSuccess) return e;
  if (previous != device && (e = cudaSetDevice(device)) != cudaSuccess) return e;
  e = f();
  if (previous != device) cudaSetDevice(previous);
  return e;
}

}  // namespace

ScratchPool::~ScratchPool() { release(); }

ScratchPool::ScratchPool(ScratchPool&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)),
      device_(std::exchange(o.device_, -1)),
      pins_(std::exchange(o.pins_, 0)),
      init_status_(std::exchange(o.init_status_, Status::kSuccess)) {}

ScratchPool& ScratchPool::operator=(ScratchPool&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    device_ = std::exchange(o.device_, -1);
    pins_ = std::exchange(o.pins_, 0);
    init_status_ = std::exchange(o.init_status_, Status::kSuccess);
  }
  return *this;
}

// A pool without a device: say whether init() was never called or failed, and how.
Status ScratchPool::not_initialized(const char* call) const {
  if (init_status_ != Status::kSuccess)
    return fail(init_status_, "%s: the pool has no device because init() failed with %s", call,
                status_name(init_status_));
  return fail(Status::kDeviceMismatch, "%s: the pool has no device: call init() first", call);
}

Status ScratchPool::init(int32_t device) {
  init_status_ = Status::kSuccess;
  if (device_count() == 0) {
    init_status_ = Status::kNoCudaDevice;
    return fail(Status::kNoCudaDevice, "no CUDA device for the pool");
  }
  if (device < -1 || device >= device_count()) {
    init_status_ = Status::kDeviceMismatch;
    return fail(Status::kDeviceMismatch, "device = %d, must be -1 or in 0..%d", device,
                device_count() - 1);
  }
  if (device == -1 && cudaGetDevice(&device) != cudaSuccess) {
    init_status_ = Status::kCudaError;
    return fail(Status::kCudaError, "cudaGetDevice: %s", cudaGetErrorString(cudaGetLastError()));
  }
  if (data_ != nullptr && device != device_) release();
  device_ = device;
  return Status::kSuccess;
}

Status ScratchPool::reserve(size_t bytes, cudaStream_t capture_check_stream) {
  if (pins_ > 0 && bytes > bytes_)
    return fail(Status::kCaptureActive,
                "pool.reserve(%zu bytes): the pool is pinned by %d captured graph(s) holding its "
                "%zu-byte buffer; unpin() after destroying them, then grow",
                bytes, pins_, bytes_);
  if (device_ < 0) return not_initialized("pool.reserve");
  if (bytes <= bytes_) return Status::kSuccess;
  if (capture_check_stream != nullptr) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(capture_check_stream, &cs) != cudaSuccess) cudaGetLastError();
    if (cs != cudaStreamCaptureStatusNone)
      return fail(Status::kCaptureActive, "reserve(%zu bytes) while the stream is captured", bytes);
  }
  // New buffer first: if it cannot be had, the old one stays as it was.
  void* fresh = nullptr;
  cudaError_t e = on_device(device_, [&] { return cudaMalloc(&fresh, bytes); });
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (e == cudaErrorMemoryAllocation)
      return fail(Status::kOutOfMemory,
                  "pool.reserve(%zu bytes) on device %d: out of memory (the old %zu-byte buffer "
                  "is kept)",
                  bytes, device_, bytes_);
    return fail(Status::kCudaError, "pool.reserve(%zu bytes): %s (the old buffer is kept)", bytes,
                cudaGetErrorString(e));
  }
  if (data_ != nullptr) {
    // cudaFree synchronizes: runs still using the old buffer finish first.
    e = on_device(device_, [&] { return cudaFree(data_); });
    if (e != cudaSuccess) cudaGetLastError();  // the new buffer is in place either way
  }
  data_ = fresh;
  bytes_ = bytes;
  return Status::kSuccess;
}

Status ScratchPool::reserve_for(const Plan& plan, cudaStream_t capture_check_stream) {
  if (device_ < 0) SPLITMLA_TRY(init(plan.device));
  if (plan.device != device_)
    return fail(Status::kDeviceMismatch, "pool.device = %d, plan.device = %d", device_,
                plan.device);
  return reserve(plan.workspace_bytes, capture_check_stream);
}

Status ScratchPool::workspace_for(const Plan& plan, Workspace* ws) const {
  if (ws == nullptr) return fail(Status::kNullPointer, "ws = nullptr");
  if (device_ < 0) return not_initialized("pool.workspace_for");
  if (plan.device != device_)
    return fail(Status::kDeviceMismatch, "pool.device = %d, plan.device = %d", device_,
                plan.device);
  if (bytes_ < plan.workspace_bytes)
    return fail(Status::kWorkspaceTooSmall, "pool capacity = %zu bytes, plan needs %zu", bytes_,
                plan.workspace_bytes);
  ws->data = data_;
  ws->bytes = bytes_;
  ws->device = device_;
  return Status::kSuccess;
}

void ScratchPool::release() {
  if (data_ != nullptr) {
    on_device(device_, [&] { return cudaFree(data_); });
    cudaGetLastError();
  }
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace splitmla
