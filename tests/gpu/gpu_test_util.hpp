// Shared helpers of the GPU tests: the "no CUDA device" skip, device buffers and adversarial
// random problems (tests/support, through gpu_checks.hpp), upload with optional non-dense strides
// (device_problem.hpp), and here: planning, one decode run read back into host outputs, and the
// comparison with the reference. The tests reach the GPU only through the library's public API
// (plus the CUDA runtime for buffers, streams and graphs).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/device_problem.hpp"
#include "gpu/gpu_checks.hpp"
#include "splitmla/decode.hpp"
#include "splitmla/policy.hpp"
#include "splitmla/reference.hpp"

namespace gputest {

// Makes a plan for the device problem's extents (q_len and causal included) with `policy`
// (max_batch defaults to its batch; rows_per_cta 0 lets the plan choose).
inline splitmla::Plan plan_for(const HostProblem& p, splitmla::SplitPolicy policy, int32_t max_batch = 0,
                               splitmla::Part1Variant part1 = splitmla::Part1Variant::kAuto,
                               int32_t rows_per_cta = 0) {
  splitmla::DecodeConfig c;
  c.dtype = p.dtype;
  c.kv_format = p.kv_format;
  c.num_heads = p.num_heads;
  c.q_len = p.q_len;
  c.causal = p.causal;
  c.rows_per_cta = rows_per_cta;
  c.page_size = p.page_size;
  c.max_batch = max_batch > 0 ? max_batch : p.batch;
  c.max_pages_per_seq = p.max_pages_per_seq;
  c.policy = policy;
  c.device = -1;
  c.part1 = part1;
  splitmla::Plan plan;
  GPUTEST_REQUIRE_OK(splitmla::make_plan(c, &plan));
  return plan;
}

// The part1 variants this build and device can run, forced by name: the mma.sync baseline
// always, the wgmma kernel where the library has sm_90a code and the device is an sm_90.
inline std::vector<splitmla::Part1Variant> runnable_variants() {
  std::vector<splitmla::Part1Variant> v{splitmla::Part1Variant::kMmaSync};
  splitmla::DecodeConfig c;
  c.num_heads = 64;
  c.page_size = 64;
  c.max_batch = 1;
  c.max_pages_per_seq = 1;
  c.part1 = splitmla::Part1Variant::kWgmma;
  splitmla::Plan plan;
  if (splitmla::make_plan(c, &plan) == Status::kSuccess) v.push_back(splitmla::Part1Variant::kWgmma);
  return v;
}

// Poisons the outputs, runs decode through the pool on `stream`, synchronizes, reads back.
inline RunResult run_decode(const splitmla::Plan& plan, splitmla::ScratchPool& pool,
                            DeviceProblem& dp, cudaStream_t stream) {
  GPUTEST_REQUIRE_OK(pool.reserve_for(plan));
  dp.poison_outputs();
  GPUTEST_REQUIRE_OK(splitmla::decode(plan, dp.args, pool, stream));
  GPUTEST_CUDA(cudaStreamSynchronize(stream));
  GPUTEST_CUDA(cudaGetLastError());
  return read_back(dp);
}

inline std::string describe(const HostProblem& p) {
  std::string s = std::string(splitmla::dtype_name(p.dtype)) + " q_len=" + std::to_string(p.q_len) +
                  (p.causal ? " causal" : " non-causal") + " heads=" + std::to_string(p.num_heads) +
                  " page=" + std::to_string(p.page_size) + " batch=" + std::to_string(p.batch) + " lens=[";
  for (size_t i = 0; i < p.seq_lens.size() && i < 24; ++i) s += (i ? "," : "") + std::to_string(p.seq_lens[i]);
  if (p.seq_lens.size() > 24) s += ",...";
  return s + "]";
}

// Checks a run against the reference with the contract's tolerances. A run without lse is
// compared on out only (its lse slot takes the reference's, so only out can differ).
// `value_scale` is the magnitude of the cache's values when a test scales them away from O(1):
// the absolute out tolerance scales with it (comparing out / value_scale with the dtype's
// tolerances), since the rounding of P to the MMA type errs in proportion to V.
inline void check_matches(const HostProblem& p, const RunResult& r, const HostOutputs& ref,
                          const std::string& label, double value_scale = 1.0) {
  HostOutputs got = r.as_outputs(p.dtype);
  if (got.lse.empty()) got.lse = ref.lse;
  splitmla::Tolerance tol = splitmla::Tolerance::for_dtype(p.dtype);
  tol.out_atol *= value_scale;
  const splitmla::CompareReport rep = splitmla::compare_outputs(p, got, ref, tol);
  BOOST_CHECK_MESSAGE(rep.ok, label << ": " << rep.text);
  BOOST_CHECK_MESSAGE(r.pads_touched == 0, label << ": " << r.pads_touched
                                                 << " padding elements of out/lse were written");
}

inline HostOutputs reference_of(const HostProblem& p) {
  HostOutputs ref;
  GPUTEST_REQUIRE_OK(splitmla::reference_decode(p, &ref));
  return ref;
}

}  // namespace gputest
