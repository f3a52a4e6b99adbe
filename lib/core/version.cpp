// The library's version, compiled in from the generated splitmla/version.hpp.
#include "splitmla/version.hpp"

namespace splitmla {

const char* version() noexcept { return SPLITMLA_VERSION_STRING; }
int version_number() noexcept { return SPLITMLA_VERSION_NUMBER; }

}  // namespace splitmla
