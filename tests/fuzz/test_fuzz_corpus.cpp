// Replays the fuzzer's saved inputs and the committed fixtures through read_fixture in the
// regular (non-fuzzer) build: every read must end in a defined status with a detail naming the
// file, leave no HDF5 id open, and on success hold vectors that match the declared extents
// (tests/fuzz/read_check.hpp). The committed fixtures must also read successfully, and every
// regression input must keep being rejected.
//   data/fuzz/corpus/       minimized fuzz corpus (valid and malformed files)
//   data/fuzz/regressions/  inputs that once broke our reader (each must now be rejected)
// data/fuzz/hdf5_crashes/ is NOT replayed: those inputs crash inside libhdf5 itself (README.md).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fuzz/read_check.hpp"

namespace fs = std::filesystem;
using splitmla::Status;

namespace {

fs::path source_dir() {
  const char* root = std::getenv("SPLITMLA_SOURCE_DIR");
  BOOST_REQUIRE_MESSAGE(root != nullptr, "SPLITMLA_SOURCE_DIR is not set (run through ctest)");
  return fs::path(root);
}

// Regular files under `dir` (sorted; README files skipped). `dir` may be absent: empty list.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() != ".md") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Reads each file once; returns how many reads ended in each status.
std::map<Status, int> replay(const std::vector<std::string>& files) {
  std::map<Status, int> counts;
  for (const std::string& f : files) {
    const splitmla::fuzz::ReadOutcome r = splitmla::fuzz::checked_read(f);
    BOOST_TEST(r.problem.empty(), f << ": " << r.problem);
    ++counts[r.status];
  }
  return counts;
}

}  // namespace

BOOST_AUTO_TEST_CASE(committed_fixtures_read_cleanly) {
  std::vector<std::string> files;
  for (const std::string& f : files_in(source_dir() / "data" / "fixtures"))
    if (fs::path(f).extension() == ".h5") files.push_back(f);
  BOOST_REQUIRE_MESSAGE(!files.empty(), "no data/fixtures/*.h5");
  const std::map<Status, int> counts = replay(files);
  BOOST_TEST(counts.count(Status::kSuccess) == 1u);
  BOOST_TEST(counts.size() == 1u, "every committed fixture reads with kSuccess");
  BOOST_TEST_MESSAGE(files.size() << " committed fixtures read");
}

BOOST_AUTO_TEST_CASE(fuzz_corpus_reads_end_in_defined_statuses) {
  const std::vector<std::string> files = files_in(source_dir() / "data" / "fuzz" / "corpus");
  BOOST_REQUIRE_MESSAGE(!files.empty(), "no files in data/fuzz/corpus");
  const std::map<Status, int> counts = replay(files);
  // The minimized corpus holds both readable files and malformed ones: both paths must be hit.
  BOOST_TEST(counts.count(Status::kSuccess) == 1u, "some corpus file reads successfully");
  BOOST_TEST(counts.count(Status::kFormatError) + counts.count(Status::kFileError) >= 1u,
             "some corpus file is rejected");
  for (const auto& [s, n] : counts)
    BOOST_TEST_MESSAGE(splitmla::status_name(s) << ": " << n << " of " << files.size());
}

BOOST_AUTO_TEST_CASE(regression_inputs_stay_rejected) {
  const std::vector<std::string> files = files_in(source_dir() / "data" / "fuzz" / "regressions");
  if (files.empty()) {
    BOOST_TEST_MESSAGE("no regression inputs");
    return;
  }
  for (const std::string& f : files) {
    const splitmla::fuzz::ReadOutcome r = splitmla::fuzz::checked_read(f);
    BOOST_TEST(r.problem.empty(), f << ": " << r.problem);
    BOOST_TEST((r.status == Status::kFormatError || r.status == Status::kFileError),
               f << ": status " << splitmla::status_name(r.status) << ", expected a rejection");
  }
}

BOOST_AUTO_TEST_CASE(missing_and_empty_paths) {
  // The on-disk checks before HDF5: a missing file, a directory, an empty file.
  const fs::path dir = fs::temp_directory_path() / "splitmla-fuzz-replay";
  fs::create_directories(dir);
  const std::string empty = (dir / "empty.h5").string();
  { std::FILE* fp = std::fopen(empty.c_str(), "wb"); BOOST_REQUIRE(fp != nullptr); std::fclose(fp); }
  const splitmla::fuzz::ReadOutcome a = splitmla::fuzz::checked_read((dir / "absent.h5").string());
  const splitmla::fuzz::ReadOutcome b = splitmla::fuzz::checked_read(dir.string());
  const splitmla::fuzz::ReadOutcome c = splitmla::fuzz::checked_read(empty);
  BOOST_TEST(a.problem.empty(), a.problem);
  BOOST_TEST(b.problem.empty(), b.problem);
  BOOST_TEST(c.problem.empty(), c.problem);
  BOOST_TEST(splitmla::status_name(a.status) == std::string("kFileError"));
  BOOST_TEST(splitmla::status_name(b.status) == std::string("kFileError"));
  BOOST_TEST(splitmla::status_name(c.status) == std::string("kFormatError"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}
