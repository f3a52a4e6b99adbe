// decode inside a CUDA graph: captured once, replayed while the contents of seq_lens, the block
// table and the KV cache change (same pointers, same batch, within the planned bounds). Each
// replay equals an eager decode of the same data bit for bit and the reference within tolerance;
// replays allocate no device memory; the pool refuses to grow while its stream is captured.
#include <boost/test/unit_test.hpp>

#include <vector>

#include "gpu/gpu_test_util.hpp"
#include "kernels/common/env_switch.hpp"

using namespace gputest;
using splitmla::SplitPolicy;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

struct Graph {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~Graph() {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
  }
};

// Three data sets with the same extents: lengths from 0 up to the full capacity.
std::vector<HostProblem> replay_data(DType dtype, int32_t heads, int32_t page, int32_t batch,
                                     int32_t mpps, uint64_t seed, int32_t q_len = 1,
                                     bool causal = true) {
  std::vector<HostProblem> v;
  Rng rng(seed);
  const int32_t cap = mpps * page;
  for (int k = 0; k < 3; ++k) {
    GenSpec g;
    g.dtype = dtype;
    g.num_heads = heads;
    g.page_size = page;
    g.max_pages_per_seq = mpps;
    g.num_pages = batch * mpps + 1;
    g.softmax_scale = 0.1;  // the scale is a captured argument: it stays the same
    g.q_len = q_len;
    g.causal = causal;
    for (int32_t b = 0; b < batch; ++b) {
      const int32_t pick = rng.below(6);
      g.lens.push_back(pick == 0 ? 0 : pick == 1 ? cap : pick == 2 ? page * rng.between(1, mpps) - 1
                                                                    : rng.between(1, cap));
    }
    // Different shapes of work on each replay: one replay nearly empty, one nearly full.
    if (k == 1) for (auto& x : g.lens) x = std::min(x, 3);
    if (k == 2) for (auto& x : g.lens) x = std::max(x, cap - rng.below(page + 1));
    g.seed = rng.next();
    v.push_back(make_problem(g));
  }
  return v;
}

void graph_case(DType dtype, int32_t heads, int32_t page, int32_t batch, int32_t mpps,
                SplitPolicy pol, uint64_t seed, int32_t q_len = 1, bool causal = true) {
  BOOST_TEST_MESSAGE("graph case heads=" << heads << " page=" << page << " batch=" << batch
                                          << " q_len=" << q_len << (causal ? " causal" : " non-causal")
                                          << " policy=" << splitmla::policy_text(pol));
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  const std::vector<HostProblem> data = replay_data(dtype, heads, page, batch, mpps, seed, q_len, causal);
  const splitmla::Plan plan = plan_for(data[0], pol);
  GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
  splitmla::Workspace ws;
  GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));

  DeviceProblem dp;
  dp.upload(data[0]);
  // Warm-up eager run: lazily loaded kernels are in place before memory is measured.
  (void)run_decode(plan, pool, dp, stream.s);

  Graph g;
  GPUTEST_CUDA(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
  const Status cap = splitmla::decode(plan, dp.args, ws, stream.s);
  const cudaError_t end = cudaStreamEndCapture(stream.s, &g.graph);
  BOOST_REQUIRE_MESSAGE(cap == Status::kSuccess, "decode under capture: " << splitmla::status_message(cap));
  BOOST_REQUIRE_MESSAGE(end == cudaSuccess, "cudaStreamEndCapture: " << cudaGetErrorString(end));
  // part2 launches with programmatic serialization on sm_90 and newer (unless SPLITMLA_PDL=0),
  // and the capture keeps that as a programmatic edge into it; no such edge otherwise.
  {
    int major = 0;
    GPUTEST_CUDA(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, plan.device));
    const bool want_pdl = major >= 9 && splitmla::kernels::env_switch_on("SPLITMLA_PDL");
    BOOST_TEST(plan.pdl == want_pdl);
    size_t n = 0;
    GPUTEST_CUDA(cudaGraphGetEdges(g.graph, nullptr, nullptr, nullptr, &n));
    std::vector<cudaGraphNode_t> from(n), to(n);
    std::vector<cudaGraphEdgeData> edge(n);
    GPUTEST_CUDA(cudaGraphGetEdges(g.graph, from.data(), to.data(), edge.data(), &n));
    size_t programmatic = 0;
    for (const cudaGraphEdgeData& e : edge) programmatic += e.type == cudaGraphDependencyTypeProgrammatic;
    const size_t want = plan.pdl && plan.multi_bound > 0 ? 1 : 0;
    BOOST_TEST(programmatic == want, "programmatic edges in the captured graph: " << programmatic
                                                                                 << ", expected " << want);
  }
  GPUTEST_CUDA(cudaGraphInstantiate(&g.exec, g.graph, 0));
  GPUTEST_CUDA(cudaGraphUpload(g.exec, stream.s));
  GPUTEST_CUDA(cudaStreamSynchronize(stream.s));

  size_t free_before = 0, free_after = 0, total = 0;
  for (size_t k = 0; k < data.size(); ++k) {
    BOOST_TEST_CONTEXT("replay " << k << ": " << describe(data[k])) {
      dp.upload(data[k]);  // same pointers, new contents
      dp.poison_outputs();
      if (k == 1) GPUTEST_CUDA(cudaMemGetInfo(&free_before, &total));
      GPUTEST_CUDA(cudaGraphLaunch(g.exec, stream.s));
      GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
      const RunResult replayed = read_back(dp);
      dp.poison_outputs();
      GPUTEST_REQUIRE_OK(splitmla::decode(plan, dp.args, ws, stream.s));
      GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
      if (k == 2) GPUTEST_CUDA(cudaMemGetInfo(&free_after, &total));
      const RunResult eager = read_back(dp);
      BOOST_TEST(same_bits(replayed, eager), "replay and eager decode differ in bits");
      check_matches(data[k], replayed, reference_of(data[k]), "replay " + std::to_string(k));
    }
  }
  // Coarse (the driver reports free memory in large granules), but a run that allocated its
  // scratch would show here.
  BOOST_CHECK_MESSAGE(free_after == free_before, "device free memory moved across replays/eager runs: "
                                                     << free_before << " -> " << free_after);
}

}  // namespace

BOOST_AUTO_TEST_CASE(auto_policy_graph_replays_match_eager_and_reference, *needs_gpu()) {
  graph_case(DType::kBFloat16, 16, 16, 8, 64, SplitPolicy::automatic(), 1);
  graph_case(DType::kFloat16, 128, 64, 5, 8, SplitPolicy::automatic(), 2);
  graph_case(DType::kBFloat16, 3, 1, 33, 300, SplitPolicy::automatic(), 3);
}

BOOST_AUTO_TEST_CASE(forced_and_chunk_graph_replays_match_eager_and_reference, *needs_gpu()) {
  graph_case(DType::kFloat16, 16, 16, 8, 64, SplitPolicy::forced(7), 4);
  graph_case(DType::kBFloat16, 64, 128, 4, 8, SplitPolicy::chunk(64), 5);
}

// q_len = 2 (and more) in a graph: the per-token limits are computed on the device from the new
// seq_lens of every replay (lengths 0, 1 and up to the capacity: a token with no visible position
// next to one with many), causal and not, under every policy.
BOOST_AUTO_TEST_CASE(q_len_2_graph_replays_with_changing_lengths, *needs_gpu()) {
  graph_case(DType::kBFloat16, 16, 16, 8, 64, SplitPolicy::automatic(), 11, 2, true);
  graph_case(DType::kFloat16, 128, 64, 5, 8, SplitPolicy::automatic(), 12, 2, true);
  graph_case(DType::kBFloat16, 64, 32, 6, 16, SplitPolicy::forced(5), 13, 2, false);
  graph_case(DType::kFloat16, 3, 1, 17, 200, SplitPolicy::chunk(32), 14, 2, true);
}

BOOST_AUTO_TEST_CASE(q_len_16_and_7_graph_replays, *needs_gpu()) {
  graph_case(DType::kBFloat16, 8, 16, 4, 16, SplitPolicy::automatic(), 15, 16, true);
  graph_case(DType::kFloat16, 1, 128, 9, 3, SplitPolicy::forced(3), 16, 7, false);
}

// Lengths change between replays from none to all: the same graph serves a batch whose
// requests are all empty (out 0, lse -inf) right after a full one.
BOOST_AUTO_TEST_CASE(replay_after_all_requests_become_empty, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GenSpec gs;
  gs.num_heads = 16;
  gs.page_size = 16;
  gs.lens = {400, 17, 1024};
  gs.max_pages_per_seq = 64;
  gs.seed = 9;
  const HostProblem full = make_problem(gs);
  const splitmla::Plan plan = plan_for(full, SplitPolicy::automatic());
  GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
  splitmla::Workspace ws;
  GPUTEST_REQUIRE_OK(pool.workspace_for(plan, &ws));
  DeviceProblem dp;
  dp.upload(full);
  Graph g;
  GPUTEST_CUDA(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
  const Status cap = splitmla::decode(plan, dp.args, ws, stream.s);
  GPUTEST_CUDA(cudaStreamEndCapture(stream.s, &g.graph));
  GPUTEST_REQUIRE_OK(cap);
  GPUTEST_CUDA(cudaGraphInstantiate(&g.exec, g.graph, 0));

  dp.poison_outputs();
  GPUTEST_CUDA(cudaGraphLaunch(g.exec, stream.s));
  GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
  check_matches(full, read_back(dp), reference_of(full), "full");

  dp.upload_lens_and_table({0, 0, 0}, full.block_table);
  dp.poison_outputs();
  GPUTEST_CUDA(cudaGraphLaunch(g.exec, stream.s));
  GPUTEST_CUDA(cudaStreamSynchronize(stream.s));
  const RunResult r = read_back(dp);
  int64_t bad = 0;
  for (uint16_t b : r.out_bits) bad += (splitmla::half_bits_to_float(full.dtype, b) != 0.0f);
  for (float v : r.lse) bad += !(std::isinf(v) && v < 0);
  BOOST_TEST(bad == 0, bad << " elements are not (0, -inf) after all requests became empty");
}

// Growing the pool is refused while its stream is being captured; capture stays usable.
BOOST_AUTO_TEST_CASE(pool_refuses_to_grow_during_capture, *needs_gpu()) {
  Stream stream;
  splitmla::ScratchPool pool;
  GPUTEST_REQUIRE_OK(pool.init());
  GPUTEST_REQUIRE_OK(pool.reserve(1 << 20));
  const size_t cap_before = pool.capacity();
  GPUTEST_CUDA(cudaStreamBeginCapture(stream.s, cudaStreamCaptureModeThreadLocal));
  const Status s = pool.reserve(cap_before * 4, stream.s);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream.s, &graph);
  if (graph != nullptr) cudaGraphDestroy(graph);
  BOOST_TEST(s == Status::kCaptureActive, "reserve during capture -> " << splitmla::status_message(s));
  BOOST_TEST(end == cudaSuccess, "capture was invalidated: " << cudaGetErrorString(end));
  BOOST_TEST(pool.capacity() == cap_before);
  // Outside capture it grows.
  GPUTEST_REQUIRE_OK(pool.reserve(cap_before * 4, stream.s));
  BOOST_TEST(pool.capacity() >= cap_before * 4);
}
