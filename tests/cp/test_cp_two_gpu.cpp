// Context-parallel decode on two GPUs over NCCL: one process, one thread per GPU, communicators
// from ncclCommInitAll (each thread drives its own GPU, the pattern NCCL documents for one
// process with several devices). Every mode against the one-GPU decode and the float64
// reference; both modes bitwise repeatable over 100 runs; a CUDA graph of the whole step replayed
// 1,000 times with changing lengths, bitwise equal to eager runs; a bad page on one rank NaN-ing
// only its request, on every rank.
//
// Needs 2 CUDA devices and splitmla_nccl built with NCCL: otherwise it prints why and exits 77
// (CTest: Skipped); SPLITMLA_REQUIRE_MULTIGPU=1 turns that into a failure. Boost assertions run
// in the main thread only: the rank threads return their results and error texts.
#include <boost/test/unit_test.hpp>

#include <cuda_runtime_api.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cp/cp_test_util.hpp"
#include "splitmla/cp_nccl.hpp"

#if defined(SPLITMLA_TEST_HAVE_NCCL)
#include <nccl.h>
#endif

using splitmla::CpExchange;
using splitmla::HostProblem;
using splitmla::PartialType;
using splitmla::ShardSpec;
using splitmla::Status;

using cptest::Mode;
using cptest::kModes;
using cptest::label;
using cptest::problem;

namespace {

constexpr int kWorld = 2;

bool multigpu_required() {
  const char* v = std::getenv("SPLITMLA_REQUIRE_MULTIGPU");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Skips the whole executable (exit 77) when the machine or the build cannot run it.
struct TwoGpuGate {
  TwoGpuGate() {
    std::string why;
    const int n = splitmla::device_count();
#if !defined(SPLITMLA_TEST_HAVE_NCCL)
    why = "built without NCCL (SPLITMLA_WITH_NCCL=OFF or NCCL not found)";
#else
    if (!splitmla::cp_nccl_built()) why = "splitmla_nccl built without NCCL";
#endif
    if (why.empty() && n < kWorld)
      why = n == 0 ? "no CUDA device (needs 2)" : "needs 2 CUDA devices, found " + std::to_string(n);
    if (why.empty()) return;
    if (multigpu_required()) {
      std::cerr << "multigpu test cannot run (" << why
                << ") but SPLITMLA_REQUIRE_MULTIGPU is set: failing" << std::endl;
      std::_Exit(1);
    }
    std::cout << "skipped: " << why << std::endl;
    std::cout.flush();
    std::_Exit(77);
  }
};
BOOST_TEST_GLOBAL_FIXTURE(TwoGpuGate);

#if defined(SPLITMLA_TEST_HAVE_NCCL)

// The two communicators, made once per process.
struct Comms {
  std::array<ncclComm_t, kWorld> comm{};
  Comms() {
    const int devs[kWorld] = {0, 1};
    const ncclResult_t r = ncclCommInitAll(comm.data(), kWorld, devs);
    BOOST_REQUIRE_MESSAGE(r == ncclSuccess, "ncclCommInitAll: " << ncclGetErrorString(r));
  }
  ~Comms() {
    for (ncclComm_t c : comm)
      if (c != nullptr) ncclCommDestroy(c);
  }
};
Comms& comms() {
  static Comms c;
  return c;
}

// Runs f(rank) on one thread per GPU (device set) and fails the test with their error texts.
void on_both(const std::function<std::string(int)>& f) {
  std::array<std::string, kWorld> err;
  std::array<std::thread, kWorld> t;
  for (int r = 0; r < kWorld; ++r)
    t[static_cast<size_t>(r)] = std::thread([&, r] {
      const cudaError_t e = cudaSetDevice(r);
      err[static_cast<size_t>(r)] = e != cudaSuccess ? std::string("cudaSetDevice: ") + cudaGetErrorString(e) : f(r);
    });
  for (auto& th : t) th.join();
  for (int r = 0; r < kWorld; ++r)
    BOOST_REQUIRE_MESSAGE(err[static_cast<size_t>(r)].empty(), "rank " << r << ": " << err[static_cast<size_t>(r)]);
}

#define RANK_OK(expr)                                                                     \
  do {                                                                                    \
    const Status rank_s_ = (expr);                                                        \
    if (rank_s_ != Status::kSuccess) return std::string(#expr) + " -> " + splitmla::status_message(rank_s_); \
  } while (0)
#define RANK_CUDA(expr)                                                                   \
  do {                                                                                    \
    const cudaError_t rank_e_ = (expr);                                                   \
    if (rank_e_ != cudaSuccess) return std::string(#expr) + " -> " + cudaGetErrorString(rank_e_); \
  } while (0)

// One rank's device state, built in the main thread (device r current).
struct RankState {
  gputest::Stream* stream = nullptr;
  gputest::DeviceProblem dp;    // the shard, seq_lens replaced by the global ones; out/lse full size
  splitmla::CpPlan plan;
  gputest::DevBuf ws;
  int32_t first = 0, count = 0;  // heads this rank writes
  splitmla::DecodeArgs args;     // dp.args with out/lse moved to this rank's first head
  splitmla::Workspace view() const {
    splitmla::Workspace w;
    w.data = ws.get();
    w.bytes = ws.bytes();
    w.device = plan.shard.device;
    return w;
  }
  // out bits and lse of this rank's heads, [batch][q_len][count][512] and [batch][q_len][count].
  std::string read(std::vector<uint16_t>* out, std::vector<float>* lse) const {
    const int64_t B = dp.host.batch, T = dp.host.q_len;
    const splitmla::DecodeArgs& a = dp.args;
    std::vector<uint16_t> o(static_cast<size_t>(a.out_stride_batch * B));
    std::vector<float> l(static_cast<size_t>(a.lse_stride_batch * B));
    RANK_CUDA(cudaMemcpy(o.data(), dp.out.get(), o.size() * 2, cudaMemcpyDeviceToHost));
    RANK_CUDA(cudaMemcpy(l.data(), dp.lse.get(), l.size() * 4, cudaMemcpyDeviceToHost));
    out->assign(static_cast<size_t>(B * T * count * 512), 0);
    lse->assign(static_cast<size_t>(B * T * count), 0.f);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < count; ++i) {
          const int64_t h = first + i, row = (b * T + t) * count + i;
          std::memcpy(&(*out)[static_cast<size_t>(row * 512)],
                      &o[static_cast<size_t>(b * a.out_stride_batch + t * a.out_stride_token + h * a.out_stride_head)], 1024);
          (*lse)[static_cast<size_t>(row)] =
              l[static_cast<size_t>(b * a.lse_stride_batch + t * a.lse_stride_token + h * a.lse_stride_head)];
        }
    return "";
  }
};

struct Ranks {
  std::array<gputest::Stream*, kWorld> streams{};
  std::array<std::unique_ptr<RankState>, kWorld> r;
  ~Ranks() {
    for (int i = 0; i < kWorld; ++i) {
      if (!r[static_cast<size_t>(i)]) continue;
      cudaSetDevice(i);
      r[static_cast<size_t>(i)].reset();
      delete streams[static_cast<size_t>(i)];
    }
    cudaSetDevice(0);
  }
};

// Shards of `p` on GPUs 0 and 1 (table widths from `capacity`, the longest global length any run
// will use), plans, workspaces; `bad` = (rank, request) whose first table entry is out of range.
void build(Ranks& rs, const HostProblem& p, const ShardSpec& base, const Mode& m, int64_t capacity,
           std::pair<int32_t, int32_t> bad = {-1, -1}) {
  comms();  // made here, in the main thread, before any rank thread uses them
  for (int32_t r = 0; r < kWorld; ++r) {
    GPUTEST_CUDA(cudaSetDevice(r));
    ShardSpec s = base;
    s.rank = r;
    HostProblem shard = cptest::make_shard(p, s, cptest::local_width_for(s, capacity, p.page_size));
    if (bad.first == r) shard.block_table[static_cast<size_t>(bad.second) * shard.max_pages_per_seq] = shard.num_pages + 3;
    rs.streams[static_cast<size_t>(r)] = new gputest::Stream();
    auto st = std::make_unique<RankState>();
    st->stream = rs.streams[static_cast<size_t>(r)];
    st->dp.upload(shard);
    st->dp.lens.upload(p.seq_lens);
    GPUTEST_REQUIRE_OK(splitmla::make_cp_plan(cptest::cp_config(shard, s, m.type, m.exchange), &st->plan));
    st->ws.alloc(st->plan.workspace_bytes);
    splitmla::cp_rank_heads(st->plan, r, &st->first, &st->count);
    st->args = st->dp.args;
    st->args.out = static_cast<uint16_t*>(st->args.out) + st->first * st->args.out_stride_head;
    st->args.lse = st->args.lse + st->first * st->args.lse_stride_head;
    rs.r[static_cast<size_t>(r)] = std::move(st);
  }
  GPUTEST_CUDA(cudaSetDevice(0));
}

// One eager step on rank r, synchronized, read back.
std::string step(RankState& st, int r, std::vector<uint16_t>* out, std::vector<float>* lse) {
  RANK_OK(splitmla::cp_decode_nccl(st.plan, st.args, st.view(), comms().comm[static_cast<size_t>(r)], st.stream->s));
  RANK_CUDA(cudaStreamSynchronize(st.stream->s));
  return st.read(out, lse);
}

// The per-rank head slices put together into a full RunResult (all-to-all), or rank 0's own.
gputest::RunResult assemble(const HostProblem& p, const std::array<std::vector<uint16_t>, kWorld>& out,
                            const std::array<std::vector<float>, kWorld>& lse, const Ranks& rs, int only_rank) {
  gputest::RunResult res;
  const int64_t H = p.num_heads, T = p.q_len;
  res.out_bits.assign(static_cast<size_t>(p.batch * T * H * 512), 0);
  res.lse.assign(static_cast<size_t>(p.batch * T * H), 0.f);
  for (int r = 0; r < kWorld; ++r) {
    if (only_rank >= 0 && r != only_rank) continue;
    const RankState& st = *rs.r[static_cast<size_t>(r)];
    for (int64_t bt = 0; bt < p.batch * T; ++bt)  // bt = b * q_len + t
      for (int64_t i = 0; i < st.count; ++i) {
        const int64_t h = st.first + i;
        std::memcpy(&res.out_bits[static_cast<size_t>((bt * H + h) * 512)],
                    &out[static_cast<size_t>(r)][static_cast<size_t>((bt * st.count + i) * 512)], 1024);
        res.lse[static_cast<size_t>(bt * H + h)] = lse[static_cast<size_t>(r)][static_cast<size_t>(bt * st.count + i)];
      }
  }
  return res;
}

std::vector<ShardSpec> layouts(int32_t page) {
  return {cptest::interleaved(kWorld, 0, 1), cptest::interleaved(kWorld, 0, page),
          cptest::contiguous(kWorld, 0, 3 * page + 5)};
}

gputest::RunResult one_gpu_decode(const HostProblem& p) {
  GPUTEST_CUDA(cudaSetDevice(0));
  gputest::Stream s;
  gputest::DeviceProblem dp;
  dp.upload(p);
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  return gputest::run_decode(gputest::plan_for(p, splitmla::SplitPolicy::automatic()), pool, dp, s.s);
}

#endif  // SPLITMLA_TEST_HAVE_NCCL

}  // namespace

BOOST_AUTO_TEST_SUITE(cp_two_gpu)

BOOST_AUTO_TEST_CASE(the_nccl_library_matches_this_build) {
#if defined(SPLITMLA_TEST_HAVE_NCCL)
  BOOST_CHECK(splitmla::cp_nccl_built());
#else
  BOOST_CHECK(!splitmla::cp_nccl_built());
#endif
}

#if defined(SPLITMLA_TEST_HAVE_NCCL)

BOOST_AUTO_TEST_CASE(every_mode_matches_one_gpu_and_the_reference) {
  // q_len 1; q_len 4 causal and q_len 3 non-causal, whose tokens' global limits fall on both
  // sides of rank edges (g = 1: every position; g = page 16: 16, 32; the contiguous range
  // 3 * 16 + 5 = 53), and below q_len (rows that see nothing).
  for (const HostProblem& p : {problem(16, 16, {0, 1, 3, 17, 500, 2500}, 41), problem(128, 64, {0, 70, 4100}, 42),
                               problem(16, 16, {2, 3, 17, 18, 33, 34, 53, 54, 55, 56, 900}, 48, 4, true),
                               problem(8, 16, {1, 16, 17, 52, 53, 54, 300}, 49, 3, false)}) {
    const gputest::RunResult single = one_gpu_decode(p);
    const splitmla::HostOutputs ref = gputest::reference_of(p);
    int64_t capacity = 0;
    for (int32_t l : p.seq_lens) capacity = std::max<int64_t>(capacity, l);
    for (const ShardSpec& s : layouts(p.page_size))
      for (const Mode& m : kModes) {
        Ranks rs;
        build(rs, p, s, m, capacity);
        std::array<std::vector<uint16_t>, kWorld> out;
        std::array<std::vector<float>, kWorld> lse;
        on_both([&](int r) { return step(*rs.r[static_cast<size_t>(r)], r, &out[static_cast<size_t>(r)], &lse[static_cast<size_t>(r)]); });
        const bool gather = m.exchange == CpExchange::kAllGather;
        for (int view = 0; view < (gather ? kWorld : 1); ++view) {
          const gputest::RunResult got = assemble(p, out, lse, rs, gather ? view : -1);
          const std::string what = label(s, m) + (gather ? " rank " + std::to_string(view) : "") + " " + gputest::describe(p);
          gputest::check_matches(p, got, ref, what);
          const splitmla::CompareReport rep = splitmla::compare_outputs(
              p, got.as_outputs(p.dtype), single.as_outputs(p.dtype), splitmla::Tolerance::for_dtype(p.dtype), "2-gpu", "1-gpu");
          BOOST_CHECK_MESSAGE(rep.ok, what << " vs one GPU: " << rep.text);
        }
        if (gather)
          BOOST_CHECK_MESSAGE(out[0] == out[1] && std::memcmp(lse[0].data(), lse[1].data(), lse[0].size() * 4) == 0,
                              label(s, m) << ": the two ranks' all-gather outputs differ");
      }
  }
}

BOOST_AUTO_TEST_CASE(both_modes_are_bitwise_repeatable_over_100_runs) {
  const HostProblem p = problem(64, 16, {3, 900, 3000, 64}, 43);
  for (const Mode& m : kModes) {
    const ShardSpec s = cptest::interleaved(kWorld, 0, 1);
    Ranks rs;
    build(rs, p, s, m, 3000);
    std::array<int, kWorld> differing{};
    on_both([&](int r) -> std::string {
      std::vector<uint16_t> o0, o;
      std::vector<float> l0, l;
      std::string e = step(*rs.r[static_cast<size_t>(r)], r, &o0, &l0);
      for (int i = 1; i < 100 && e.empty(); ++i) {
        e = step(*rs.r[static_cast<size_t>(r)], r, &o, &l);
        if (o != o0 || std::memcmp(l.data(), l0.data(), l.size() * 4) != 0) ++differing[static_cast<size_t>(r)];
      }
      return e;
    });
    for (int r = 0; r < kWorld; ++r)
      BOOST_CHECK_MESSAGE(differing[static_cast<size_t>(r)] == 0,
                          label(s, m) << " rank " << r << ": " << differing[static_cast<size_t>(r)] << " of 99 runs differ from the first");
  }
}

BOOST_AUTO_TEST_CASE(graph_replays_with_changing_lengths_equal_eager) {
  // Generated at full capacity so every length up to it reads real rows.
  // q_len 2 too: every token's local limit follows the changing global length.
  const int32_t capacity = 2048;
  for (const HostProblem& p : {problem(16, 16, {capacity, capacity, capacity}, 44),
                               problem(16, 16, {capacity, capacity, capacity}, 50, 2, true)}) {
    const int kReplays = gputest::sanitizing() ? 20 : 1000;
    gputest::Rng rng(45);
    std::vector<std::vector<int32_t>> lens(static_cast<size_t>(kReplays));
    for (auto& v : lens) {
      v.resize(3);
      for (auto& x : v) x = rng.below(6) == 0 ? 0 : rng.between(1, capacity);
    }
    for (const Mode& m : {kModes[0], kModes[3]}) {
      const ShardSpec s = cptest::interleaved(kWorld, 0, 1);
      Ranks rs;
      build(rs, p, s, m, capacity);
      std::array<int, kWorld> differing{}, nonfinite{};
      on_both([&](int r) -> std::string {
        RankState& st = *rs.r[static_cast<size_t>(r)];
        ncclComm_t comm = comms().comm[static_cast<size_t>(r)];
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        RANK_CUDA(cudaStreamBeginCapture(st.stream->s, cudaStreamCaptureModeThreadLocal));
        const Status cs = splitmla::cp_decode_nccl(st.plan, st.args, st.view(), comm, st.stream->s);
        RANK_CUDA(cudaStreamEndCapture(st.stream->s, &graph));
        RANK_OK(cs);
        RANK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
        std::vector<uint16_t> og, oe;
        std::vector<float> lg, le;
        std::string e;
        for (int i = 0; i < kReplays && e.empty(); ++i) {
          e = [&]() -> std::string {
            RANK_CUDA(cudaMemcpyAsync(st.dp.lens.get(), lens[static_cast<size_t>(i)].data(), 3 * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, st.stream->s));
            RANK_CUDA(cudaGraphLaunch(exec, st.stream->s));
            RANK_CUDA(cudaStreamSynchronize(st.stream->s));
            std::string e2 = st.read(&og, &lg);
            if (!e2.empty()) return e2;
            e2 = step(st, r, &oe, &le);
            if (!e2.empty()) return e2;
            if (og != oe || std::memcmp(lg.data(), le.data(), lg.size() * 4) != 0) ++differing[static_cast<size_t>(r)];
            for (float x : lg)
              if (std::isnan(x)) ++nonfinite[static_cast<size_t>(r)];
            return "";
          }();
        }
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
        return e;
      });
      for (int r = 0; r < kWorld; ++r) {
        BOOST_CHECK_MESSAGE(differing[static_cast<size_t>(r)] == 0, label(s, m) << " q_len " << p.q_len << " rank " << r << ": "
                                << differing[static_cast<size_t>(r)] << " of " << kReplays << " replays differ from eager");
        BOOST_CHECK_MESSAGE(nonfinite[static_cast<size_t>(r)] == 0, label(s, m) << " rank " << r << ": NaN lse in replays");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_page_on_one_rank_nans_only_that_request_everywhere) {
  const HostProblem p = problem(16, 16, {300, 300, 300, 0}, 46);
  const splitmla::HostOutputs ref = gputest::reference_of(p);
  for (const Mode& m : kModes) {
    const ShardSpec s = cptest::interleaved(kWorld, 0, 1);
    Ranks rs;
    build(rs, p, s, m, 300, {1, 2});  // rank 1, request 2
    std::array<std::vector<uint16_t>, kWorld> out;
    std::array<std::vector<float>, kWorld> lse;
    on_both([&](int r) { return step(*rs.r[static_cast<size_t>(r)], r, &out[static_cast<size_t>(r)], &lse[static_cast<size_t>(r)]); });
    for (int r = 0; r < kWorld; ++r) {
      const RankState& st = *rs.r[static_cast<size_t>(r)];
      for (int32_t b = 0; b < p.batch; ++b)
        for (int32_t i = 0; i < st.count; ++i) {
          const float l = lse[static_cast<size_t>(r)][static_cast<size_t>(b * st.count + i)];
          const float o = splitmla::half_bits_to_float(p.dtype, out[static_cast<size_t>(r)][static_cast<size_t>((b * st.count + i) * 512)]);
          const bool nan = std::isnan(l) && std::isnan(o);
          BOOST_CHECK_MESSAGE(nan == (b == 2), label(s, m) << " rank " << r << " request " << b << " head "
                                                           << st.first + i << (b == 2 ? " not NaN" : " NaN"));
          const float rl = ref.lse[static_cast<size_t>(b * p.num_heads + st.first + i)];
          if (b != 2)
            BOOST_CHECK_MESSAGE((std::isinf(rl) && l == rl) || std::fabs(l - rl) <= 1e-3,
                                label(s, m) << " rank " << r << " request " << b << " lse " << l << " vs " << rl);
        }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_communicator_of_another_rank_is_refused) {
  const HostProblem p = problem(16, 16, {100}, 47);
  Ranks rs;
  build(rs, p, cptest::interleaved(kWorld, 0, 1), kModes[0], 100);
  GPUTEST_CUDA(cudaSetDevice(0));
  RankState& st = *rs.r[0];
  const Status s = splitmla::cp_decode_nccl(st.plan, st.args, st.view(), comms().comm[1], st.stream->s);
  BOOST_CHECK(s == Status::kBadShape || s == Status::kDeviceMismatch);
  BOOST_CHECK_MESSAGE(std::string(splitmla::last_error_detail()).find("rank") != std::string::npos ||
                      std::string(splitmla::last_error_detail()).find("device") != std::string::npos,
                      splitmla::last_error_detail());
}

#endif  // SPLITMLA_TEST_HAVE_NCCL

BOOST_AUTO_TEST_SUITE_END()
