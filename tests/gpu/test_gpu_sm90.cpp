// The Hopper part1 variant's building blocks on the GPU, one tile at a time, against plain CPU
// arithmetic (sm90_probe.cu runs them with the kernel's own layout helper, descriptors, PTX
// wrappers and tensor-map encoder):
//  - QK^T: the v1 kernel's 36-step wgmma sequence (m64n64k16, both operands K-major in the planar
//    128B-swizzled tile) on a 64 x 576 Q tile and a 64 x 576 K tile, and the v2 kernel's (Q's
//    latent part as register fragments, 32 RS steps, then 4 SS steps over its rope group), bf16
//    and fp16;
//  - PV: P in registers (pv_rs) and P in shared memory (pv_ss), V read transposed (MN-major)
//    from the tile, m64n256k16, both dtypes;
//  - tensor-map boxes over a paged cache for every page size the TMA loader serves (8..128):
//    every element of the 64-row tile lands at its swizzled offset, and out-of-bounds page ids
//    land zeros.
// The descriptors' encodings themselves are golden constants on the CPU (tests/core).
// Every case needs an sm_90 device and a build with sm_90a; elsewhere they report skipped.
#include <boost/test/unit_test.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <random>
#include <sstream>
#include <vector>

#include "gpu/sm90_probe.hpp"
#include "kernels/part1/wgmma/sm90_desc.hpp"
#include "splitmla/reference.hpp"
#include "support/gpu_skip.hpp"

using splitmla::DType;
using splitmla::testsupport::AnnounceSkipDevice;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

boost::test_tools::assertion_result sm90_precondition(boost::unit_test::test_unit_id id) {
  boost::test_tools::assertion_result r = splitmla::testsupport::gpu_precondition(id);
  if (!r) return r;
  int dev = 0, major = 0, minor = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
  boost::test_tools::assertion_result s(major == 9 && minor == 0 && sm90probe::built_for_sm90a());
  if (!s) {
    s.message() << "needs an sm_90 device and a build with sm_90a (device " << major << "." << minor
                << ", built for sm_90a: " << (sm90probe::built_for_sm90a() ? "yes" : "no") << ")";
  }
  return s;
}
boost::unit_test::decorator::precondition needs_sm90() {
  return boost::unit_test::precondition(sm90_precondition);
}

// Uniform values in [lo, hi), rounded to the dtype; returns the bit patterns and the values.
void random_tile(DType d, size_t n, double lo, double hi, uint64_t seed, std::vector<uint16_t>* bits,
                 std::vector<double>* vals) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  bits->resize(n);
  vals->resize(n);
  for (size_t i = 0; i < n; ++i) {
    (*bits)[i] = splitmla::float_to_half_bits(d, static_cast<float>(u(rng)));
    (*vals)[i] = splitmla::half_bits_to_float(d, (*bits)[i]);
  }
}

// Compares got with ref (both row-major, `cols` wide): |err| <= 1e-3 + 1e-3 |ref| (fp32
// accumulation of at most 576 products of magnitude <= 1 errs by ~1e-5). Reports the worst.
void check_close(const std::vector<float>& got, const std::vector<double>& ref, int cols,
                 const std::string& label) {
  BOOST_TEST_REQUIRE(got.size() == ref.size());
  size_t bad = 0, worst = 0;
  double worst_err = -1.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(err <= 1e-3 + 1e-3 * std::fabs(ref[i]))) ++bad;
    if (!(err <= worst_err)) {
      worst_err = err;
      worst = i;
    }
  }
  BOOST_TEST(bad == 0u, label << ": " << bad << " of " << ref.size() << " elements off; worst (row "
                              << worst / cols << ", col " << worst % cols << "): got " << got[worst]
                              << " ref " << ref[worst]);
  BOOST_TEST_MESSAGE(label << ": max |err| " << worst_err);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(wgmma_tiles)

BOOST_AUTO_TEST_CASE(qk_sequence_matches_the_cpu, *needs_sm90()) {
  for (DType d : {DType::kBFloat16, DType::kFloat16}) {
    std::vector<uint16_t> qb, kb;
    std::vector<double> qv, kv;
    random_tile(d, 64 * 576, -1.0, 1.0, 11, &qb, &qv);
    random_tile(d, 64 * 576, -1.0, 1.0, 12, &kb, &kv);
    std::vector<double> ref(64 * 64, 0.0);
    for (int h = 0; h < 64; ++h)
      for (int key = 0; key < 64; ++key) {
        double s = 0.0;
        for (int c = 0; c < 576; ++c) s += qv[h * 576 + c] * kv[key * 576 + c];
        ref[h * 64 + key] = s;
      }
    for (const bool rs : {false, true}) {
      std::vector<float> got;
      const cudaError_t e = sm90probe::qk_tile(d == DType::kFloat16, qb, kb, &got, rs);
      BOOST_TEST_REQUIRE(e == cudaSuccess, cudaGetErrorString(e));
      check_close(got, ref, 64, std::string("QK^T ") + (rs ? "(Q in registers, qk_rs) " : "") +
                                    splitmla::dtype_name(d));
    }
  }
}

BOOST_AUTO_TEST_CASE(pv_from_registers_and_from_shared_memory_match_the_cpu, *needs_sm90()) {
  for (DType d : {DType::kBFloat16, DType::kFloat16}) {
    std::vector<uint16_t> pb, kb;
    std::vector<double> pv, kv;
    random_tile(d, 64 * 64, 0.0, 1.0, 21, &pb, &pv);
    random_tile(d, 64 * 576, -1.0, 1.0, 22, &kb, &kv);
    std::vector<double> ref(64 * 512, 0.0);
    for (int r = 0; r < 64; ++r)
      for (int c = 0; c < 512; ++c) {
        double s = 0.0;
        for (int key = 0; key < 64; ++key) s += pv[r * 64 + key] * kv[key * 576 + c];
        ref[r * 512 + c] = s;
      }
    std::vector<float> got;
    const cudaError_t e = sm90probe::pv_tile(d == DType::kFloat16, pb, kb, &got);
    BOOST_TEST_REQUIRE(e == cudaSuccess, cudaGetErrorString(e));
    // Columns 0..255 came through pv_rs, 256..511 through pv_ss: check each half on its own.
    std::vector<float> left, right;
    std::vector<double> ref_left, ref_right;
    for (int r = 0; r < 64; ++r)
      for (int c = 0; c < 512; ++c) {
        (c < 256 ? left : right).push_back(got[r * 512 + c]);
        (c < 256 ? ref_left : ref_right).push_back(ref[r * 512 + c]);
      }
    check_close(left, ref_left, 256, std::string("PV, P in registers (pv_rs) ") + splitmla::dtype_name(d));
    check_close(right, ref_right, 256, std::string("PV, P in shared memory (pv_ss) ") + splitmla::dtype_name(d));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tensor_map_tiles)

// For each page size: a 40-page cache whose every element is a distinct-enough pattern of
// (page, row, column), a request whose block table is a shuffled set of pages with its last run
// pointing past the cache, and tiles starting at w0 = 0 and at later runs. Each element of the
// landed tile must sit at tile_offset(64, r, c) with the cache's value (or 0 past the cache).
BOOST_AUTO_TEST_CASE(boxes_land_swizzled_for_every_page_size, *needs_sm90()) {
  constexpr int kPages = 40;
  for (int ps : {8, 16, 32, 64, 128}) {
    const int run = ps < 64 ? ps : 64;
    std::vector<uint16_t> cache(static_cast<size_t>(kPages) * ps * 576);
    for (int pg = 0; pg < kPages; ++pg)
      for (int r = 0; r < ps; ++r)
        for (int c = 0; c < 576; ++c)
          cache[(static_cast<size_t>(pg) * ps + r) * 576 + c] =
              static_cast<uint16_t>(1 + (pg * 7919 + r * 577 + c) % 65521);
    std::mt19937_64 rng(static_cast<uint64_t>(ps));
    std::vector<int32_t> table(kPages);
    for (int i = 0; i < kPages; ++i) table[static_cast<size_t>(i)] = i;
    std::shuffle(table.begin(), table.end(), rng);
    for (int w0 : {0, run, 3 * run})
      for (bool past_the_cache : {false, true}) {
        // With past_the_cache, the run holding position w0 + 63 reads an out-of-range page id
        // (num_pages + 5): its rows must land as zeros (the whole tile when it is one run).
        std::vector<int32_t> t = table;
        if (past_the_cache) t[static_cast<size_t>((w0 + 63) / ps)] = kPages + 5;
        std::vector<uint8_t> tile;
        const cudaError_t e = sm90probe::tma_tile(ps, kPages, cache, t, w0, &tile);
        BOOST_TEST_REQUIRE(e == cudaSuccess, "page " << ps << ": " << cudaGetErrorString(e));
        size_t bad = 0, zeros_expected = 0;
        std::ostringstream first;
        for (int r = 0; r < 64; ++r) {
          const int pos = w0 + r;
          const int32_t pg = t[static_cast<size_t>(pos / ps)];
          for (int c = 0; c < 576; ++c) {
            const uint16_t want =
                pg < kPages ? cache[(static_cast<size_t>(pg) * ps + pos % ps) * 576 + c] : uint16_t{0};
            if (want == 0) ++zeros_expected;
            uint16_t got;
            std::memcpy(&got, &tile[splitmla::kernels::sm90::tile_offset(64, r, c)], 2);
            if (got != want && bad++ == 0)
              first << "row " << r << " col " << c << ": got " << got << " want " << want;
          }
        }
        BOOST_TEST(bad == 0u, "page " << ps << " w0 " << w0 << (past_the_cache ? " (last run past the cache)" : "")
                                      << ": " << bad << " elements misplaced; first: " << first.str());
        // Without the bad id every element is a nonzero pattern; with it, one run's rows are zeros.
        BOOST_TEST(zeros_expected == (past_the_cache ? static_cast<size_t>(run) * 576 : 0u));
      }
  }
}

BOOST_AUTO_TEST_SUITE_END()
