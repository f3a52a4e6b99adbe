// splitmix64: the one seeded, platform-independent random stream of the tests, the fixture
// generator, the experiment drivers and the soak. Header-only, no dependency but <cstdint>, and
// usable in device code (the drivers draw their inputs on the GPU from hash64).
//
//   splitmix64_mix(z)   the finalizer (Stafford's variant 13 constants)
//   hash64(x)           mix(x + golden): a counter-based draw, a pure function of x
//   SplitMix64          the sequential stream: state += golden, then mix
//
// Every consumer's numbers are fixed by what it seeds and how it turns 64 bits into a value; the
// committed fixtures (lib/tools/generate.cpp) depend on that bit for bit, so none of these
// formulas may change.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SPLITMLA_TS_HD __host__ __device__ inline
#else
#define SPLITMLA_TS_HD inline
#endif

namespace splitmla::testsupport {

inline constexpr uint64_t kGolden64 = 0x9E3779B97F4A7C15ull;

SPLITMLA_TS_HD uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

SPLITMLA_TS_HD uint64_t hash64(uint64_t x) { return splitmix64_mix(x + kGolden64); }

// The top 53 bits as a double in [0, 1).
inline double unit_double(uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}
// The top 53 bits as a double in (0, 1): never 0, so log() stays finite.
inline double open_unit_double(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
}

// The sequential stream, seeded with its state as given.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() { return splitmix64_mix(state_ += kGolden64); }
  uint64_t below(uint64_t n) { return next() % n; }  // n > 0
  double uniform() { return unit_double(next()); }     // [0, 1)
  double uniform_open() { return open_unit_double(next()); }  // (0, 1)
  // Standard normal by Box-Muller on uniform_open() (std::normal_distribution is not specified
  // bit for bit); the second value of each pair is kept for the next call.
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform_open()));
    const double a = 6.283185307179586 * uniform_open();
    spare_ = r * std::sin(a);
    have_spare_ = true;
    return r * std::cos(a);
  }

 private:
  uint64_t state_;
  double spare_ = 0.0;
  bool have_spare_ = false;
};

// The tests' stream: a seed scrambled first (small consecutive seeds give unrelated streams),
// with the draws the adversarial problems and the GPU suites use.
class Rng : public SplitMix64 {
 public:
  explicit Rng(uint64_t seed) : SplitMix64(seed * kGolden64 + 0x632BE59BD9B4E019ull) {}
  float sym() { return static_cast<float>(2.0 * uniform() - 1.0); }  // [-1, 1)
  int32_t below(int32_t n) {
    return n <= 0 ? 0 : static_cast<int32_t>(next() % static_cast<uint64_t>(n));
  }
  int32_t between(int32_t lo, int32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
};

}  // namespace splitmla::testsupport
