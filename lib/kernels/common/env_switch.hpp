// The kernels' comparison switches: environment variables that turn a default-on kernel choice
// off for an A/B in one build. Each caller reads its variable once (a function-local static).
#pragma once

#include <cstdlib>

namespace splitmla::kernels {

// False when the variable `name` is set and starts with '0'; true otherwise (unset included).
inline bool env_switch_on(const char* name) {
  const char* env = std::getenv(name);
  return !(env != nullptr && env[0] == '0');
}

}  // namespace splitmla::kernels
