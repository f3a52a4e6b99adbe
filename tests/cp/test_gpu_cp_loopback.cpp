// Context-parallel decode on one GPU ("loopback"): one problem cut into the shards of `world`
// logical ranks, each rank's shard partials computed from its own local cache and table with the
// global seq_lens, the exchange done by device copies, then the merge; the result must match the
// single-GPU decode and the float64 reference, for every shard layout, partial type and exchange,
// with empty shards, with q_len > 1 rows (causal and not) whose tokens' limits cross shard edges,
// and with a bad page on one shard NaN-ing only its request.
#include <boost/test/unit_test.hpp>

#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "cp/cp_test_util.hpp"

using splitmla::CpExchange;
using splitmla::HostProblem;
using splitmla::PartialType;
using splitmla::ShardSpec;
using splitmla::Status;

using gputest::AnnounceSkipDevice;
BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

BOOST_AUTO_TEST_SUITE(cp_loopback)

using cptest::Mode;
using cptest::kModes;
using cptest::label;
using cptest::problem;

namespace {

// One logical rank: its shard on the device (global seq_lens), its plan and workspace.
struct Rank {
  gputest::DeviceProblem dp;
  splitmla::CpPlan plan;
  gputest::DevBuf ws;
  splitmla::Workspace view() const {
    splitmla::Workspace w;
    w.data = ws.get();
    w.bytes = ws.bytes();
    w.device = plan.shard.device;
    return w;
  }
};

// Shards + exchange by copies + merge; the merged out/lse land in `global`'s buffers.
gputest::RunResult run_loopback(const HostProblem& p, gputest::DeviceProblem& global,
                                const ShardSpec& base, const Mode& mode, cudaStream_t stream,
                                const std::vector<std::pair<int32_t, int32_t>>& bad_pages = {},
                                splitmla::SplitPolicy policy = splitmla::SplitPolicy::automatic()) {
  const int32_t world = base.world;
  std::vector<std::unique_ptr<Rank>> ranks;
  for (int32_t r = 0; r < world; ++r) {
    ShardSpec s = base;
    s.rank = r;
    HostProblem shard = cptest::make_shard(p, s);
    for (const auto& bp : bad_pages)  // (rank, request): its first table entry out of range
      if (bp.first == r && shard.seq_lens[static_cast<size_t>(bp.second)] > 0)
        shard.block_table[static_cast<size_t>(bp.second) * shard.max_pages_per_seq] = shard.num_pages + 7;
    auto rk = std::make_unique<Rank>();
    rk->dp.upload(shard);
    rk->dp.lens.upload(p.seq_lens);  // the GPU path takes the global lengths
    GPUTEST_REQUIRE_OK(splitmla::make_cp_plan(cptest::cp_config(shard, s, mode.type, mode.exchange, policy), &rk->plan));
    rk->ws.alloc(rk->plan.workspace_bytes);
    ranks.push_back(std::move(rk));
  }
  splitmla::CpLayout l;
  GPUTEST_REQUIRE_OK(splitmla::cp_layout(ranks[0]->plan, p.batch, &l));
  global.poison_outputs();
  if (mode.exchange == CpExchange::kAllGather) {
    gputest::DevBuf received(l.received_bytes);
    received.fill_bytes(0xFF);
    for (int32_t r = 0; r < world; ++r)
      GPUTEST_REQUIRE_OK(splitmla::cp_shard_partials(ranks[r]->plan, ranks[r]->dp.args, ranks[r]->view(),
                                                     received.as<char>() + r * l.partials_bytes, stream));
    // Any rank merges every head; take the last one.
    GPUTEST_REQUIRE_OK(splitmla::cp_merge_packed(ranks[world - 1]->plan, received.get(), global.args, stream));
    GPUTEST_CUDA(cudaStreamSynchronize(stream));
  } else {
    std::vector<gputest::DevBuf> sent, received;
    for (int32_t r = 0; r < world; ++r) {
      sent.emplace_back(l.partials_bytes);
      sent.back().fill_bytes(0xFF);  // the packed buffer's padding is never written: cleared once,
                                     // as docs/context-parallel.md advises, so initcheck is clean
      received.emplace_back(l.received_bytes);
      received.back().fill_bytes(0xFF);
      GPUTEST_REQUIRE_OK(splitmla::cp_shard_partials(ranks[r]->plan, ranks[r]->dp.args, ranks[r]->view(),
                                                     sent.back().get(), stream));
    }
    for (int32_t src = 0; src < world; ++src)  // chunk d of rank src -> slot src of rank d
      for (int32_t d = 0; d < world; ++d)
        GPUTEST_CUDA(cudaMemcpyAsync(received[d].as<char>() + src * l.chunk_bytes,
                                     sent[src].as<char>() + d * l.chunk_bytes, l.chunk_bytes,
                                     cudaMemcpyDeviceToDevice, stream));
    for (int32_t d = 0; d < world; ++d) {
      int32_t first = 0, count = 0;
      splitmla::cp_rank_heads(ranks[d]->plan, d, &first, &count);
      splitmla::DecodeArgs a = global.args;
      a.out = static_cast<uint16_t*>(a.out) + first * a.out_stride_head;
      a.lse = a.lse + first * a.lse_stride_head;
      GPUTEST_REQUIRE_OK(splitmla::cp_merge_packed(ranks[d]->plan, received[d].get(), a, stream));
    }
    GPUTEST_CUDA(cudaStreamSynchronize(stream));
  }
  GPUTEST_CUDA(cudaGetLastError());
  return gputest::read_back(global);
}

void check_against_single(const HostProblem& p, const gputest::RunResult& cp,
                          const gputest::RunResult& single, const std::string& what) {
  const splitmla::CompareReport rep = splitmla::compare_outputs(
      p, cp.as_outputs(p.dtype), single.as_outputs(p.dtype),
      splitmla::Tolerance::for_dtype(p.dtype), "cp", "single-gpu");
  BOOST_CHECK_MESSAGE(rep.ok, what << " vs one decode: " << rep.text);
}

void run_all_modes(const HostProblem& p, const std::vector<int32_t>& worlds) {
  gputest::Stream stream;
  gputest::DeviceProblem global;
  global.upload(p);
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const gputest::RunResult single =
      gputest::run_decode(gputest::plan_for(p, splitmla::SplitPolicy::automatic()), pool, global, stream.s);
  const splitmla::HostOutputs ref = gputest::reference_of(p);
  gputest::check_matches(p, single, ref, "single decode " + gputest::describe(p));
  for (int32_t world : worlds)
    for (const ShardSpec& s : {cptest::interleaved(world, 0, 1), cptest::interleaved(world, 0, p.page_size),
                               cptest::contiguous(world, 0, 2 * p.page_size + 3)})
      for (const Mode& m : kModes) {
        const gputest::RunResult r = run_loopback(p, global, s, m, stream.s);
        gputest::check_matches(p, r, ref, label(s, m) + " " + gputest::describe(p));
        check_against_single(p, r, single, label(s, m));
      }
}

}  // namespace

BOOST_AUTO_TEST_CASE(loopback_equals_one_decode_with_empty_shards, *gputest::needs_gpu()) {
  // 0: every shard empty; 1, 3: most shards empty; page edges; a longer one.
  run_all_modes(problem(16, 16, {0, 1, 3, 15, 16, 17, 63, 400}, 21), {1, 2, 3, 4});
}

BOOST_AUTO_TEST_CASE(loopback_odd_and_many_heads, *gputest::needs_gpu()) {
  run_all_modes(problem(3, 8, {5, 0, 90}, 22), {2, 4});
  run_all_modes(problem(128, 64, {1, 700, 2049}, 23), {2});
}

BOOST_AUTO_TEST_CASE(loopback_several_tokens_cross_shard_edges, *gputest::needs_gpu()) {
  // Token t sees the rank's positions below its own global limit. The lengths put the tokens'
  // limits on both sides of rank edges: interleaved g = 1 (every position), g = page (page
  // edges), contiguous range 2 * page + 3 (35 for page 16, 19 for page 8); and below q_len
  // (causal rows that see nothing: out 0, lse -inf).
  run_all_modes(problem(16, 16, {0, 2, 3, 5, 16, 18, 33, 35, 36, 37, 38, 71, 300}, 26, 4, true), {2, 3});
  run_all_modes(problem(8, 16, {1, 4, 17, 34, 35, 36, 129}, 27, 3, false), {2, 4});
  run_all_modes(problem(4, 8, {0, 15, 16, 17, 18, 19, 20, 100}, 28, 16, true), {2});
}

BOOST_AUTO_TEST_CASE(loopback_under_every_shard_policy, *gputest::needs_gpu()) {
  for (const HostProblem& p : {problem(32, 16, {0, 9, 130, 1000}, 24), problem(8, 16, {2, 9, 130, 1000}, 29, 3, true)}) {
    gputest::Stream stream;
    gputest::DeviceProblem global;
    global.upload(p);
    const splitmla::HostOutputs ref = gputest::reference_of(p);
    for (splitmla::SplitPolicy pol : {splitmla::SplitPolicy::forced(1), splitmla::SplitPolicy::forced(5),
                                      splitmla::SplitPolicy::chunk(64)})
      for (const Mode& m : kModes) {
        const ShardSpec s = cptest::interleaved(2, 0, 1);
        const gputest::RunResult r = run_loopback(p, global, s, m, stream.s, {}, pol);
        gputest::check_matches(p, r, ref, label(s, m) + " policy " + splitmla::policy_text(pol) + " " +
                                              gputest::describe(p));
      }
  }
}

BOOST_AUTO_TEST_CASE(bad_page_on_one_shard_nans_only_its_request, *gputest::needs_gpu()) {
  const HostProblem p = problem(16, 16, {200, 200, 200}, 25);
  gputest::Stream stream;
  gputest::DeviceProblem global;
  global.upload(p);
  const splitmla::HostOutputs ref = gputest::reference_of(p);
  for (const Mode& m : kModes) {
    const ShardSpec s = cptest::interleaved(2, 0, 1);
    const gputest::RunResult r = run_loopback(p, global, s, m, stream.s, {{1, 1}});
    const splitmla::HostOutputs got = r.as_outputs(p.dtype);
    for (int32_t b = 0; b < p.batch; ++b)
      for (int32_t h = 0; h < p.num_heads; ++h) {
        const size_t row = static_cast<size_t>(b) * p.num_heads + h;
        const bool nan = std::isnan(got.lse[row]) && std::isnan(got.out[row * 512]) &&
                         std::isnan(got.out[row * 512 + 511]);
        BOOST_CHECK_MESSAGE(nan == (b == 1), label(s, m) << ": request " << b << " head " << h
                                                         << (b == 1 ? " not NaN" : " NaN"));
        if (b != 1)
          BOOST_CHECK_MESSAGE(std::fabs(got.lse[row] - ref.lse[row]) <= 1e-3,
                              label(s, m) << ": request " << b << " lse " << got.lse[row]
                                          << " vs " << ref.lse[row]);
      }
  }
}

BOOST_AUTO_TEST_SUITE_END()
