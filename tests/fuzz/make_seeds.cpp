// Writes a handful of tiny, valid format-v1 fixtures (a few KB each) as seeds for the fuzzer:
// small seeds keep executions fast and let mutations reach the attribute and dataset checks.
//   make_seeds OUT_DIR
// Each file is read back through read_fixture before the program reports success.
#include <hdf5.h>

#include <cstdio>
#include <string>
#include <vector>

#include "splitmla/fixture.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace {

using namespace splitmla;

struct Shape {
  const char* name;
  DType dtype;
  int32_t batch, num_heads, page_size, num_pages, width, num_splits;
};

Fixture make(const Shape& s) {
  Fixture f;
  HostProblem& p = f.problem;
  p.dtype = s.dtype;
  p.batch = s.batch;
  p.q_len = 1;
  p.num_heads = s.num_heads;
  p.page_size = s.page_size;
  p.num_pages = s.num_pages;
  p.max_pages_per_seq = s.width;
  p.softmax_scale = 0.125;
  const size_t rows = size_t(s.batch) * size_t(s.num_heads);
  p.q.assign(rows * kHeadDimQK, 0x3f80);  // 1.0 in bf16 bits; some finite value in fp16
  p.kv_cache.assign(size_t(s.num_pages) * size_t(s.page_size) * kHeadDimQK, 0x3c00);
  for (int32_t b = 0; b < s.batch; ++b) {
    for (int32_t c = 0; c < s.width; ++c)
      p.block_table.push_back(c == 0 ? b % s.num_pages : (c % 2 ? -1 : s.num_pages));
    p.seq_lens.push_back(b % 2 == 0 ? s.page_size : 0);
  }
  f.reference.out.assign(rows * kHeadDimV, 0.5f);
  f.reference.lse.assign(rows, 1.0f);
  if (s.num_splits > 0) {
    f.has_splits = true;
    f.splits.num_splits = s.num_splits;
    f.splits.split_out.assign(rows * size_t(s.num_splits) * kHeadDimV, 0.25f);
    f.splits.split_lse.assign(rows * size_t(s.num_splits), 0.0f);
  }
  f.description = std::string("fuzz seed ") + s.name;
  f.has_seed = true;
  f.seed = 7;
  return f;
}

// Rewrites the string attributes as variable-length strings and `version` as int64, the way
// h5py writes them (the reader accepts both layouts).
bool restyle_as_h5py(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (file < 0) return false;
  bool ok = true;
  const char* names[] = {"format", "dtype", "source", "description"};
  const char* values[] = {"splitmla-fixture", "float16", "h5py", "fuzz seed h5py-style"};
  hid_t vstr = H5Tcopy(H5T_C_S1);
  H5Tset_size(vstr, H5T_VARIABLE);
  H5Tset_cset(vstr, H5T_CSET_UTF8);
  hid_t scalar = H5Screate(H5S_SCALAR);
  for (int i = 0; i < 4; ++i) {
    ok = ok && H5Adelete(file, names[i]) >= 0;
    hid_t a = H5Acreate2(file, names[i], vstr, scalar, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, vstr, &values[i]) >= 0;
    if (a >= 0) H5Aclose(a);
  }
  const int64_t version = 1;
  ok = ok && H5Adelete(file, "version") >= 0;
  hid_t a = H5Acreate2(file, "version", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
  ok = ok && a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &version) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(scalar);
  H5Tclose(vstr);
  return H5Fclose(file) >= 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const Shape shapes[] = {
      {"tiny_bf16", DType::kBFloat16, 1, 1, 1, 1, 1, 0},
      {"tiny_fp16_splits", DType::kFloat16, 2, 2, 2, 3, 2, 2},
      {"tiny_h5py_style", DType::kFloat16, 1, 1, 4, 2, 1, 0},
  };
  int failures = 0;
  for (const Shape& s : shapes) {
    const std::string path = dir + "/" + s.name + ".h5";
    Status st = write_fixture(path, make(s));
    if (st == Status::kSuccess && std::string(s.name) == "tiny_h5py_style" && !restyle_as_h5py(path)) {
      std::fprintf(stderr, "%s: cannot restyle the attributes\n", path.c_str());
      ++failures;
      continue;
    }
    Fixture back;
    if (st == Status::kSuccess) st = read_fixture(path, &back);
    std::printf("%s: %s\n", path.c_str(), status_message(st).c_str());
    if (st != Status::kSuccess) ++failures;
  }
  return failures == 0 ? 0 : 1;
}
