// Internal: record a failing status with a detail that names the argument and its value.
#pragma once

#include "splitmla/export.hpp"

#include "splitmla/status.hpp"

namespace splitmla::detail {

// Formats the detail (printf-style) into this thread's last-error slot and returns `s`.
// Usage: return fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", h, kMaxHeads);
SPLITMLA_INTERNAL_API Status fail(Status s, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Forgets the last detail (called at the start of public entry points that succeed).
SPLITMLA_INTERNAL_API void clear_error() noexcept;

}  // namespace splitmla::detail

// Propagate a non-success status.
#define SPLITMLA_TRY(expr)                                  \
  do {                                                      \
    ::splitmla::Status splitmla_try_s_ = (expr);            \
    if (splitmla_try_s_ != ::splitmla::Status::kSuccess)    \
      return splitmla_try_s_;                               \
  } while (0)
