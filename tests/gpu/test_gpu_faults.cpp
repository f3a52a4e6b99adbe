// Bad device data (the contract, section 3): a page id outside [0, num_pages) at a visible
// position, seq_len < 0 or beyond the table's capacity. The affected request's out and lse are
// NaN, every other request is unaffected bit for bit, read_errors names exactly the bad
// requests with the right bits, and the next clean run clears the record. At 16 heads (the
// mma.sync kernel) under every policy; at 64 and 128 heads on each part1 kernel and its forms
// (wgmma v2 / v1.4, fp8 v1 / v0, mma.sync), 16-bit and fp8_e4m3 caches.
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>

#include "gpu/gpu_test_util.hpp"
#include "splitmla/fp8.hpp"

using namespace gputest;
using splitmla::SplitPolicy;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

constexpr int32_t kBatch = 12, kHeads = 16, kPage = 16, kMpps = 48;

// Healthy batch: random lengths, request 3 empty (its table row is all out-of-range ids,
// which is fine: nothing is visible).
HostProblem healthy_problem(DType dtype, uint64_t seed, int32_t heads = kHeads, int32_t page = kPage) {
  Rng rng(seed);
  GenSpec g;
  g.dtype = dtype;
  g.num_heads = heads;
  g.page_size = page;
  g.max_pages_per_seq = kMpps * kPage / page;
  for (int32_t b = 0; b < kBatch; ++b) g.lens.push_back(b == 3 ? 0 : rng.between(40, 700));
  g.seed = rng.next();
  return make_problem(g);
}

// The same batch with faults planted in some requests; returns request -> expected flag bit.
std::map<int32_t, uint32_t> plant_faults(HostProblem* p) {
  const int32_t cap = p->max_pages_per_seq * p->page_size;
  auto entry = [p](int32_t b, int32_t j) -> int32_t& {
    return p->block_table[static_cast<size_t>(b) * p->max_pages_per_seq + j];
  };
  auto need = [p](int32_t b) { return pages_needed(p->seq_lens[static_cast<size_t>(b)], p->page_size); };
  std::map<int32_t, uint32_t> bad;
  entry(1, 0) = -1;                            // negative id, first visible page
  bad[1] = splitmla::kErrBadPageId;
  entry(4, need(4) - 1) = p->num_pages;        // one past the cache, last visible page
  bad[4] = splitmla::kErrBadPageId;
  entry(11, need(11) / 2) = INT_MIN;           // far out, middle of the sequence
  bad[11] = splitmla::kErrBadPageId;
  p->seq_lens[6] = -1;
  bad[6] = splitmla::kErrBadSeqLen;
  p->seq_lens[9] = cap + 1;
  bad[9] = splitmla::kErrBadSeqLen;
  p->seq_lens[10] = INT_MAX;
  bad[10] = splitmla::kErrBadSeqLen;
  return bad;
}

// Every out element and lse of request b is NaN.
bool row_all_nan(const HostProblem& p, const HostOutputs& o, int32_t b) {
  const size_t H = static_cast<size_t>(p.num_heads);
  for (size_t i = b * H * kHeadDimV; i < (b + 1) * H * kHeadDimV; ++i)
    if (!std::isnan(o.out[i])) return false;
  for (size_t h = 0; h < H && !o.lse.empty(); ++h)
    if (!std::isnan(o.lse[b * H + h])) return false;
  return true;
}

bool row_has_nan(const HostProblem& p, const HostOutputs& o, int32_t b) {
  const size_t H = static_cast<size_t>(p.num_heads);
  for (size_t i = b * H * kHeadDimV; i < (b + 1) * H * kHeadDimV; ++i)
    if (std::isnan(o.out[i])) return true;
  for (size_t h = 0; h < H && !o.lse.empty(); ++h)
    if (std::isnan(o.lse[b * H + h])) return true;
  return false;
}

void check_report(const splitmla::ErrorReport& rep, const std::map<int32_t, uint32_t>& bad) {
  BOOST_REQUIRE_EQUAL(rep.request_flags.size(), static_cast<size_t>(kBatch));
  uint32_t any = 0;
  for (int32_t b = 0; b < kBatch; ++b) {
    const uint32_t f = rep.request_flags[static_cast<size_t>(b)];
    any |= f;
    const auto it = bad.find(b);
    if (it == bad.end()) {
      BOOST_TEST(f == 0u, "healthy request " << b << " flagged " << f);
    } else {
      BOOST_TEST((f & it->second) != 0u, "bad request " << b << " flags " << f << ", expected bit " << it->second);
    }
  }
  BOOST_TEST(rep.any == any);
  std::vector<int32_t> expect;
  for (const auto& kv : bad) expect.push_back(kv.first);
  const std::vector<int32_t> got = rep.bad_requests();
  BOOST_TEST(got == expect, boost::test_tools::per_element());
}

splitmla::ErrorReport errors_of(const splitmla::Plan& plan, const splitmla::ScratchPool& pool,
                                cudaStream_t s) {
  splitmla::Workspace ws;
  GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));
  splitmla::ErrorReport rep;
  GPUTEST_REQUIRE_OK(splitmla::read_errors(plan, ws, kBatch, s, &rep));
  return rep;
}

}  // namespace

// Chunk policy (batch invariant): healthy requests of the faulty batch equal, bit for bit, the
// same requests in the clean batch; bad rows are NaN; the flags name exactly the bad requests.
BOOST_AUTO_TEST_CASE(bad_requests_are_nan_and_flagged_others_bit_identical, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  for (const DType d : {DType::kBFloat16, DType::kFloat16}) {
    for (const int32_t chunk : {64, 128, 5000}) {
      BOOST_TEST_CONTEXT(splitmla::dtype_name(d) << " chunk " << chunk) {
        const HostProblem clean = healthy_problem(d, 100 + static_cast<uint64_t>(chunk));
        HostProblem faulty = clean;
        const std::map<int32_t, uint32_t> bad = plant_faults(&faulty);
        const splitmla::Plan plan = plan_for(clean, SplitPolicy::chunk(chunk));

        DeviceProblem dc, df;
        dc.upload(clean);
        df.upload(faulty);
        const RunResult rc = run_decode(plan, pool, dc, stream.s);
        check_report(errors_of(plan, pool, stream.s), {});
        const RunResult rf = run_decode(plan, pool, df, stream.s);
        check_report(errors_of(plan, pool, stream.s), bad);
        BOOST_TEST(rf.pads_touched == 0);

        const HostOutputs of = rf.as_outputs(d);
        const size_t orow = static_cast<size_t>(kHeads) * kHeadDimV;
        for (int32_t b = 0; b < kBatch; ++b) {
          if (bad.count(b) != 0) {
            BOOST_TEST(row_all_nan(faulty, of, b), "bad request " << b << " is not all NaN");
          } else {
            BOOST_TEST(std::memcmp(&rc.out_bits[b * orow], &rf.out_bits[b * orow], orow * 2) == 0,
                       "healthy request " << b << " out changed by other requests' faults");
            BOOST_TEST(std::memcmp(&rc.lse[static_cast<size_t>(b) * kHeads], &rf.lse[static_cast<size_t>(b) * kHeads],
                                   kHeads * sizeof(float)) == 0,
                       "healthy request " << b << " lse changed by other requests' faults");
          }
        }
        // The clean batch is right, and a clean run after the faulty one clears the record.
        check_matches(clean, rc, reference_of(clean), "clean batch");
        (void)run_decode(plan, pool, dc, stream.s);
        check_report(errors_of(plan, pool, stream.s), {});
      }
    }
  }
}

// Other policies (not batch invariant, so compared with the reference, which also marks the bad
// rows NaN): same NaN rows, same flags, healthy rows within tolerance; lse on and off.
BOOST_AUTO_TEST_CASE(faults_under_auto_and_forced_policies, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  HostProblem faulty = healthy_problem(DType::kBFloat16, 7);
  const std::map<int32_t, uint32_t> bad = plant_faults(&faulty);
  const HostOutputs ref = reference_of(faulty);
  for (const bool lse_on : {true, false}) {
    DeviceProblem df;
    df.upload(faulty, Layout::dense(), lse_on);
    for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(1), SplitPolicy::forced(7),
                                  SplitPolicy::forced(64)}) {
      BOOST_TEST_CONTEXT("policy " << splitmla::policy_text(pol) << " lse " << (lse_on ? "on" : "null")) {
        const splitmla::Plan plan = plan_for(faulty, pol);
        const RunResult r = run_decode(plan, pool, df, stream.s);
        check_report(errors_of(plan, pool, stream.s), bad);
        const HostOutputs o = r.as_outputs(faulty.dtype);
        for (int32_t b = 0; b < kBatch; ++b) {
          if (bad.count(b) != 0) BOOST_TEST(row_all_nan(faulty, o, b), "bad request " << b);
          else BOOST_TEST(!row_has_nan(faulty, o, b), "healthy request " << b << " has NaN");
        }
        check_matches(faulty, r, ref, "faulty batch vs reference");
      }
    }
  }
}

// A captured graph whose replays alternate clean and faulty contents of the same buffers: the
// error record follows each replay (set by a faulty one, cleared by the next clean one).
BOOST_AUTO_TEST_CASE(fault_record_follows_graph_replays, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const HostProblem clean = healthy_problem(DType::kFloat16, 21);
  HostProblem faulty = clean;
  const std::map<int32_t, uint32_t> bad = plant_faults(&faulty);
  const splitmla::Plan plan = plan_for(clean, SplitPolicy::automatic());
  GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
  splitmla::Workspace ws;
  GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));
  DeviceProblem dp;
  dp.upload(clean);

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  GPUTEST_CUDA(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
  const Status cap = splitmla::decode(plan, dp.args, ws, stream.s);
  GPUTEST_CUDA(cudaStreamEndCapture(stream.s, &graph));
  GPUTEST_REQUIRE_OK(cap);
  GPUTEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  const HostOutputs ref_clean = reference_of(clean);
  for (int k = 0; k < 4; ++k) {
    const bool is_bad = (k % 2) == 1;
    const HostProblem& p = is_bad ? faulty : clean;
    BOOST_TEST_CONTEXT("replay " << k << (is_bad ? " faulty" : " clean")) {
      dp.upload_lens_and_table(p.seq_lens, p.block_table);
      dp.poison_outputs();
      GPUTEST_CUDA(cudaGraphLaunch(exec, stream.s));
      GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
      const RunResult r = read_back(dp);
      splitmla::ErrorReport rep;
      GPUTEST_REQUIRE_OK(splitmla::read_errors(plan, ws, kBatch, stream.s, &rep));
      check_report(rep, is_bad ? bad : std::map<int32_t, uint32_t>{});
      if (!is_bad) check_matches(clean, r, ref_clean, "clean replay");
      else
        for (const auto& kv : bad) BOOST_TEST(row_all_nan(p, r.as_outputs(p.dtype), kv.first));
    }
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// The same faults at the head counts where auto runs the wgmma kernel (64 and 128 heads: its
// three-warpgroup forms at pages of 8 rows or more, its two-warpgroup forms at pages 1..4 and for
// fp8 the lock-step form there), 16-bit and fp8_e4m3 caches, each also forced onto mma.sync: bad
// requests NaN and flagged, healthy ones within the reference's tolerances and free of NaN.
BOOST_AUTO_TEST_CASE(faults_on_every_kernel_form, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const bool wgmma = runnable_variants().size() > 1;
  uint64_t seed = 300;
  for (const bool fp8 : {false, true})
    for (const int32_t heads : {64, 128})
      for (const int32_t page : {16, 4}) {
        if (sanitizing() && heads > 64) continue;
        BOOST_TEST_CONTEXT((fp8 ? "fp8_e4m3" : "bf16") << " heads " << heads << " page " << page) {
          HostProblem faulty = healthy_problem(DType::kBFloat16, ++seed, heads, page);
          if (fp8) {
            HostProblem q;
            GPUTEST_REQUIRE_OK(splitmla::quantize_kv(faulty, splitmla::KvFormat::kFp8E4M3,
                                                     splitmla::Fp8ScaleRule::kAmax, &q));
            faulty = q;
          }
          const std::map<int32_t, uint32_t> bad = plant_faults(&faulty);
          const HostOutputs ref = reference_of(faulty);
          DeviceProblem df;
          df.upload(faulty);
          for (const auto part1 : {splitmla::Part1Variant::kAuto, splitmla::Part1Variant::kMmaSync})
            for (const SplitPolicy pol : {SplitPolicy::automatic(), SplitPolicy::forced(5)}) {
              BOOST_TEST_CONTEXT((part1 == splitmla::Part1Variant::kAuto ? "auto" : "mma_sync")
                                 << " " << splitmla::policy_text(pol)) {
                const splitmla::Plan plan = plan_for(faulty, pol, 0, part1);
                if (part1 == splitmla::Part1Variant::kAuto)
                  BOOST_TEST((plan.part1 == (wgmma ? splitmla::Part1Variant::kWgmma
                                                   : splitmla::Part1Variant::kMmaSync)));
                const RunResult r = run_decode(plan, pool, df, stream.s);
                check_report(errors_of(plan, pool, stream.s), bad);
                BOOST_TEST(r.pads_touched == 0);
                const HostOutputs o = r.as_outputs(faulty.dtype);
                for (int32_t b = 0; b < kBatch; ++b) {
                  if (bad.count(b) != 0) BOOST_TEST(row_all_nan(faulty, o, b), "bad request " << b);
                  else BOOST_TEST(!row_has_nan(faulty, o, b), "healthy request " << b << " has NaN");
                }
                check_matches(faulty, r, ref, "faulty batch vs reference");
              }
            }
        }
      }
}
