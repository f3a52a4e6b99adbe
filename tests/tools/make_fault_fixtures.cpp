// Writes small fixtures with bad device data (CONTRACT.md section 3) for the tool's diagnosis
// tests: make_fault_fixtures DIR. Each file holds three requests (page_size 16, 2 table columns,
// so seq_len may be 0..32; 4 pages), request 1 the faulty one; the stored reference is the float64
// reference of the file's own inputs (NaN rows for the bad request, as the contract wants).
//   seq_len_int_min.h5       seq_lens {5, INT32_MIN, 0}
//   seq_len_negative.h5      seq_lens {5, -1, 0}
//   seq_len_beyond_table.h5  seq_lens {5, 33, 0}
//   page_id_out_of_range.h5  seq_lens {5, 20, 0}, block_table[1][1] = 4 (= num_pages)
//   healthy.h5               seq_lens {5, 20, 0}, every used id in range (the control)
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "splitmla/fixture.hpp"
#include "splitmla/reference.hpp"

using namespace splitmla;

namespace {

Fixture make(std::vector<int32_t> seq_lens, std::vector<int32_t> table, const char* what) {
  Fixture f;
  HostProblem& p = f.problem;
  p.dtype = DType::kBFloat16;
  p.batch = 3;
  p.q_len = 1;
  p.num_heads = 2;
  p.page_size = 16;
  p.num_pages = 4;
  p.max_pages_per_seq = 2;
  p.softmax_scale = 0.0625;
  p.q.resize(size_t(p.batch) * p.num_heads * kHeadDimQK);
  p.kv_cache.resize(size_t(p.num_pages) * p.page_size * kHeadDimQK);
  for (size_t i = 0; i < p.q.size(); ++i)
    p.q[i] = float_to_bf16(float(int(i % 7) - 3) * 0.125f);
  for (size_t i = 0; i < p.kv_cache.size(); ++i)
    p.kv_cache[i] = float_to_bf16(float(int(i % 11) - 5) * 0.0625f);
  p.seq_lens = std::move(seq_lens);
  p.block_table = std::move(table);
  f.source = "test";
  f.description = what;
  if (reference_decode(p, &f.reference) != Status::kSuccess) {
    std::fprintf(stderr, "reference_decode: %s\n", last_error_detail());
    std::exit(1);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fault_fixtures DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<int32_t> good_table = {0, 1, 2, 3, 1, 9};  // row 2 (empty) never read
  struct File {
    const char* name;
    Fixture f;
  };
  const File files[] = {
      {"seq_len_int_min", make({5, INT32_MIN, 0}, good_table, "seq_len INT32_MIN")},
      {"seq_len_negative", make({5, -1, 0}, good_table, "seq_len -1")},
      {"seq_len_beyond_table", make({5, 33, 0}, good_table, "seq_len one past the table")},
      {"page_id_out_of_range", make({5, 20, 0}, {0, 1, 2, 4, 1, 9}, "page id = num_pages")},
      {"healthy", make({5, 20, 0}, good_table, "control")},
  };
  for (const File& file : files) {
    const std::string path = dir + "/" + file.name + ".h5";
    const Status s = write_fixture(path, file.f);
    if (s != Status::kSuccess) {
      std::fprintf(stderr, "%s\n", status_message(s).c_str());
      return 1;
    }
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
