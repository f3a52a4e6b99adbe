// SplitMLA HDF5 fixtures, format versions 1 and 2 (docs/semantics.md, section 7): one decode call's
// inputs and reference outputs in one file, readable and writable by any HDF5 tool.
#pragma once

#include "splitmla/export.hpp"

#include <cstdint>
#include <string>

#include "splitmla/reference.hpp"
#include "splitmla/status.hpp"

namespace splitmla {

struct Fixture {
  HostProblem problem;
  HostOutputs reference;            // /reference/out, /reference/lse
  bool has_splits = false;
  HostSplits splits;                // optional /reference/split_out, /reference/split_lse
  std::string source = "cpu-reference";
  std::string description;
  bool has_seed = false;
  int64_t seed = 0;
};

// Writes `f` to `path` (overwrites). Fails with kFileError or kFormatError naming the field.
SPLITMLA_API Status write_fixture(const std::string& path, const Fixture& f);

// The default reader budget: the declared datasets of one file may take at most 4 GiB in memory.
inline constexpr uint64_t kDefaultReadBudgetBytes = uint64_t(4) << 30;

// How read_fixture treats a file (the defaults suit files the project did not write).
struct ReadOptions {
  // Most bytes the file's declared datasets may take in memory together (uint16, int32 and
  // float32 elements), summed from the declared extents before anything is allocated or read.
  // 0 = the environment variable SPLITMLA_FIXTURE_MAX_BYTES (a decimal byte count) when set,
  // else kDefaultReadBudgetBytes. A file over budget is refused with kFormatError naming the
  // file, the total, the budget and the largest dataset.
  uint64_t max_bytes = 0;
  // true (default): libhdf5 parses the file in a forked child process with resource limits
  // (address space: what the caller maps + max_bytes + 1 GiB; CPU time and wall clock:
  // timeout_seconds; no core file), which sends the checked data back through a pipe in a
  // simple binary form that this process checks again. A crash, a timeout or a malformed
  // stream becomes kFormatError naming the file; the caller survives. false: parse in this
  // process (faster; only for files you trust: libhdf5 1.10 has memory errors on corrupt files).
  bool isolate = true;
  uint32_t timeout_seconds = 300;
};

// Reads and validates `path` with `options`. Any deviation from format v1 or v2 (format, version,
// dataset names, ranks, shapes, types), a dataset stored outside the file (external storage,
// virtual dataset, soft or external link), a missing HDF5 filter or a file over the budget
// returns kFormatError with a message naming the file and the field; a file that cannot be
// opened returns kFileError; a failed host allocation returns kOutOfMemory. Never crashes on a
// malformed file, never throws. HDF5's error printing is off during the call and the caller's
// HDF5 error handler is restored afterwards.
SPLITMLA_API Status read_fixture(const std::string& path, const ReadOptions& options, Fixture* f);

// read_fixture(path, ReadOptions{}, f): isolated, default budget.
SPLITMLA_API Status read_fixture(const std::string& path, Fixture* f);

}  // namespace splitmla
