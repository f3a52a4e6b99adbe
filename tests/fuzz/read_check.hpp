// One read of a fixture file through splitmla::read_fixture, with the checks that the fuzz
// target and the corpus replay test share. Header-only; needs the HDF5 C API (for the open-id
// count) and the library's public fixture API.
//
// What "a correct read" means here, whatever the file holds:
//   - the status is kSuccess, kFileError or kFormatError (nothing else is defined for a read);
//   - a failure leaves a non-empty detail that names the file;
//   - no HDF5 identifier (file, group, dataset, attribute, and transient datatype, dataspace or
//     property list) stays open afterwards;
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

// HDF5 files, groups, datasets and attributes still open in this process. (Datatype ids, named
// or transient, are counted by transient_ids_since below; H5F_OBJ_DATATYPE would count some of
// them twice.)
inline ssize_t open_hdf5_objects() {
  return H5Fget_obj_count(H5F_OBJ_ALL,
                          H5F_OBJ_FILE | H5F_OBJ_GROUP | H5F_OBJ_DATASET | H5F_OBJ_ATTR);
}

// Transient ids (datatypes, dataspaces, property lists) are not objects of a file, and libhdf5
// 1.10 refuses H5Inmembers on its own id kinds. Each kind numbers its ids in increasing order,
// so a mark holds the next id of each kind (a probe made and closed), and the leak count is the
// number of ids made since the mark that are still valid.
struct IdMark {
  hid_t next[3] = {-1, -1, -1};
};

inline hid_t probe_id(int kind) {
  hid_t id = -1;
  switch (kind) {
    case 0: id = H5Screate(H5S_SCALAR); if (id >= 0) H5Sclose(id); break;
    case 1: id = H5Tcopy(H5T_NATIVE_INT); if (id >= 0) H5Tclose(id); break;
    default: id = H5Pcreate(H5P_FILE_ACCESS); if (id >= 0) H5Pclose(id); break;
  }
  return id;
}

inline IdMark mark_ids() {
  IdMark m;
  // Twice: the first probe of a kind may make libhdf5 register lasting ids of its own.
  for (int k = 0; k < 3; ++k) m.next[k] = (probe_id(k), probe_id(k));
  return m;
}

// Transient ids made since `m` and still open (-1 if the probes fail).
inline int64_t transient_ids_since(const IdMark& m) {
  int64_t open = 0;
  for (int k = 0; k < 3; ++k) {
    const hid_t now = probe_id(k);
    if (m.next[k] < 0 || now < m.next[k]) return -1;
    for (hid_t id = m.next[k] + 1; id < now; ++id)
      if (H5Iis_valid(id) > 0) ++open;
  }
  return open;
}

inline std::string check_success_sizes(const Fixture& f) {
  const HostProblem& p = f.problem;
  if (p.batch <= 0 || p.q_len <= 0 || p.num_heads <= 0 || p.page_size <= 0 || p.num_pages <= 0 ||
      p.max_pages_per_seq <= 0)
    return "success with a non-positive extent";
  if (p.num_heads > kMaxHeads || p.page_size > kMaxPageSize || p.batch > kMaxBatch)
    return "success with an extent above the library's limits";
  const uint64_t rows = uint64_t(p.batch) * uint64_t(p.q_len) * uint64_t(p.num_heads);
  if (p.q.size() != rows * kHeadDimQK) return "q size does not match its extents";
  const uint64_t kv_rows = uint64_t(p.num_pages) * uint64_t(p.page_size);
  if (is_fp8(p.kv_format)) {  // fp8: the raw row bytes, and no 16-bit cache
    if (p.kv_bytes.size() != kv_rows * uint64_t(kv_row_bytes(p.kv_format)) || !p.kv_cache.empty())
      return "fp8 kv_bytes size does not match its extents";
  } else if (p.kv_cache.size() != kv_rows * kHeadDimQK || !p.kv_bytes.empty()) {
    return "kv_cache size does not match its extents";
  }
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

// `options`: the fuzz target reads in process (isolate = false) so that the sanitizers see our
// code; the corpus replay uses the defaults.
inline ReadOutcome checked_read(const std::string& path, const ReadOptions& options = {}) {
  ReadOutcome r;
  const ssize_t before = open_hdf5_objects();
  const IdMark mark = mark_ids();
  Fixture f;
  r.status = read_fixture(path, options, &f);
  const int64_t transient = transient_ids_since(mark);
  const ssize_t after = open_hdf5_objects();
  if (after != before) {
    r.problem = "HDF5 ids left open: " + std::to_string(before) + " before the read, " +
                std::to_string(after) + " after";
    return r;
  }
  if (transient != 0) {
    r.problem = "transient HDF5 ids (types, spaces, property lists) left open: " +
                std::to_string(transient);
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
