// fp8 KV caches on the GPU (fp8_e4m3 and fp8_ds_mla, bf16 and fp16 q): decode matches the float64
// reference on the dequantized cache with the dtype's tolerances (odd head counts, page sizes 1 to
// 128, the three policies, padded strides, NaN bytes and NaN scales in every row past each
// length, out-of-range ids past each table row); a scale sweep over magnitudes 0.01..100; bad
// scales (NaN rows, kErrBadScale, nothing else touched); CUDA-graph replays that pick up a new
// cache and scale; the cosine distance of the fp8 result from the 16-bit original (printed;
// whole output below 1e-4, worst row below 1e-3).
#include <boost/test/unit_test.hpp>

#include <limits>

#include "gpu/gpu_test_util.hpp"
#include "reference/fp8_util.hpp"
#include "splitmla/fp8.hpp"

using namespace gputest;
using splitmla::Fp8ScaleRule;
using splitmla::KvFormat;
using splitmla::SplitPolicy;

BOOST_TEST_GLOBAL_FIXTURE(AnnounceSkipDevice);

namespace {

const KvFormat kFormats[] = {KvFormat::kFp8E4M3, KvFormat::kFp8DsMla};
const char* fmt_name(KvFormat f) { return splitmla::kv_format_name(f, DType::kBFloat16); }

HostProblem quantized(const HostProblem& p, KvFormat f, Fp8ScaleRule rule = Fp8ScaleRule::kAmax) {
  HostProblem q;
  GPUTEST_REQUIRE_OK(splitmla::quantize_kv(p, f, rule, &q));
  return q;
}

// Multiplies every finite KV value by `mag` (before quantizing).
void scale_cache(HostProblem* p, double mag) {
  for (auto& x : p->kv_cache) {
    const float v = splitmla::half_bits_to_float(p->dtype, x);
    if (std::isfinite(v)) x = splitmla::float_to_half_bits(p->dtype, static_cast<float>(v * mag));
  }
}

struct Env {
  Stream stream;
  splitmla::ScratchPool pool;
  Env() { GPUTEST_REQUIRE_OK(pool.init()); }
};

RunResult run(Env& env, const HostProblem& p, SplitPolicy policy, const Layout& l = Layout::dense(),
              DeviceProblem* keep = nullptr) {
  DeviceProblem local;
  DeviceProblem& dp = keep != nullptr ? *keep : local;
  dp.upload(p, l);
  // The mma.sync kernel, forced: it is the fp8 path of every shape (auto takes the wgmma instances
  // for 64+ rows of fp8_e4m3 at q_len 1; the_wgmma_kernel_matches_the_reference covers those).
  const splitmla::Plan plan = plan_for(p, policy, 0, splitmla::Part1Variant::kMmaSync);
  return run_decode(plan, env.pool, dp, env.stream.s);
}

bool request_all_nan(const HostProblem& p, const HostOutputs& o, int32_t b) {
  const size_t H = static_cast<size_t>(p.num_heads);
  for (size_t i = b * H * kHeadDimV; i < (b + 1) * H * kHeadDimV; ++i)
    if (!std::isnan(o.out[i])) return false;
  for (size_t h = 0; h < H; ++h)
    if (!std::isnan(o.lse[b * H + h])) return false;
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fp8_decode)

BOOST_AUTO_TEST_CASE(matches_the_reference_on_the_dequantized_cache, *needs_gpu()) {
  Env env;
  const SplitPolicy policies[] = {SplitPolicy::automatic(), SplitPolicy::forced(3),
                                  SplitPolicy::chunk(48)};
  uint64_t seed = 100;
  for (KvFormat f : kFormats)
    for (DType d : {DType::kBFloat16, DType::kFloat16})
      for (int32_t heads : {1, 16, 20, 33, 64, 128})  // 16, 32 and 64 rows per CTA
        for (int32_t page : {1, 16, 64, 128}) {
          if (sanitizing() && heads > 16) continue;
          GenSpec g;
          g.dtype = d;
          g.num_heads = heads;
          g.page_size = page;
          g.lens = boundary_lengths(page);
          g.lens.push_back(700);
          g.seed = ++seed;
          const HostProblem p = quantized(make_problem(g), f);
          const HostOutputs ref = reference_of(p);
          for (const SplitPolicy& pol : policies) {
            for (bool padded : {false, true}) {
              const std::string label = std::string(fmt_name(f)) + " " + describe(p) + " " +
                                        splitmla::policy_text(pol) + (padded ? " padded" : " dense");
              const RunResult r = run(env, p, pol, padded ? Layout::padded() : Layout::dense());
              check_matches(p, r, ref, label);
            }
          }
        }
}

// The Hopper wgmma kernel's fp8_e4m3 instances (forced by name here; auto takes them from 64 rows
// at q_len = 1): the reference on the dequantized cache with the dtype's tolerances over head
// counts 1..128 (one and two row blocks, rows past the last head), q_len 1 and 3 (causal and
// not), page sizes 1..128, three policies, padded strides, NaN bytes past each length.
BOOST_AUTO_TEST_CASE(the_wgmma_kernel_matches_the_reference, *needs_gpu()) {
  if (runnable_variants().size() < 2) {
    BOOST_TEST_MESSAGE("the wgmma kernel does not run here (needs sm_90a and an sm_90 device)");
    return;
  }
  Env env;
  const SplitPolicy policies[] = {SplitPolicy::automatic(), SplitPolicy::forced(3),
                                  SplitPolicy::chunk(100)};
  uint64_t seed = 900;
  for (DType d : {DType::kBFloat16, DType::kFloat16})
    for (int32_t heads : {1, 16, 64, 127, 128})
      for (int32_t q_len : {1, 3})
        for (int32_t page : {1, 16, 64, 128}) {
          if (sanitizing() && (heads > 64 || page == 1)) continue;
          GenSpec g;
          g.dtype = d;
          g.num_heads = heads;
          g.q_len = q_len;
          g.causal = q_len == 3 ? (heads % 2 == 0) : true;
          g.page_size = page;
          g.lens = boundary_lengths(page);
          g.lens.push_back(700);
          g.seed = ++seed;
          const HostProblem p = quantized(make_problem(g), KvFormat::kFp8E4M3);
          const HostOutputs ref = reference_of(p);
          for (const SplitPolicy& pol : policies)
            for (bool padded : {false, true}) {
              DeviceProblem dp;
              dp.upload(p, padded ? Layout::padded() : Layout::dense());
              const splitmla::Plan plan = plan_for(p, pol, 0, splitmla::Part1Variant::kWgmma);
              BOOST_TEST((plan.part1 == splitmla::Part1Variant::kWgmma));
              const RunResult r = run_decode(plan, env.pool, dp, env.stream.s);
              check_matches(p, r, ref,
                            "wgmma fp8_e4m3 " + describe(p) + " " + splitmla::policy_text(pol) +
                                (padded ? " padded" : " dense"));
            }
        }
}

// Magnitudes 0.01..100 with both scale rules: the folded e4m3 scale and the per-128 ds_mla
// scales. The softmax scale shrinks with the magnitude so that the scores keep the same spread,
// and every point checks out and lse against the reference, out with the dtype's tolerances
// taken relative to the magnitude (out / magnitude against ref / magnitude): P is rounded to
// the MMA type, an error in proportion to V.
BOOST_AUTO_TEST_CASE(scale_sweep, *needs_gpu()) {
  Env env;
  for (KvFormat f : kFormats)
    for (DType d : {DType::kBFloat16, DType::kFloat16})
      for (double mag : {0.01, 0.1, 1.0, 10.0, 100.0})
        for (Fp8ScaleRule rule : {Fp8ScaleRule::kAmax, Fp8ScaleRule::kPowerOfTwo}) {
          GenSpec g;
          g.dtype = d;
          g.num_heads = 16;
          g.page_size = 64;
          g.lens = std::vector<int32_t>{1, 63, 64, 65, 1000};
          g.seed = 7;
          g.softmax_scale = 0.1 / mag;
          HostProblem p = make_problem(g);
          scale_cache(&p, mag);
          const HostProblem q = quantized(p, f, rule);
          const RunResult r = run(env, q, SplitPolicy::automatic());
          std::ostringstream label;
          label << fmt_name(f) << " " << splitmla::dtype_name(d) << " magnitude " << mag
                << (rule == Fp8ScaleRule::kAmax ? " amax" : " pow2") << " scale " << q.kv_scale;
          check_matches(q, r, reference_of(q), label.str(), mag);
        }
}

// The contract's accuracy figure, on the GPU: 1 - cos of each output row of the fp8 run against
// the float64 result of the 16-bit original, on a structured cache (a mean row plus noise, as
// real caches have and as the CPU suite uses; outputs of pure noise average to ~0 and make the
// cosine meaningless). Printed.
BOOST_AUTO_TEST_CASE(cosine_distance_to_the_16bit_original_is_small, *needs_gpu()) {
  Env env;
  for (KvFormat f : kFormats)
    for (DType d : {DType::kBFloat16, DType::kFloat16}) {
      GenSpec g;
      g.dtype = d;
      g.num_heads = 16;
      g.page_size = 64;
      g.lens = std::vector<int32_t>{64, 500, 2000, 4096};
      g.seed = 31;
      HostProblem p = make_problem(g);
      fp8test::add_structure(&p, 1.0, 4);  // a mean row plus noise, as in the CPU suite
      const HostOutputs ref16 = reference_of(p);
      const HostProblem q = quantized(p, f);
      const HostOutputs got = run(env, q, SplitPolicy::automatic()).as_outputs(d);
      const fp8test::Cosine c = fp8test::cosine_distance(got.out, ref16.out);
      // For scale: the 16-bit cache through the same GPU path, and the float64 reference of the
      // fp8 cache (the quantization's own share).
      const fp8test::Cosine c16 = fp8test::cosine_distance(
          run(env, p, SplitPolicy::automatic()).as_outputs(d).out, ref16.out);
      const fp8test::Cosine cq = fp8test::cosine_distance(reference_of(q).out, ref16.out);
      std::cout << "fp8 cosine (GPU) " << splitmla::dtype_name(d) << " " << fmt_name(f)
                << ": worst row 1-cos = " << c.worst_row << ", whole output " << c.whole << " over "
                << c.rows << " rows (16-bit cache on the GPU: " << c16.worst_row << " / " << c16.whole
                << "; float64 on the fp8 cache: " << cq.worst_row << " / " << cq.whole << ")"
                << std::endl;
      BOOST_TEST(c.rows > 0);
      // The field's figure is the whole output's (FlashMLA's tests measure it so); a single row
      // may lose more, to 1e-3, since a short request averages fewer quantization errors.
      BOOST_TEST(c.whole < 1e-4, splitmla::dtype_name(d) << " " << fmt_name(f));
      BOOST_TEST(c.worst_row < 1e-3, splitmla::dtype_name(d) << " " << fmt_name(f));
    }
}

// A captured decode reads the cache and fp8_e4m3's scale on the device at every replay: new
// cache bytes and a new scale between replays (same pointers) give the new reference's result,
// bit for bit the eager run's.
BOOST_AUTO_TEST_CASE(graph_replays_read_the_new_scale_and_cache, *needs_gpu()) {
  for (KvFormat f : kFormats) {
    Env env;
    std::vector<HostProblem> data;
    for (int k = 0; k < 3; ++k) {
      GenSpec g;
      g.num_heads = 16;
      g.page_size = 16;
      g.lens = std::vector<int32_t>{5, 100, 0, 257};
      g.max_pages_per_seq = 20;
      g.num_pages = 40;
      g.seed = 70 + k;
      g.softmax_scale = 0.1;  // a host argument: the captured value serves every replay
      HostProblem p = make_problem(g);
      scale_cache(&p, k == 1 ? 30.0 : 1.0);  // replay 1: a 30x larger scale
      data.push_back(quantized(p, f));
    }
    const splitmla::Plan plan = plan_for(data[0], SplitPolicy::automatic());
    GPUTEST_REQUIRE_OK(env.pool.reserve_for(plan));
    splitmla::Workspace ws;
    GPUTEST_REQUIRE_OK(env.pool.workspace_for(plan, &ws));
    DeviceProblem dp;
    dp.upload(data[0]);
    (void)run_decode(plan, env.pool, dp, env.stream.s);  // modules loaded before the capture
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    GPUTEST_CUDA(cudaStreamBeginCapture(env.stream.s, cudaStreamCaptureModeThreadLocal));
    const Status cap = splitmla::decode(plan, dp.args, ws, env.stream.s);
    const cudaError_t end = cudaStreamEndCapture(env.stream.s, &graph);
    BOOST_REQUIRE_MESSAGE(cap == Status::kSuccess, splitmla::status_message(cap));
    BOOST_REQUIRE(end == cudaSuccess);
    GPUTEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    for (size_t k = 0; k < data.size(); ++k) {
      dp.upload(data[k]);  // same pointers, new bytes and scale
      dp.poison_outputs();
      GPUTEST_CUDA(cudaGraphLaunch(exec, env.stream.s));
      GPUTEST_CUDA(cudaStreamSynchronize(env.stream.s));
      const RunResult replayed = read_back(dp);
      const RunResult eager = run_decode(plan, env.pool, dp, env.stream.s);
      BOOST_TEST(same_bits(replayed, eager), fmt_name(f) << " replay " << k);
      check_matches(data[k], replayed, reference_of(data[k]),
                    std::string(fmt_name(f)) + " graph replay " + std::to_string(k),
                    k == 1 ? 30.0 : 1.0);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fp8_faults)

// fp8_e4m3: a NaN, infinite, zero or negative scale makes every request NaN (empty ones too) and
// flags every request kErrBadScale; the next run with a good scale is clean again. 16 heads (the
// mma.sync kernel under auto) and 64 (auto's wgmma fp8 kernel where it runs).
BOOST_AUTO_TEST_CASE(a_bad_e4m3_scale_makes_every_request_nan_and_flags_it, *needs_gpu()) {
  Env env;
  for (const int32_t heads : {16, 64}) {
    GenSpec g;
    g.num_heads = heads;
    g.page_size = 16;
    g.lens = std::vector<int32_t>{0, 5, 100, 333};
    g.seed = 5;
    const HostProblem good = quantized(make_problem(g), KvFormat::kFp8E4M3);
    const float inf = std::numeric_limits<float>::infinity();
    for (const SplitPolicy& pol : {SplitPolicy::automatic(), SplitPolicy::forced(4)}) {
      for (float bad : {std::numeric_limits<float>::quiet_NaN(), inf, -inf, 0.f, -0.f, -1.f}) {
        HostProblem p = good;
        p.kv_scale = bad;
        DeviceProblem dp;
        dp.upload(p);
        const splitmla::Plan plan = plan_for(p, pol);
        const RunResult r = run_decode(plan, env.pool, dp, env.stream.s);
        const HostOutputs o = r.as_outputs(p.dtype);
        splitmla::Workspace ws;
        GPUTEST_REQUIRE_OK(env.pool.workspace_for(plan, &ws));
        splitmla::ErrorReport rep;
        GPUTEST_REQUIRE_OK(splitmla::read_errors(plan, ws, p.batch, env.stream.s, &rep));
        for (int32_t b = 0; b < p.batch; ++b) {
          BOOST_TEST(request_all_nan(p, o, b), "scale " << bad << ": request " << b << " not NaN");
          const uint32_t f = rep.request_flags[static_cast<size_t>(b)];
          BOOST_TEST(f == splitmla::kErrBadScale, "scale " << bad << ": request " << b << " flags " << f);
        }
        check_matches(p, r, reference_of(p), "bad e4m3 scale (reference is NaN too)");
        // A good scale afterwards: clean outputs and no flags.
        dp.upload(good);
        const RunResult r2 = run_decode(plan, env.pool, dp, env.stream.s);
        check_matches(good, r2, reference_of(good), "good scale after a bad one");
        GPUTEST_REQUIRE_OK(splitmla::read_errors(plan, ws, p.batch, env.stream.s, &rep));
        BOOST_TEST(rep.any == 0u);
      }
    }
  }
}

// fp8_ds_mla: a bad scale in one visible row (first, middle and last position of a request, first
// and last block) makes that request NaN and flags it kErrBadScale; the others match the reference
// and carry no flag. Rows past each length hold NaN scales and NaN bytes (make_problem's poison
// survives quantization) and never flag anything.
BOOST_AUTO_TEST_CASE(a_bad_ds_scale_in_a_visible_row_flags_only_its_request, *needs_gpu()) {
  Env env;
  for (DType d : {DType::kBFloat16, DType::kFloat16}) {
    GenSpec g;
    g.dtype = d;
    g.num_heads = 33;
    g.page_size = 16;
    g.lens = std::vector<int32_t>{40, 129, 0, 77, 300};
    g.seed = 9;
    const HostProblem clean = quantized(make_problem(g), KvFormat::kFp8DsMla);
    const HostOutputs ref = reference_of(clean);
    struct Plant { int32_t b; int64_t pos; int block; float v; };
    const float inf = std::numeric_limits<float>::infinity();
    const Plant plants[] = {{1, 0, 0, std::numeric_limits<float>::quiet_NaN()},
                            {1, 64, 3, inf},
                            {4, 299, 2, 0.f},
                            {3, 76, 1, -0.5f}};
    for (const SplitPolicy& pol : {SplitPolicy::automatic(), SplitPolicy::forced(5), SplitPolicy::chunk(32)}) {
      for (const Plant& pl : plants) {
        HostProblem p = clean;
        fp8test::set_ds_scale(&p, fp8test::cache_row(p, pl.b, pl.pos), pl.block, pl.v);
        DeviceProblem dp;
        dp.upload(p);
        const splitmla::Plan plan = plan_for(p, pol);
        const RunResult r = run_decode(plan, env.pool, dp, env.stream.s);
        const HostOutputs o = r.as_outputs(d);
        splitmla::Workspace ws;
        GPUTEST_REQUIRE_OK(env.pool.workspace_for(plan, &ws));
        splitmla::ErrorReport rep;
        GPUTEST_REQUIRE_OK(splitmla::read_errors(plan, ws, p.batch, env.stream.s, &rep));
        for (int32_t b = 0; b < p.batch; ++b) {
          const uint32_t want = b == pl.b ? splitmla::kErrBadScale : 0u;
          BOOST_TEST(rep.request_flags[static_cast<size_t>(b)] == want,
                     "plant in request " << pl.b << ": request " << b << " flags "
                                         << rep.request_flags[static_cast<size_t>(b)]);
          if (b == pl.b) BOOST_TEST(request_all_nan(p, o, b), "request " << b << " not NaN");
        }
        check_matches(p, r, reference_of(p),
                      std::string("ds bad scale, ") + splitmla::policy_text(pol));
        (void)ref;
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
