// splitmla_soak: phase 4, bigoffsets (soak.cu describes the phases).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "soak.hpp"

namespace splitmla::soak {
namespace {

// ---- phase 4: bigoffsets --------------------------------------------------------------------

bool enough_memory(size_t need, const std::string& what, PhaseStats& st) {
  size_t free_b = 0, total_b = 0;
  check_cuda(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  if (free_b >= need + (size_t(1) << 30)) return true;
  st.failure(strf("%s not run: needs %.1f GB of device memory, %.1f GB free", what.c_str(),
                  need / 1e9, free_b / 1e9));
  return false;
}

// One decode of `in` under `policy`: all outputs written (none left NaN), no flags, the
// validation sample against the reference.
void big_case(Ctx& ctx, PhaseStats& st, const std::string& name, DeviceInputs& in,
              SplitPolicy policy, bool slots_past_2g, std::string* notes) {
  const Shape& sh = in.shape();
  Plan plan;
  Status s = make_plan(config_for(sh, policy), &plan);
  if (s != Status::kSuccess) {
    st.failure(name + ": make_plan: " + status_message(s));
    return;
  }
  const double slot_elems = double(plan.slots_bound) * sh.heads * kHeadDimV;
  const double out_elems = double(sh.batch()) * sh.heads * kHeadDimV;
  if (slots_past_2g && !(slot_elems > 2147483648.0))
    st.failure(name + strf(": the plan's partial slots hold %.3g elements, not past 2^31: the case "
                           "no longer tests 64-bit slot offsets",
                           slot_elems));
  ScratchPool pool;
  check(pool.init(), "ScratchPool::init");
  if (!enough_memory(plan.workspace_bytes, name + " workspace", st)) return;
  s = pool.reserve_for(plan, ctx.stream);
  if (s != Status::kSuccess) {
    st.failure(name + ": reserve_for: " + status_message(s));
    return;
  }
  Workspace ws;
  check(pool.workspace_for(plan, &ws), "workspace_for");
  const DecodeArgs& a = in.args();
  Call c;  // the layout, for the unwritten-element count
  c.dtype = sh.dtype;
  c.heads = sh.heads;
  c.batch = sh.batch();
  c.dense();
  c.label = name;
  Region ro{
      0, int64_t(out_elems), int64_t(sh.heads) * kHeadDimV, kHeadDimV, kHeadDimV, c.batch, c.heads};
  Region rl{0, int64_t(c.batch) * c.heads, c.heads, 1, 1, c.batch, c.heads};
  check_cuda(cudaMemsetAsync(a.out, 0xFF, size_t(out_elems) * 2, ctx.stream), "poison out");
  check_cuda(cudaMemsetAsync(a.lse, 0xFF, size_t(c.batch) * c.heads * 4, ctx.stream), "poison lse");
  const double t = elapsed_s();
  s = decode(plan, a, ws, ctx.stream);
  ++st.calls;
  if (s != Status::kSuccess) {
    st.failure(name + ": decode: " + status_message(s));
    return;
  }
  check_cuda(cudaMemsetAsync(ctx.d_counts.get(), 0, 4 * sizeof(unsigned long long), ctx.stream),
             "zero");
  launch_count_unwritten(ctx, static_cast<const uint16_t*>(a.out), ro,
                         sh.dtype == DType::kBFloat16 ? 0 : 1, ctx.d_counts.get());
  launch_count_unwritten(ctx, reinterpret_cast<const uint32_t*>(a.lse), rl, 2,
                         ctx.d_counts.get() + 2);
  check_cuda(cudaMemcpyAsync(ctx.h_counts.get(), ctx.d_counts.get(), 4 * sizeof(unsigned long long),
                             cudaMemcpyDeviceToHost, ctx.stream),
             "copy counts");
  ErrorReport er;
  const Status se = read_errors(plan, ws, c.batch, ctx.stream, &er);
  check_cuda(cudaGetLastError(), (name + ": CUDA error").c_str());
  const double run_s = elapsed_s() - t;
  if (se != Status::kSuccess)
    st.failure(name + ": read_errors: " + status_message(se));
  else if (er.any)
    st.failure(name + strf(": error flags 0x%x on valid inputs", er.any));
  judge_counts(ctx, c, 0, name, st);
  const ValidationSample sample = build_validation(in, 4, 3);
  const ValidationResult v = validate(sample, in);
  st.rows += int64_t(sample.requests.size() * sample.heads.size());
  if (!v.ok) st.mismatch(name + ": " + v.text);
  std::string picked;
  for (const auto& r : sample.requests)
    picked += (picked.empty() ? "" : ",") + std::to_string(r.index);
  const std::string line = strf(
      "%s: %s heads %d page %d batch %d %s, workspace %.2f GB, partial-slot elements %.3g (2^31 = "
      "2.15e9), out elements %.3g, decode+checks %.2f s, requests %s checked: %s",
      name.c_str(), dtype_short(sh.dtype), sh.heads, sh.page, sh.batch(),
      policy_text(policy).c_str(), plan.workspace_bytes / 1e9, slot_elems, out_elems, run_s,
      picked.c_str(), v.text.c_str());
  std::printf("  %s\n", line.c_str());
  *notes += (notes->empty() ? "" : "; ") + line;
}

}  // namespace

void phase_bigoffsets(Ctx& ctx, PhaseStats& st) {
  const double t0 = elapsed_s();
  std::string notes;
  {
    // 640 requests x 64 forced splits x 128 heads: request b's partial slots start at element
    // b * 64 * 128 * 512, past 2^31 from request 512 on. Lengths 256..1024 fill every split; the
    // longest (600), the last (639) and the shortest (637, empty) are what the sample checks.
    Shape sh;
    sh.dtype = DType::kBFloat16;
    sh.heads = 128;
    sh.page = 16;
    for (int b = 0; b < 640; ++b)
      sh.seq_lens.push_back(int32_t(256 + hash64(ctx.opt.seed * 5 + b) % 769));
    sh.seq_lens[10] = 30;
    sh.seq_lens[600] = 1200;
    sh.seq_lens[636] = 5;
    sh.seq_lens[637] = 0;
    const double slot_floats = 640.0 * 64 * 128 * kHeadDimV;
    if (!(slot_floats > 2147483648.0)) die("internal: the split-slot case does not pass 2^31");
    if (enough_memory(DeviceInputs::bytes_needed(sh) + size_t(slot_floats * 4), "split-slot case",
                      st)) {
      DeviceInputs in(sh, hash64(ctx.opt.seed + 640), 0.0722f);
      big_case(ctx, st, "split slots past 2^31", in, SplitPolicy::forced(64), true, &notes);
    }
  }
  {
    // 65536 requests x 128 heads: out elements reach 2^32; short lengths keep it to seconds.
    Shape sh;
    sh.dtype = DType::kFloat16;
    sh.heads = 128;
    sh.page = 16;
    for (int b = 0; b < kMaxBatch; ++b)
      sh.seq_lens.push_back(int32_t(1 + hash64(ctx.opt.seed * 3 + b) % 32));
    sh.seq_lens[65000] = 64;
    sh.seq_lens[65534] = 0;
    if (enough_memory(DeviceInputs::bytes_needed(sh) + (size_t(1) << 30), "65536-request case",
                      st)) {
      DeviceInputs in(sh, hash64(ctx.opt.seed + 65536), 0.0722f);
      big_case(ctx, st, "65536 requests", in, SplitPolicy::automatic(), false, &notes);
    }
  }
  st.seconds = elapsed_s() - t0;
  st.notes = notes;
}

}  // namespace splitmla::soak
