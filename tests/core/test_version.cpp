// The version: the generated header follows the project's version in CMakeLists.txt
// (SPLITMLA_EXPECTED_VERSION, passed by tests/core/CMakeLists.txt), the integer macro encodes it,
// and the library's runtime version() agrees with the headers it was built with.
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

#include "splitmla/version.hpp"

BOOST_AUTO_TEST_SUITE(version)

BOOST_AUTO_TEST_CASE(header_matches_the_cmake_project_version) {
  BOOST_TEST(std::string(SPLITMLA_VERSION_STRING) == SPLITMLA_EXPECTED_VERSION);
  const std::string parts = std::to_string(SPLITMLA_VERSION_MAJOR) + "." +
                            std::to_string(SPLITMLA_VERSION_MINOR) + "." +
                            std::to_string(SPLITMLA_VERSION_PATCH);
  BOOST_TEST(parts == SPLITMLA_EXPECTED_VERSION);
}

BOOST_AUTO_TEST_CASE(number_encodes_major_minor_patch) {
  BOOST_TEST(SPLITMLA_VERSION_NUMBER == SPLITMLA_VERSION_MAJOR * 10000 +
                                            SPLITMLA_VERSION_MINOR * 100 +
                                            SPLITMLA_VERSION_PATCH);
#if SPLITMLA_VERSION_NUMBER < 100  // usable in the preprocessor: 0.1.0 is 100
  BOOST_FAIL("SPLITMLA_VERSION_NUMBER is below 0.1.0");
#endif
}

BOOST_AUTO_TEST_CASE(runtime_version_agrees_with_the_headers) {
  BOOST_TEST(std::strcmp(splitmla::version(), SPLITMLA_VERSION_STRING) == 0);
  BOOST_TEST(splitmla::version_number() == SPLITMLA_VERSION_NUMBER);
}

BOOST_AUTO_TEST_SUITE_END()
