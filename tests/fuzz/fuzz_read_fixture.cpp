// libFuzzer target for the HDF5 fixture reader: each input is written to a per-process file in
// /dev/shm (or $TMPDIR) and read back through the public splitmla::read_fixture, so the whole
// path-based code path runs (on-disk checks, H5Fis_hdf5, H5Fopen, attributes, datasets).
// Build and run: tests/fuzz/run_fuzz.sh (README.md beside this file).
//
// A finding is a sanitizer report (ASan/UBSan/LSan), a timeout, one of read_check.hpp's checks
// failing (undefined status, missing detail, HDF5 ids left open, sizes that disagree with the
// extents on success): those abort with the reason on stderr; or an out-of-memory (an allocation
// over -malloc_limit_mb) made by our code. The reader runs in this process (isolate = false: the
// sanitizers must see it) with a budget of SPLITMLA_FUZZ_BUDGET_MB (default 256) MiB, below the
// -malloc_limit_mb (512) that run_fuzz.sh sets, so no allocation of ours may reach that limit.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "read_check.hpp"

namespace {

std::string scratch_path() {
  const char* dir = std::getenv("SPLITMLA_FUZZ_DIR");
  std::string d = dir != nullptr ? dir : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  return d + "/splitmla-fuzz-" + std::to_string(getpid()) + ".h5";
}

const std::string& path() {
  static const std::string p = scratch_path();
  return p;
}

void remove_scratch() { std::remove(path().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(remove_scratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::FILE* fp = std::fopen(path().c_str(), "wb");
  if (fp == nullptr) {
    std::perror(path().c_str());
    std::abort();
  }
  if (size > 0 && std::fwrite(data, 1, size, fp) != size) {
    std::perror(path().c_str());
    std::abort();
  }
  std::fclose(fp);
  static const splitmla::ReadOptions options = [] {
    splitmla::ReadOptions o;
    o.isolate = false;
    const char* mb = std::getenv("SPLITMLA_FUZZ_BUDGET_MB");
    o.max_bytes = uint64_t(mb != nullptr ? std::strtoull(mb, nullptr, 10) : 256) << 20;
    if (o.max_bytes == 0) o.max_bytes = uint64_t(256) << 20;
    return o;
  }();
  const splitmla::fuzz::ReadOutcome r = splitmla::fuzz::checked_read(path(), options);
  remove_scratch();  // libFuzzer's workers may end without running atexit handlers
  if (!r.problem.empty()) {
    std::fprintf(stderr, "read_fixture check failed (status %s): %s\n",
                 splitmla::status_name(r.status), r.problem.c_str());
    std::abort();
  }
  return 0;
}
