// Fixture generator: seeded, adversarial, self-describing. Randomness comes from our own
// splitmix64 stream and Box-Muller normals (tests/support/random.hpp) so the files are identical
// on every platform (std::normal_distribution is not specified bit for bit). The layout is this
// file's own (the committed fixtures are its output); the bad page ids are the shared table's.
#include "tools/generate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "splitmla/reference.hpp"
#include "support/page_ids.hpp"
#include "support/random.hpp"

namespace splitmla::tools {
namespace {

// The stream: splitmix64 seeded with seed ^ name_hash(case), uniform in (0, 1), Box-Muller
// normals (tests/support/random.hpp, shared with the tests and drivers).
using Rng = testsupport::SplitMix64;

uint64_t name_hash(const char* s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (; *s != '\0'; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 1099511628211ull;
  return h;
}

// Quiet NaNs with a few payloads and both signs: the decode must not read any of them.
uint16_t poison_bits(DType d, uint64_t k) {
  static const uint16_t bf16[] = {0x7FC0, 0xFFC0, 0x7FC1, 0x7FFF};
  static const uint16_t fp16[] = {0x7E00, 0xFE00, 0x7E01, 0x7FFF};
  return d == DType::kBFloat16 ? bf16[k % 4] : fp16[k % 4];
}

}  // namespace

double deepseek_softmax_scale() {
  const double mscale = 0.1 * std::log(40.0) + 1.0;
  return mscale * mscale / std::sqrt(192.0);
}

std::vector<CaseSpec> fixture_set(const std::string& set_name) {
  const DType bf = DType::kBFloat16, fp = DType::kFloat16;
  if (set_name == "faults")
    return {{"bad_data_h16_p16_bf16", bf, 16, 16, {20, 33, 5, 0, 40}, 1, 0, 1.0,
             "request 1: page id -5 in its visible range; request 2: seq_len one past its "
             "table; their rows are NaN and the device must flag exactly those two",
             true}};
  if (set_name == "multitoken")
    // Positional fields after `why`: bad_data, q_len, causal. Lengths below, at and above q_len
    // (causal: the first tokens of a short request see nothing), page and split boundaries.
    return {
        {"mt_h16_p16_bf16_q2", bf, 16, 16, {0, 1, 2, 3, 16, 17, 33, 100}, 1, 0, 1.0,
         "q_len 2, causal: token 0 sees seq_len - 1 positions; lengths 0 and 1 leave token 0 "
         "empty; 32 rows per request",
         false, 2, true},
        {"mt_h3_p1_fp16_q4_s3", fp, 3, 1, {0, 1, 3, 4, 5, 9}, 2, 3, 1.0,
         "q_len 4, causal, one token per page, 3 heads; lengths around q_len; 3 splits per row",
         false, 4, true},
        {"mt_h64_p64_bf16_q2_nc", bf, 64, 64, {1, 65, 200}, 1, 0, 1.0,
         "q_len 2, not causal (both tokens see seq_len), 64 heads, page-boundary lengths",
         false, 2, false},
        {"mt_h8_p16_bf16_q16", bf, 8, 16, {0, 15, 17, 40}, 1, 0, 1.0,
         "q_len 16 (the largest), causal, 8 heads: 128 rows; lengths below, at and above q_len",
         false, 16, true},
        {"mt_h8_p16_fp16_q16_nc", fp, 8, 16, {1, 16, 33}, 1, 0, 1.0,
         "q_len 16, not causal, fp16",
         false, 16, false},
        {"mt_h63_p128_bf16_q3", bf, 63, 128, {2, 4, 129}, 0, 0, 1.0,
         "q_len 3, causal, 63 heads (189 rows: row blocks straddle tokens), page size 128",
         false, 3, true},
        {"mt_h1_p2_bf16_q7_nc_s5", bf, 1, 2, {0, 1, 6, 7, 8, 30}, 2, 5, 1.0,
         "q_len 7, not causal, one head, page size 2, 5 splits (many empty)",
         false, 7, false},
    };
  if (set_name == "fp8") {
    // Positional fields after `why`: bad_data, q_len, causal, kv_format, scale_rule. The 16-bit
    // cache (N(0, 1), NaN rows past each length) is encoded by quantize_kv: NaN bytes past each
    // length, and (ds_mla) NaN scales in those rows too.
    const KvFormat e4 = KvFormat::kFp8E4M3, ds = KvFormat::kFp8DsMla;
    const Fp8ScaleRule amax = Fp8ScaleRule::kAmax, pow2 = Fp8ScaleRule::kPowerOfTwo;
    return {
        {"fp8_e4m3_h16_p16_bf16_s4", bf, 16, 16, {0, 1, 15, 16, 17, 100}, 1, 4, 1.0,
         "fp8_e4m3 cache (576 bytes a row, scale amax/448 per call), 16 heads, page-boundary "
         "lengths, 4 splits",
         false, 1, true, e4, amax},
        {"fp8_e4m3_h3_p64_fp16_pow2", fp, 3, 64, {1, 63, 64, 65, 300, 0}, 2, 0, 1.0,
         "fp8_e4m3 with a power-of-two scale, fp16 q, 3 heads, page size 64",
         false, 1, true, e4, pow2},
        {"fp8_e4m3_h128_p1_bf16_q2", bf, 128, 1, {0, 2, 37}, 2, 0, 1.0,
         "fp8_e4m3, 128 heads, one token per page, q_len 2 causal",
         false, 2, true, e4, amax},
        {"fp8_ds_h64_p32_bf16_s3", bf, 64, 32, {31, 32, 33, 0, 97}, 1, 3, 1.0,
         "fp8_ds_mla cache (656 bytes a row: 512 e4m3, 4 float32 scales, 64 bf16 rope), 64 heads, "
         "page size 32, 3 splits",
         false, 1, true, ds, amax},
        {"fp8_ds_h16_p1_fp16", fp, 16, 1, {0, 1, 2, 37}, 3, 0, 1.0,
         "fp8_ds_mla with fp16 q (bf16 rope converted), one token per page",
         false, 1, true, ds, amax},
        {"fp8_ds_h5_p128_bf16_q3_nc_pow2", bf, 5, 128, {3, 128, 129, 300}, 1, 0, 4.0,
         "fp8_ds_mla with power-of-two scales, 5 heads, page size 128, q_len 3 not causal, peaked "
         "softmax (q sigma 4)",
         false, 3, false, ds, pow2},
    };
  }
  if (set_name != "default") return {};
  return {
      {"h1_p1_bf16", bf, 1, 1, {0, 1, 2, 3, 5, 17, 64}, 3, 0, 1.0,
       "one head, one token per page: every position is its own page"},
      {"h2_p2_bf16_s7", bf, 2, 2, {1, 2, 3, 0, 8}, 2, 7, 1.0,
       "page size 2; 7 splits of rows with 1..8 positions leave most splits empty"},
      {"h5_p4_fp16_s7", fp, 5, 4, {3, 4, 5, 0, 9, 1}, 2, 7, 1.0,
       "page size 4, odd head count, lengths around the page boundary, empty splits"},
      {"h3_p16_fp16_s7", fp, 3, 16, {15, 16, 17, 0, 31, 32, 33, 1, 6}, 1, 7, 1.0,
       "3 heads; lengths one below, at and one above 1 and 2 pages of 16; empty splits"},
      {"h16_p16_bf16_s7", bf, 16, 16, {1, 3, 6, 7, 8, 14, 50, 0}, 2, 7, 1.0,
       "16 heads; 7 splits of ceil(n/7) positions with trailing empty splits"},
      {"h32_p8_bf16", bf, 32, 8, {7, 8, 9, 0, 24, 300}, 1, 0, 1.0,
       "32 heads, page size 8, page-boundary lengths and a 300-token row"},
      {"h63_p64_bf16_s4", bf, 63, 64, {63, 64, 65, 0, 129}, 1, 4, 1.0,
       "63 heads (not a multiple of 16), page size 64, boundary lengths, 4 splits"},
      {"h127_p128_fp16", fp, 127, 128, {127, 129, 0, 256}, 0, 0, 1.0,
       "127 heads, page size 128; the 256-token row fills its block-table row exactly"},
      {"h128_p1_fp16", fp, 128, 1, {0, 1, 2, 37}, 2, 0, 1.0,
       "128 heads with one token per page"},
      {"h16_p128_fp16_s4", fp, 16, 128, {0, 127, 128, 129, 257, 3}, 1, 4, 1.0,
       "page size 128, lengths around one and two pages, 4 splits"},
      {"empty_h16_p16_bf16_s7", bf, 16, 16, {0, 0}, 2, 7, 1.0,
       "every request empty: out = 0, lse = -inf everywhere; every page is NaN"},
      {"h8_p16_bf16_peaked", bf, 8, 16, {1, 16, 200, 511}, 1, 0, 4.0,
       "large q (sigma 4): sharply peaked softmax, tests the running max"},
      {"h8_p16_fp16_peaked_s4", fp, 8, 16, {1, 16, 200, 511}, 1, 4, 4.0,
       "large q in fp16 with 4 splits: merge of partials with very different lse"},
      {"h16_p16_fp16_long_s4", fp, 16, 16, {1500, 17, 0}, 1, 4, 1.0,
       "a 1500-token row next to short and empty ones, 4 splits"},
      {"h128_p64_bf16_long", bf, 128, 64, {3000, 1, 200, 0}, 1, 0, 1.0,
       "medium: a 3000-token row with 128 heads (DeepSeek's head count), page size 64"},
      {"h64_p32_fp16_s3", fp, 64, 32, {31, 32, 33, 0, 97, 64}, 1, 3, 1.0,
       "page size 32 (one 64-row wgmma tile spans two pages), 64 heads, lengths around the page "
       "and tile boundaries, 3 splits"},
  };
}

Status build_case(const CaseSpec& spec, uint64_t seed, const std::string& set_name, Fixture* f) {
  Rng rng(seed ^ name_hash(spec.name));
  HostProblem p;
  p.dtype = spec.dtype;
  p.batch = static_cast<int32_t>(spec.seq_lens.size());
  p.q_len = spec.q_len;
  p.causal = spec.causal;
  p.num_heads = spec.num_heads;
  p.page_size = spec.page_size;
  p.softmax_scale = deepseek_softmax_scale();
  p.seq_lens = spec.seq_lens;
  const int32_t ps = spec.page_size;

  int32_t widest = 0, needed = 0;
  for (int32_t n : spec.seq_lens) {
    widest = std::max(widest, testsupport::pages_needed(n, ps));
    needed += testsupport::pages_needed(n, ps);
  }
  p.max_pages_per_seq = std::max(1, widest + spec.extra_columns);
  const int32_t spare = 2;  // pages nobody owns: all NaN
  p.num_pages = needed + spare;

  // Page ids: a random permutation; requests take the first `needed` ones in order.
  std::vector<int32_t> perm(static_cast<size_t>(p.num_pages));
  for (int32_t i = 0; i < p.num_pages; ++i) perm[size_t(i)] = i;
  for (int32_t i = p.num_pages - 1; i > 0; --i)
    std::swap(perm[size_t(i)], perm[size_t(rng.below(uint64_t(i) + 1))]);

  // Everything starts poisoned; visible rows are overwritten below.
  p.kv_cache.resize(size_t(p.num_pages) * ps * kHeadDimQK);
  for (size_t i = 0; i < p.kv_cache.size(); ++i) p.kv_cache[i] = poison_bits(p.dtype, i / 7);

  p.block_table.assign(size_t(p.batch) * p.max_pages_per_seq, 0);
  int32_t next_page = 0;
  uint64_t bad_k = 0;
  for (int32_t b = 0; b < p.batch; ++b) {
    const int32_t n = spec.seq_lens[size_t(b)];
    const int32_t own = testsupport::pages_needed(n, ps);
    int32_t* row = &p.block_table[size_t(b) * p.max_pages_per_seq];
    for (int32_t j = 0; j < own; ++j) {
      const int32_t page = perm[size_t(next_page++)];
      row[j] = page;
      const int32_t visible_rows = std::min(ps, n - j * ps);
      for (int32_t r = 0; r < visible_rows; ++r) {
        uint16_t* kv = &p.kv_cache[(size_t(page) * ps + r) * kHeadDimQK];
        for (int d = 0; d < kHeadDimQK; ++d)
          kv[d] = float_to_half_bits(p.dtype, static_cast<float>(rng.normal()));
      }
    }
    // Entries past the need, a cycle of six: the shared bad ids (num_pages, -1, INT_MAX,
    // INT_MIN, num_pages + 1000) with a valid but NaN spare page after the third.
    for (int32_t j = own; j < p.max_pages_per_seq; ++j) {
      const uint64_t k = bad_k++ % 6;
      row[j] = k == 3 ? perm[size_t(needed)]  // a spare page: in range, all NaN
                      : testsupport::bad_page_id(p.num_pages, static_cast<int64_t>(k < 3 ? k : k - 1));
    }
  }

  if (spec.bad_data && p.batch >= 3) {
    p.block_table[size_t(1) * p.max_pages_per_seq] = -5;  // first visible page of request 1
    p.seq_lens[2] = p.max_pages_per_seq * ps + 1;          // beyond request 2's table
  }

  p.q.resize(size_t(p.batch) * p.q_len * p.num_heads * kHeadDimQK);
  for (uint16_t& v : p.q)
    v = float_to_half_bits(p.dtype, static_cast<float>(spec.q_sigma * rng.normal()));

  if (spec.kv_format != KvFormat::kSameAsQ) {
    HostProblem q;
    const Status s = quantize_kv(p, spec.kv_format, spec.scale_rule, &q);
    if (s != Status::kSuccess) return s;
    p = std::move(q);
  }

  Fixture out;
  out.problem = std::move(p);
  out.source = "cpu-reference";
  out.has_seed = true;
  out.seed = static_cast<int64_t>(seed);
  char desc[512];
  std::snprintf(desc, sizeof(desc),
                "splitmla_fixture generate --seed %llu --set %s, case %s: %s",
                static_cast<unsigned long long>(seed), set_name.c_str(), spec.name, spec.why);
  out.description = desc;
  Status s = reference_decode(out.problem, &out.reference);
  if (s != Status::kSuccess) return s;
  if (spec.num_splits > 0) {
    out.has_splits = true;
    s = reference_split_partials(out.problem, spec.num_splits, &out.splits);
    if (s != Status::kSuccess) return s;
  }
  *f = std::move(out);
  return Status::kSuccess;
}

}  // namespace splitmla::tools
