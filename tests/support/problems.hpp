// The tests' random decode problems, both with the contract's adversarial layout (NaN in every KV
// row no request can see, out-of-range ids in every table entry past a request's pages, pages in
// shuffled order):
//
//   make_adversarial_problem  splitmix64 draws, a mean vector per request and a few "hot" rows
//                             (the GPU and context-parallel suites)
//   make_uniform_problem      std::mt19937_64, values uniform in [-magnitude, magnitude], the
//                             poison optional (the CPU reference suites)
//
// The two differ in their distributions on purpose (each suite's expectations were set on its
// own); what they share is the stream, the page-id table and the NaN bits (random.hpp,
// page_ids.hpp). The fixture generator (lib/tools/generate.cpp) has a third layout, fixed by the
// committed files, built on the same header-only pieces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "splitmla/reference.hpp"
#include "splitmla/types.hpp"
#include "support/page_ids.hpp"
#include "support/random.hpp"

namespace splitmla::testsupport {

struct AdversarialSpec {
  DType dtype = DType::kBFloat16;
  int32_t num_heads = 16;
  int32_t page_size = 16;
  std::vector<int32_t> lens;
  uint64_t seed = 1;
  double softmax_scale = 0.0;     // 0: random in [0.05, 0.25]
  int32_t max_pages_per_seq = 0;  // 0: widest request + 2 poisoned entries
  int32_t num_pages = 0;          // 0: pages used + 3 unused (NaN) pages
  int32_t q_len = 1;              // query tokens per request
  bool causal = true;
};

// Each request's pages are drawn from a random permutation of the cache. Values: each request
// has a mean vector mu (so out is not near zero and a wrong normalization shows); rows are
// mu + 0.5 * noise; a few "hot" rows per request lean towards head 0's query so the softmax is
// peaked somewhere inside the sequence. False (with *error set) when the lengths do not fit
// the given max_pages_per_seq / num_pages.
bool make_adversarial_problem(const AdversarialSpec& g, HostProblem* out, std::string* error);

// Contract-style lengths around page boundaries for one page size: 0, 1, and k*page +-1.
std::vector<int32_t> boundary_lengths(int32_t page_size);

struct UniformSpec {
  DType dtype = DType::kBFloat16;
  int32_t num_heads = 1;
  int32_t page_size = 16;
  int32_t q_len = 1;
  bool causal = true;
  std::vector<int32_t> seq_lens{1};
  double softmax_scale = 0.0721687836;  // 1/sqrt(192), as DeepSeek without mscale
  uint64_t seed = 1;
  int32_t spare_pages = 2;    // pages no request uses
  int32_t spare_entries = 1;  // table entries past the longest request's last needed page
  float magnitude = 1.0f;     // q and kv values are uniform in [-magnitude, magnitude]
};

// The quiet NaN the uniform problems put in unseen rows (0x7e00 fp16, 0x7fc0 bf16).
uint16_t quiet_nan_bits(DType d);

// Pages are handed out in a shuffled order. With `poison`, every KV row no request can see holds
// NaN and every table entry past a request's last needed page an out-of-range id; without it
// those rows hold random values and those entries a valid page. The visible data is the same
// either way.
HostProblem make_uniform_problem(const UniformSpec& s, bool poison);

}  // namespace splitmla::testsupport
