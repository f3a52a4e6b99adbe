// Test helper: random decode problems for the CPU reference, with the contract's adversarial
// layout available on request (NaN rows past each length, bad page ids past each table row).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <vector>

#include "splitmla/reference.hpp"
#include "support/problems.hpp"

// Lets Boost.Test print a Status in failed assertions (found by argument-dependent lookup).
namespace splitmla {
inline std::ostream& operator<<(std::ostream& os, Status s) { return os << status_name(s); }
}  // namespace splitmla

namespace reftest {

// Random problems for the CPU reference (tests/support/problems.hpp): values uniform in
// [-magnitude, magnitude]; with `poison`, the contract's adversarial layout.
using Spec = splitmla::testsupport::UniformSpec;
inline splitmla::HostProblem make_problem(const Spec& s, bool poison) {
  return splitmla::testsupport::make_uniform_problem(s, poison);
}

// Element index helpers for [batch, q_len, heads, 512] and [batch, q_len, heads].
inline size_t row_index(const splitmla::HostProblem& p, int32_t b, int32_t t, int32_t h) {
  return (static_cast<size_t>(b) * p.q_len + t) * p.num_heads + h;
}
inline size_t out_index(const splitmla::HostProblem& p, int32_t b, int32_t t, int32_t h,
                        int32_t d) {
  return row_index(p, b, t, h) * splitmla::kHeadDimV + d;
}

// True when two float vectors are bitwise identical (NaN matches NaN of the same bits).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::memcmp(&x, &y, sizeof x) == 0;
         });
}

}  // namespace reftest
