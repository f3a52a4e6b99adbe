#include <cstdarg>
#include <cstdio>
#include <string>

#include "core/error.hpp"

namespace splitmla {
namespace {

struct LastError {
  Status status = Status::kSuccess;
  char detail[512] = {0};
};
thread_local LastError g_last;  // per thread, like cudaGetLastError: not shared state

const char* generic_text(Status s) noexcept {
  switch (s) {
    case Status::kSuccess: return "success";
    case Status::kNullPointer: return "a required pointer is null";
    case Status::kMisaligned: return "a pointer or stride is not 16-byte aligned";
    case Status::kBadNumHeads: return "num_heads must be in 1..128";
    case Status::kBadPageSize: return "page_size must be a power of two in 1..128";
    case Status::kNotSupported: return "value not supported yet";
    case Status::kBadBatch: return "batch must be in 1..65536 and within the planned max_batch";
    case Status::kBadShape: return "an extent is out of range";
    case Status::kBadStride: return "a stride is negative or makes rows overlap";
    case Status::kBadSoftmaxScale: return "softmax_scale must be finite and > 0";
    case Status::kBadDType: return "dtype mismatch or unknown dtype";
    case Status::kBadPolicy: return "split policy out of range";
    case Status::kWorkspaceTooSmall: return "workspace missing or too small for the plan";
    case Status::kDeviceMismatch: return "pool, plan or workspace belongs to another device";
    case Status::kNoCudaDevice: return "no CUDA device";
    case Status::kNotBuilt: return "the GPU kernels were not built for this device's architecture";
    case Status::kCudaError: return "a CUDA runtime call failed";
    case Status::kOutOfMemory: return "out of memory";
    case Status::kCaptureActive: return "the stream is being captured; allocation refused";
    case Status::kFileError: return "file cannot be opened, read or written";
    case Status::kFormatError: return "file does not follow the fixture format v1";
    case Status::kMismatch: return "outputs outside tolerance";
  }
  return "unknown status";
}

}  // namespace

const char* status_name(Status s) noexcept {
  switch (s) {
#define SPLITMLA_NAME(x) case Status::x: return #x;
    SPLITMLA_NAME(kSuccess) SPLITMLA_NAME(kNullPointer) SPLITMLA_NAME(kMisaligned)
    SPLITMLA_NAME(kBadNumHeads) SPLITMLA_NAME(kBadPageSize) SPLITMLA_NAME(kNotSupported)
    SPLITMLA_NAME(kBadBatch) SPLITMLA_NAME(kBadShape) SPLITMLA_NAME(kBadStride)
    SPLITMLA_NAME(kBadSoftmaxScale) SPLITMLA_NAME(kBadDType) SPLITMLA_NAME(kBadPolicy)
    SPLITMLA_NAME(kWorkspaceTooSmall) SPLITMLA_NAME(kDeviceMismatch) SPLITMLA_NAME(kNoCudaDevice)
    SPLITMLA_NAME(kNotBuilt) SPLITMLA_NAME(kCudaError) SPLITMLA_NAME(kOutOfMemory)
    SPLITMLA_NAME(kCaptureActive) SPLITMLA_NAME(kFileError) SPLITMLA_NAME(kFormatError)
    SPLITMLA_NAME(kMismatch)
#undef SPLITMLA_NAME
  }
  return "kUnknown";
}

std::string status_message(Status s) {
  std::string text = status_name(s);
  text += ": ";
  if (s != Status::kSuccess && g_last.status == s && g_last.detail[0] != '\0') {
    text += g_last.detail;
  } else {
    text += generic_text(s);
  }
  return text;
}

const char* last_error_detail() noexcept { return g_last.detail; }

namespace detail {

Status fail(Status s, const char* fmt, ...) {
  g_last.status = s;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(g_last.detail, sizeof(g_last.detail), fmt, ap);
  va_end(ap);
  return s;
}

void clear_error() noexcept {
  g_last.status = Status::kSuccess;
  g_last.detail[0] = '\0';
}

}  // namespace detail
}  // namespace splitmla
