// The test_reference executable: the CPU reference (conversions, direct pass, split/merge,
// adversarial inputs, comparison, validation). Boost.Test's header-only runner lives here;
// the other files register their cases with boost/test/unit_test.hpp.
#define BOOST_TEST_MODULE test_reference
#include <boost/test/included/unit_test.hpp>
