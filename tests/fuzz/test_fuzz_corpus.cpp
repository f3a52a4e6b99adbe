// Replays the fuzzer's saved inputs and the committed fixtures through read_fixture in the
// regular (non-fuzzer) build: every read must end in a defined status with a detail naming the
// file, leave no HDF5 id open, and on success hold vectors that match the declared extents
// (tests/fuzz/read_check.hpp). The committed fixtures must also read successfully, and every
// regression input must keep being rejected. These reads run in this process (isolate = false),
// so that the id checks and the sanitizer build see our reader itself.
//   data/fuzz/corpus/        minimized fuzz corpus (valid and malformed files)
//   data/fuzz/regressions/   inputs that once broke our reader (each must now be rejected)
//   data/fuzz/hdf5_crashes/  inputs on which libhdf5 1.10 itself crashes: read ONLY through the
//                            isolated reader (the default), which must turn them into errors
//                            while this process survives.
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

// Regular files under `dir` (sorted; README files and generator scripts skipped). `dir` may be absent: empty list.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() != ".md" && e.path().extension() != ".py")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Reads each file once; returns how many reads ended in each status.
splitmla::ReadOptions in_process() {
  splitmla::ReadOptions o;
  o.isolate = false;
  return o;
}

// Passes (and the case runs) only when `dir` holds files; otherwise the case is reported as
// skipped, never as a silent pass.
struct HasFiles {
  const char* dir;
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    const char* root = std::getenv("SPLITMLA_SOURCE_DIR");
    const bool any = root != nullptr && !files_in(fs::path(root) / dir).empty();
    boost::test_tools::assertion_result r(any);
    r.message() << "skipped: no files in " << dir;
    return r;
  }
};

std::map<Status, int> replay(const std::vector<std::string>& files) {
  std::map<Status, int> counts;
  for (const std::string& f : files) {
    const splitmla::fuzz::ReadOutcome r = splitmla::fuzz::checked_read(f, in_process());
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

BOOST_AUTO_TEST_CASE(regression_inputs_stay_rejected,
                     *boost::unit_test::precondition(HasFiles{"data/fuzz/regressions"})) {
  const std::vector<std::string> files = files_in(source_dir() / "data" / "fuzz" / "regressions");
  BOOST_TEST_REQUIRE(!files.empty());
  for (const std::string& f : files) {
    const splitmla::fuzz::ReadOutcome r = splitmla::fuzz::checked_read(f, in_process());
    BOOST_TEST(r.problem.empty(), f << ": " << r.problem);
    BOOST_TEST((r.status == Status::kFormatError || r.status == Status::kFileError),
               f << ": status " << splitmla::status_name(r.status) << ", expected a rejection");
  }
  BOOST_TEST_MESSAGE(files.size() << " regression inputs rejected");
}

// Each input crashes libhdf5 1.10 (heap overflows, use after free, a 4 GB allocation) when read
// in process under ASan. Through the isolated reader (read_fixture's default) each must come
// back as kFormatError or kFileError naming the file, and this process must go on.
BOOST_AUTO_TEST_CASE(hdf5_crash_inputs_are_contained_by_the_isolated_reader,
                     *boost::unit_test::precondition(HasFiles{"data/fuzz/hdf5_crashes"})) {
  const std::vector<std::string> files =
      files_in(source_dir() / "data" / "fuzz" / "hdf5_crashes");
  BOOST_TEST_REQUIRE(files.size() >= 4u);
  for (const std::string& f : files) {
    splitmla::Fixture fx;
    const Status s = splitmla::read_fixture(f, &fx);
    const std::string msg = splitmla::status_message(s);
    BOOST_TEST_MESSAGE(msg);
    BOOST_TEST((s == Status::kFormatError || s == Status::kFileError), f << ": " << msg);
    BOOST_TEST(msg.find(f) != std::string::npos, "message lacks the path: " << msg);
  }
}

BOOST_AUTO_TEST_CASE(missing_and_empty_paths) {
  // The on-disk checks before HDF5: a missing file, a directory, an empty file.
  const fs::path dir = fs::temp_directory_path() / "splitmla-fuzz-replay";
  fs::create_directories(dir);
  const std::string empty = (dir / "empty.h5").string();
  { std::FILE* fp = std::fopen(empty.c_str(), "wb"); BOOST_REQUIRE(fp != nullptr); std::fclose(fp); }
  const splitmla::fuzz::ReadOutcome a =
      splitmla::fuzz::checked_read((dir / "absent.h5").string(), in_process());
  const splitmla::fuzz::ReadOutcome b = splitmla::fuzz::checked_read(dir.string(), in_process());
  const splitmla::fuzz::ReadOutcome c = splitmla::fuzz::checked_read(empty, in_process());
  BOOST_TEST(a.problem.empty(), a.problem);
  BOOST_TEST(b.problem.empty(), b.problem);
  BOOST_TEST(c.problem.empty(), c.problem);
  BOOST_TEST(splitmla::status_name(a.status) == std::string("kFileError"));
  BOOST_TEST(splitmla::status_name(b.status) == std::string("kFileError"));
  BOOST_TEST(splitmla::status_name(c.status) == std::string("kFormatError"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}
