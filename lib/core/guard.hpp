// Internal: keeps C++ exceptions inside the library. Public entry points whose work allocates
// (the CPU reference, the fixture reader and writer, the replay) run their body through
// `guarded`, so a failed host allocation (std::bad_alloc, or std::length_error for an impossible
// size) comes back as kOutOfMemory naming the call, and nothing throws or aborts.
#pragma once

#include <exception>
#include <new>
#include <stdexcept>

#include "core/error.hpp"

namespace splitmla::detail {

// Runs `body` (returning Status). `call` names the entry point in the detail; an exception other
// than an allocation failure (none is expected) becomes `other` with its what() text.
template <class F>
Status guarded(const char* call, Status other, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(Status::kOutOfMemory, "%s: out of host memory (an allocation failed)", call);
  } catch (const std::length_error& e) {
    return fail(Status::kOutOfMemory, "%s: out of host memory (size too large: %s)", call,
                e.what());
  } catch (const std::exception& e) {
    return fail(other, "%s: unexpected exception: %s", call, e.what());
  } catch (...) {
    return fail(other, "%s: unexpected exception", call);
  }
}

}  // namespace splitmla::detail
