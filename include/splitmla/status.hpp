// SplitMLA status codes. Every entry point returns one; nothing in the library exits or throws.
#pragma once

#include "splitmla/export.hpp"

#include <cstdint>
#include <string>

namespace splitmla {

enum class [[nodiscard]] Status : int32_t {
  kSuccess = 0,
  kNullPointer,          // a required pointer is null
  kMisaligned,           // a pointer or stride breaks the 16-byte alignment the kernels need
  kBadNumHeads,          // num_heads outside 1..128
  kBadPageSize,          // page_size not a power of two in 1..128
  kNotSupported,         // a valid but unimplemented value (q_len > 1)
  kBadBatch,             // batch outside 1..65536 or above the planned max_batch
  kBadShape,             // other extents: num_pages, max_pages_per_seq, q_len <= 0
  kBadStride,            // negative strides or strides that make rows overlap
  kBadSoftmaxScale,      // softmax_scale <= 0, NaN or infinite
  kBadDType,             // dtype mismatch or unknown dtype
  kBadPolicy,            // split policy value out of range, or bounds too large to plan
  kWorkspaceTooSmall,    // workspace missing or smaller than the plan needs
  kDeviceMismatch,       // pool or plan made for another device
  kNoCudaDevice,         // no CUDA device visible to this process
  kNotBuilt,             // the GPU kernels were not compiled for this device's architecture
  kCudaError,            // a CUDA runtime call failed; the message holds its text
  kOutOfMemory,          // a device or host allocation failed
  kCaptureActive,        // a call that may allocate was made while the stream is being captured
  kFileError,            // a fixture file cannot be opened, read or written
  kFormatError,          // a fixture file does not follow format v1
  kMismatch,             // a replay found outputs outside tolerance
};

// Short name of the code, e.g. "kBadNumHeads".
SPLITMLA_API const char* status_name(Status s) noexcept;

// Text for a status. When the most recent failing call on this thread returned `s`, the text
// names the bad argument and its value (e.g. "kBadNumHeads: num_heads = 0, must be in 1..128");
// otherwise it is the generic description of the code.
SPLITMLA_API std::string status_message(Status s);

// The detail recorded by the most recent failing call on this thread ("" when none).
SPLITMLA_API const char* last_error_detail() noexcept;

}  // namespace splitmla
