// The test-support library itself: the splitmix64 stream gives the published reference values,
// the tests' seeding and draws stay in range, the bad page ids are all out of range, and both
// problem generators keep the adversarial layout (every unseen KV row NaN, every table entry past
// a request's pages a bad id) and are reproducible from their seed.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "splitmla/reference.hpp"
#include "support/page_ids.hpp"
#include "support/problems.hpp"
#include "support/random.hpp"

namespace ts = splitmla::testsupport;

BOOST_AUTO_TEST_CASE(splitmix64_gives_the_reference_sequence) {
  // The first outputs of splitmix64 from state 0 (Vigna's reference implementation).
  ts::SplitMix64 r(0);
  BOOST_TEST(r.next() == 0xE220A8397B1DCDAFull);
  BOOST_TEST(r.next() == 0x6E789E6AA1B965F4ull);
  BOOST_TEST(r.next() == 0x06C45D188009454Full);
  // hash64(x) is the first output of the stream whose state is x.
  for (uint64_t x : {0ull, 1ull, 12345ull, ~0ull}) BOOST_TEST(ts::hash64(x) == ts::SplitMix64(x).next());
}

BOOST_AUTO_TEST_CASE(draws_stay_in_their_ranges) {
  ts::Rng r(7);
  for (int i = 0; i < 10000; ++i) {
    const double u = r.uniform();
    BOOST_REQUIRE(u >= 0.0);
    BOOST_REQUIRE(u < 1.0);
    const float s = r.sym();
    BOOST_REQUIRE(s >= -1.0f);
    BOOST_REQUIRE(s < 1.0f);
    const int32_t b = r.between(-3, 5);
    BOOST_REQUIRE(b >= -3);
    BOOST_REQUIRE(b <= 5);
    const double o = r.uniform_open();
    BOOST_REQUIRE(o > 0.0);
    BOOST_REQUIRE(o < 1.0);
    BOOST_REQUIRE(std::isfinite(r.normal()));
  }
  BOOST_TEST(r.below(0) == 0);
}

BOOST_AUTO_TEST_CASE(bad_page_ids_are_out_of_range_and_cycle) {
  for (int32_t np : {1, 7, 1000}) {
    for (int64_t k = -10; k < 20; ++k) {
      const int32_t id = ts::bad_page_id(np, k);
      BOOST_TEST((id < 0 || id >= np), "id " << id << " of " << np << " pages (k " << k << ")");
      BOOST_TEST(id == ts::bad_page_id(np, k + ts::kBadPageIds));
    }
  }
  BOOST_TEST(ts::pages_needed(0, 16) == 0);
  BOOST_TEST(ts::pages_needed(-5, 16) == 0);
  BOOST_TEST(ts::pages_needed(16, 16) == 1);
  BOOST_TEST(ts::pages_needed(17, 16) == 2);
}

namespace {

// Checks the adversarial layout of `p`: table entries past each request's pages are bad ids, and
// every KV row that no visible position uses holds NaN.
void check_layout(const splitmla::HostProblem& p) {
  std::vector<char> seen(static_cast<size_t>(p.num_pages) * p.page_size, 0);
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t len = p.seq_lens[static_cast<size_t>(b)];
    const int32_t need = ts::pages_needed(len, p.page_size);
    for (int32_t j = 0; j < p.max_pages_per_seq; ++j) {
      const int32_t id = p.block_table[static_cast<size_t>(b) * p.max_pages_per_seq + j];
      if (j >= need) {
        BOOST_TEST((id < 0 || id >= p.num_pages), "request " << b << " entry " << j << " = " << id);
        continue;
      }
      BOOST_REQUIRE(id >= 0);
      BOOST_REQUIRE(id < p.num_pages);
      for (int32_t r = 0; r < p.page_size && j * p.page_size + r < len; ++r)
        seen[static_cast<size_t>(id) * p.page_size + r] = 1;
    }
  }
  int64_t unseen = 0, nan = 0;
  for (size_t row = 0; row < seen.size(); ++row) {
    if (seen[row]) continue;
    ++unseen;
    nan += std::isnan(splitmla::half_bits_to_float(p.dtype, p.kv_cache[row * splitmla::kHeadDimQK]));
  }
  BOOST_TEST(unseen > 0);
  BOOST_TEST(nan == unseen);
}

}  // namespace

BOOST_AUTO_TEST_CASE(adversarial_problems_keep_the_layout_and_their_seed) {
  ts::AdversarialSpec g;
  g.num_heads = 3;
  g.page_size = 4;
  g.lens = {0, 1, 4, 5, 13};
  g.q_len = 2;
  g.seed = 11;
  splitmla::HostProblem a, b;
  std::string why;
  BOOST_REQUIRE_MESSAGE(ts::make_adversarial_problem(g, &a, &why), why);
  BOOST_REQUIRE_MESSAGE(ts::make_adversarial_problem(g, &b, &why), why);
  check_layout(a);
  BOOST_TEST(a.kv_cache == b.kv_cache);
  BOOST_TEST(a.q == b.q);
  BOOST_TEST(a.block_table == b.block_table);
  g.max_pages_per_seq = 1;  // 13 tokens need 4 pages of 4
  BOOST_TEST(!ts::make_adversarial_problem(g, &a, &why));
  BOOST_TEST(why.find("max_pages_per_seq") != std::string::npos, why);
}

BOOST_AUTO_TEST_CASE(uniform_problems_poison_only_when_asked) {
  ts::UniformSpec s;
  s.num_heads = 2;
  s.page_size = 4;
  s.seq_lens = {3, 0, 9};
  const splitmla::HostProblem poisoned = ts::make_uniform_problem(s, true);
  check_layout(poisoned);
  const splitmla::HostProblem plain = ts::make_uniform_problem(s, false);
  BOOST_TEST(plain.q == poisoned.q);
  for (uint16_t bits : plain.kv_cache) BOOST_REQUIRE(!std::isnan(splitmla::half_bits_to_float(plain.dtype, bits)));
}
