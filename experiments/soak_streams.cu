// splitmla_soak: phase 2, streams (soak.cu describes the phases).
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

// ---- phase 2: streams -----------------------------------------------------------------------

struct StreamSet {
  std::string name;
  Shape shape;
  SplitPolicy policy;
  std::unique_ptr<DeviceInputs> in;
  Plan plan;
  ScratchPool pool;
  cudaStream_t stream = nullptr;
  std::vector<uint16_t> serial_out;
  std::vector<uint32_t> serial_lse;
  PinnedArray<uint16_t> h_out;
  PinnedArray<uint32_t> h_lse;
  int64_t iterations = 0, checks = 0;
  std::string first_problem;
  size_t out_elems() const { return size_t(shape.batch()) * shape.heads * kHeadDimV; }
  size_t lse_elems() const { return size_t(shape.batch()) * shape.heads; }
};

}  // namespace

void phase_streams(Ctx& ctx, PhaseStats& st) {
  const double t0 = elapsed_s();
  StreamSet sets[2];
  sets[0].name = "A";
  sets[0].shape.dtype = DType::kBFloat16;
  sets[0].shape.heads = 128;
  sets[0].shape.page = 64;
  sets[0].policy = SplitPolicy::automatic();
  for (int b = 0; b < 24; ++b)
    sets[0].shape.seq_lens.push_back(
        b % 7 == 3 ? 0 : int32_t(1 + hash64(ctx.opt.seed + 11 + b) % 16384));
  sets[1].name = "B";
  sets[1].shape.dtype = DType::kFloat16;
  sets[1].shape.heads = 19;
  sets[1].shape.page = 4;
  sets[1].policy = SplitPolicy::chunk(384);
  for (int b = 0; b < 57; ++b)
    sets[1].shape.seq_lens.push_back(
        b % 11 == 5 ? 0 : int32_t(1 + hash64(ctx.opt.seed + 97 + b) % 6000));

  for (int k = 0; k < 2; ++k) {
    StreamSet& s = sets[k];
    s.in = std::make_unique<DeviceInputs>(s.shape, hash64(ctx.opt.seed * 31 + k),
                                          k == 0 ? 0.0722f : 0.11f);
    check(make_plan(config_for(s.shape, s.policy), &s.plan), "make_plan (streams)");
    check(s.pool.init(), "ScratchPool::init");
    check(s.pool.reserve_for(s.plan), "ScratchPool::reserve_for (streams)");
    check_cuda(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    s.h_out = PinnedArray<uint16_t>(s.out_elems(), "cudaMallocHost(out)");
    s.h_lse = PinnedArray<uint32_t>(s.lse_elems(), "cudaMallocHost(lse)");
    // Serially, nothing else running: the bits every concurrent run must reproduce.
    const DecodeArgs& a = s.in->args();
    check_cuda(cudaMemsetAsync(a.out, 0xFF, s.out_elems() * 2, s.stream), "poison out");
    check_cuda(cudaMemsetAsync(a.lse, 0xFF, s.lse_elems() * 4, s.stream), "poison lse");
    const Status d = decode(s.plan, a, s.pool, s.stream);
    if (d != Status::kSuccess) {
      st.failure("set " + s.name + " serial decode: " + status_message(d));
      return;
    }
    check_cuda(cudaStreamSynchronize(s.stream), "serial decode");
    s.serial_out.resize(s.out_elems());
    s.serial_lse.resize(s.lse_elems());
    check_cuda(cudaMemcpy(s.serial_out.data(), a.out, s.out_elems() * 2, cudaMemcpyDeviceToHost),
               "copy out");
    check_cuda(cudaMemcpy(s.serial_lse.data(), a.lse, s.lse_elems() * 4, cudaMemcpyDeviceToHost),
               "copy lse");
    for (uint16_t x : s.serial_out)
      if ((x & 0x7FFF) >= (s.shape.dtype == DType::kBFloat16 ? 0x7F80 : 0x7C00)) {
        st.mismatch("set " + s.name + ": serial output has non-finite elements");
        break;
      }
    const ValidationSample sample = build_validation(*s.in, 4, 4);
    const ValidationResult v = validate(sample, *s.in);
    st.rows += int64_t(sample.requests.size() * sample.heads.size());
    if (!v.ok) st.mismatch("set " + s.name + " serial output vs reference: " + v.text);
    std::printf("  streams: set %s (%s heads %d page %d batch %d, %s) serial: %s\n", s.name.c_str(),
                dtype_short(s.shape.dtype), s.shape.heads, s.shape.page, s.shape.batch(),
                policy_text(s.policy).c_str(), v.text.c_str());
  }

  // Two host threads, one per stream, decoding until the deadline.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(ctx.opt.stream_seconds);
  const int every = ctx.opt.check_every;
  auto loop = [&](StreamSet& s) {
    const DecodeArgs& a = s.in->args();
    for (int64_t i = 1; std::chrono::steady_clock::now() < deadline; ++i) {
      const bool check_now = i % every == 0;
      if (check_now) {
        check_cuda(cudaMemsetAsync(a.out, 0xFF, s.out_elems() * 2, s.stream), "poison out");
        check_cuda(cudaMemsetAsync(a.lse, 0xFF, s.lse_elems() * 4, s.stream), "poison lse");
      }
      const Status d = decode(s.plan, a, s.pool, s.stream);
      ++s.iterations;
      if (d != Status::kSuccess) {
        st.failure(strf("set %s iteration %lld: decode: ", s.name.c_str(), (long long)i) +
                   status_message(d));
        break;
      }
      if (!check_now) continue;
      check_cuda(cudaMemcpyAsync(s.h_out.get(), a.out, s.out_elems() * 2, cudaMemcpyDeviceToHost,
                                 s.stream),
                 "copy out");
      check_cuda(cudaMemcpyAsync(s.h_lse.get(), a.lse, s.lse_elems() * 4, cudaMemcpyDeviceToHost,
                                 s.stream),
                 "copy lse");
      check_cuda(cudaStreamSynchronize(s.stream), "stream iteration");
      ++s.checks;
      if (std::memcmp(s.h_out.get(), s.serial_out.data(), s.out_elems() * 2) != 0 ||
          std::memcmp(s.h_lse.get(), s.serial_lse.data(), s.lse_elems() * 4) != 0) {
        size_t k = 0;
        while (k < s.out_elems() && s.h_out[k] == s.serial_out[k]) ++k;
        st.mismatch(
            strf("set %s iteration %lld: output differs from the serial run (first out "
                 "element %zu: 0x%04x vs 0x%04x)",
                 s.name.c_str(), (long long)i, k, k < s.out_elems() ? s.h_out[k] : 0,
                 k < s.out_elems() ? s.serial_out[k] : 0));
      }
      Workspace ws;
      ErrorReport er;
      Status se = s.pool.workspace_for(s.plan, &ws);
      if (se == Status::kSuccess) se = read_errors(s.plan, ws, s.shape.batch(), s.stream, &er);
      if (se != Status::kSuccess)
        st.failure(strf("set %s iteration %lld: read_errors: ", s.name.c_str(), (long long)i) +
                   status_message(se));
      else if (er.any)
        st.failure(
            strf("set %s iteration %lld: error flags 0x%x", s.name.c_str(), (long long)i, er.any));
    }
  };
  std::thread other([&] { loop(sets[1]); });
  loop(sets[0]);
  other.join();
  check_cuda(cudaDeviceSynchronize(), "streams phase");
  st.calls = sets[0].iterations + sets[1].iterations;
  st.seconds = elapsed_s() - t0;
  st.notes = strf(
      "set A %s heads 128 page 64 batch 24 auto: %lld iterations, %lld compared; "
      "set B %s heads 19 page 4 batch 57 chunk:384: %lld iterations, %lld compared; "
      "%.1f s concurrent",
      dtype_short(sets[0].shape.dtype), (long long)sets[0].iterations, (long long)sets[0].checks,
      dtype_short(sets[1].shape.dtype), (long long)sets[1].iterations, (long long)sets[1].checks,
      ctx.opt.stream_seconds);
  for (auto& s : sets) cudaStreamDestroy(s.stream);
}

}  // namespace splitmla::soak
