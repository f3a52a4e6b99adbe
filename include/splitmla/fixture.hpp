// SplitMLA HDF5 fixtures, format version 1 (../shared/CONTRACT.md, section 4): one decode call's
// inputs and reference outputs in one file, readable and writable by any HDF5 tool.
#pragma once

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
Status write_fixture(const std::string& path, const Fixture& f);

// Reads and validates `path`. Any deviation from format v1 (format, version, dataset names,
// ranks, shapes, types) returns kFormatError with a message naming the file and the field;
// a file that cannot be opened returns kFileError. Never crashes on a malformed file.
Status read_fixture(const std::string& path, Fixture* f);

}  // namespace splitmla
