// Symbol visibility. The libraries are built with hidden visibility by default (-fvisibility=hidden):
// only declarations marked SPLITMLA_API are exported from libsplitmla, libsplitmla_reference,
// libsplitmla_fixture_io and libsplitmla_nccl. Consumers see the same attribute, which is harmless.
#pragma once

#if defined(_WIN32)
#define SPLITMLA_API
#else
#define SPLITMLA_API __attribute__((visibility("default")))
#endif

// Internal functions that another SplitMLA library or the project's own tests call (the error slot,
// the fixture reader and replay, the float64 kernels of the reference). Exported like SPLITMLA_API,
// but declared only in headers under lib/: not part of the public API, no stability promise.
#define SPLITMLA_INTERNAL_API SPLITMLA_API
