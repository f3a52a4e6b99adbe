// Boost.Test's header-only implementation, compiled once per build: every suite links this
// object library (splitmla_test_main) and includes only <boost/test/unit_test.hpp>, which
// declares what this translation unit defines (BOOST_TEST_DYN_LINK stays undefined). Compiling
// the framework took about 27 s of each suite's 28 s; ten suites paid it ten times.
//
// No BOOST_TEST_MODULE here: the master suite takes the executable's name instead (core_status,
// test_gpu_decode, ...), so reports keep naming the suite that ran.
#include <boost/test/included/unit_test.hpp>

#include <string>

boost::unit_test::test_suite* init_unit_test_suite(int argc, char* argv[]) {
  std::string name = argc > 0 && argv[0] != nullptr ? argv[0] : "splitmla_tests";
  const size_t slash = name.find_last_of('/');
  if (slash != std::string::npos) name.erase(0, slash + 1);
  boost::unit_test::framework::master_test_suite().p_name.value = name;
  return nullptr;
}
