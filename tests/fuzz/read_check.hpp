// One read of a fixture file through splitmla::read_fixture, with the checks that the fuzz
// target and the corpus replay test share. Header-only; needs the HDF5 C API (for the open-id
// count) and the library's public fixture API.
//
// What "a correct read" means here, whatever the file holds:
//   - the status is kSuccess, kFileError or kFormatError (nothing else is defined for a read);
//   - a failure leaves a non-empty detail that names the file;
//   - no HDF5 identifier (file, group, dataset, attribute, type, space) stays open afterwards;
//   - on success every vector's size matches the extents the fixture declares.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "splitmla/fixture.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla::fuzz {

struct ReadOutcome {
  Status status = Status::kSuccess;
  std::string problem;  // empty when every check held; otherwise what broke
};

// HDF5 ids of every kind still open in this process (files, groups, datasets, types, attributes).
inline ssize_t open_hdf5_objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

inline std::string check_success_sizes(const Fixture& f) {
  const HostProblem& p = f.problem;
  if (p.batch <= 0 || p.q_len <= 0 || p.num_heads <= 0 || p.page_size <= 0 || p.num_pages <= 0 ||
      p.max_pages_per_seq <= 0)
    return "success with a non-positive extent";
  if (p.num_heads > kMaxHeads || p.page_size > kMaxPageSize || p.batch > kMaxBatch)
    return "success with an extent above the library's limits";
  const uint64_t rows = uint64_t(p.batch) * uint64_t(p.q_len) * uint64_t(p.num_heads);
  if (p.q.size() != rows * kHeadDimQK) return "q size does not match its extents";
  if (p.kv_cache.size() != uint64_t(p.num_pages) * uint64_t(p.page_size) * kHeadDimQK)
    return "kv_cache size does not match its extents";
  if (p.block_table.size() != uint64_t(p.batch) * uint64_t(p.max_pages_per_seq))
    return "block_table size does not match its extents";
  if (p.seq_lens.size() != uint64_t(p.batch)) return "seq_lens size does not match batch";
  if (f.reference.out.size() != rows * kHeadDimV) return "reference out size mismatch";
  if (f.reference.lse.size() != rows) return "reference lse size mismatch";
  if (f.has_splits) {
    const uint64_t s = uint64_t(f.splits.num_splits);
    if (s == 0 || s > uint64_t(kMaxForcedSplits)) return "num_splits out of range on success";
    if (f.splits.split_out.size() != rows * s * kHeadDimV) return "split_out size mismatch";
    if (f.splits.split_lse.size() != rows * s) return "split_lse size mismatch";
  }
  if (!(p.softmax_scale > 0.0)) return "success with softmax_scale <= 0 or NaN";
  return "";
}

inline ReadOutcome checked_read(const std::string& path) {
  ReadOutcome r;
  const ssize_t before = open_hdf5_objects();
  Fixture f;
  r.status = read_fixture(path, &f);
  const ssize_t after = open_hdf5_objects();
  if (after != before) {
    r.problem = "HDF5 ids left open: " + std::to_string(before) + " before the read, " +
                std::to_string(after) + " after";
    return r;
  }
  switch (r.status) {
    case Status::kSuccess:
      r.problem = check_success_sizes(f);
      break;
    case Status::kFileError:
    case Status::kFormatError: {
      const char* d = last_error_detail();
      if (d == nullptr || d[0] == '\0') r.problem = "failure without a detail";
      else if (std::strstr(d, path.c_str()) == nullptr)
        r.problem = std::string("failure detail does not name the file: ") + d;
      break;
    }
    default:
      r.problem = std::string("undefined status for a read: ") + status_name(r.status);
  }
  return r;
}

}  // namespace splitmla::fuzz
