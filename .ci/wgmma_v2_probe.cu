// Throwaway probe for lib/kernels/NOTES.md, "Next for 128 heads after v1.4": the three-warpgroup
// schedule without its loads. WG0 holds Q's latent part in registers (128 a thread) and runs
// S = Q K^T as 32 RS k steps plus 4 SS ones (Q's rope group in shared memory), the lazy softmax of
// the kernel (softmax_tile<bf16>), P into the tile's rope group and a `pready` arrival; WG1
// and WG2 wait for it, rescale on a vote and run their PV half (4 x m64n256k16 SS) and arrive on
// `empty`; WG0 reuses a stage three tiles later, after its `empty`. Three 72-KB stages of garbage
// (no copies: the loads' latency is what the real kernel adds), `setmaxnreg` 192 / 160 / 160.
// One CTA per SM on all 132, 124 tiles each (one work CTA of H128_B128_L4k); the figure to read is
// the time over that case's floor (187.1 us in the b8f2742 run; part1 of v1.4 takes about 270 us,
// the MMA chain alone of the 2-warpgroup schedule 169.8 us).
// ptxas (sm_90a, CUDA 13.0): 168 registers at launch, 0 spills, no wgmma serialization. With
// 208 / 152 / 152 ptxas ignores setmaxnreg (C7507), serializes the wgmmas (C7512) and spills 128 B:
// the PV warpgroups need more than 152 (O's 128 accumulators and their loop), WG0 fits in 192.
// Modes: softmax (as above), nosoftmax (WG0 writes its raw S as P: the chain and the hand-offs),
// and, on the deferred-PV schedule, the softmax's exponentials partly on the FMA pipe (below).
// Build and run (repository root, GPU machine):
//   nvcc -std=c++17 -O3 -arch=sm_90a --expt-relaxed-constexpr -DSPLITMLA_HAVE_SM90A -Iinclude \
//     -Ilib -Xptxas -v .ci/wgmma_v2_probe.cu -o /tmp/wgmma_v2_probe && /tmp/wgmma_v2_probe
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "kernels/common/epilogue.cuh"
#include "kernels/common/ptx.cuh"
#include "kernels/part1/wgmma/part1_wgmma.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/sm90_desc.hpp"
#include "kernels/part1/wgmma/tile_math.cuh"

namespace sm90 = splitmla::kernels::sm90;
namespace ptx = splitmla::kernels::ptx;
namespace k = splitmla::kernels;

namespace {

// k steps of Q's latent part held in registers (the rest read from shared memory, SS), and
// WG0's register count; the PV warpgroups keep 160. setmaxnreg takes from a per-CTA pool that
// holds the launch's 168 x 384 registers, so WG0 + 2 x 160 must not exceed 504: 192 with 160 +
// 160 deadlocks (WG0's setmaxnreg.inc waits forever), and with all 32 steps in registers ptxas
// needs more than 184 for WG0 (32 bytes of spill, serialized wgmmas).
#ifndef PROBE_RS_STEPS
#define PROBE_RS_STEPS 31
#endif
#ifndef PROBE_WG0_REGS
#define PROBE_WG0_REGS 184
#endif
constexpr int kRsSteps = PROBE_RS_STEPS;
constexpr int kTiles = 124;
constexpr double kFloorUs = 187.14;           // H128_B128_L4k's floor in the b8f2742 run
constexpr uint32_t G = 64 * 128;               // one 64-column group of a 64-key tile
constexpr uint32_t kTile = 9 * G;              // 73,728
constexpr int kStages = 3;
constexpr uint32_t kRopeOff = kStages * kTile;      // Q's rope group (8 KB)
constexpr uint32_t kAlphaOff = kRopeOff + G;        // float alpha[3][64]
constexpr uint32_t kBarOff = kAlphaOff + kStages * 64 * 4;  // pready[3], empty[3], full[3]
constexpr uint32_t kSmem = kBarOff + 4 * kStages * 8 + 1024;  // + sdone[3]

// Loads of the modes with them: tile t of a CTA into stage t % 3 as nine 8-KB bulk copies (the
// real kernel's nine boxes) by one producer thread in WG2, after the stage's `empty`, evict-first.
enum Loads { kNone = 0, kL2 = 1, kDram = 2, kDramTma = 3 };
// S[64 x 64] (+)= A[64 x 16] * B[16 x 64], A in registers (the m16n8k16 A-fragment layout), B
// K-major in shared memory.
__device__ __forceinline__ void qk_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db, int scale_d) {
#if SPLITMLA_SM90A
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,"
      "%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),
        "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),
        "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),
        "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d));
#else
  __trap();
#endif
}

template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
#if SPLITMLA_SM90A
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
#if SPLITMLA_SM90A
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ uint64_t desc(uint64_t tmpl, uint32_t addr) {
  return tmpl | ((addr >> 4) & 0x3FFFu);
}

// WG0's softmax in the modes: none (raw S as P), the kernel's softmax_tile, and the same with
// its exponentials changed: half or a quarter of them (columns of odd j, of j = 3 and 7) as a
// polynomial on the FMA pipe instead of MUFU.EX2 (exp2_poly), or none at all (an FMA in place of
// each: wrong values, the bound of what moving work off MUFU can give).
constexpr int kSmNone = 0, kSmKernel = 1, kSmPolyHalf = 2, kSmPolyQuarter = 3, kSmNoExp = 4;

// 2^x for x <= 8 on the FMA pipe: x = n + f with n = round(x) (the 1.5 x 2^23 trick: n in the low
// bits of x + 12582912), f in [-0.5, 0.5], 2^f by a degree-3 polynomial (relative error ~1e-4),
// 2^n added to the exponent field. x <= -127 gives 0 (the kernel's ex2.ftz flushes below 2^-126).
__device__ __forceinline__ float exp2_poly(float x) {
  x = fmaxf(x, -127.f);
  const float t = x + 12582912.f;
  const float f = x - (t - 12582912.f);
  float p = fmaf(0.0555041086648216f, f, 0.2402264923172690f);
  p = fmaf(p, f, 0.6931471805599453f);
  p = fmaf(p, f, 1.f);
  return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}

template <int kMode>
__device__ __forceinline__ float exp2_mode(float x, int j) {
  if constexpr (kMode == kSmNoExp) return fmaf(x, 0.5f, 1.f);
  if constexpr (kMode == kSmPolyHalf) {
    if (j & 1) return exp2_poly(x);
  }
  if constexpr (kMode == kSmPolyQuarter) {
    if ((j & 3) == 3) return exp2_poly(x);
  }
  return ptx::ex2_ftz(x);
}

// k::softmax_tile for full tiles (no masks) with exp2_mode<kMode> for its exponentials.
template <int kMode>
__device__ __forceinline__ void softmax_exp_mode(const float (&s)[32], int q4, float sc_a, float sc_b,
                                                 float& m_a, float& m_b, float& l_a, float& l_b,
                                                 float& al_a, float& al_b, uint32_t (&pr)[8][2]) {
  (void)q4;
  float mx_a = -INFINITY, mx_b = -INFINITY;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    mx_a = fmaxf(mx_a, fmaxf(s[4 * j + 0], s[4 * j + 1]));
    mx_b = fmaxf(mx_b, fmaxf(s[4 * j + 2], s[4 * j + 3]));
  }
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 1));
  mx_a = fmaxf(mx_a, __shfl_xor_sync(0xffffffffu, mx_a, 2));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 1));
  mx_b = fmaxf(mx_b, __shfl_xor_sync(0xffffffffu, mx_b, 2));
  const float t_a = mx_a * sc_a, t_b = mx_b * sc_b;
  const bool up_a = t_a > m_a + k::kLazyMaxStep, up_b = t_b > m_b + k::kLazyMaxStep;
  al_a = up_a ? splitmla::merge::rescale_exp2(m_a, t_a) : 1.f;
  al_b = up_b ? splitmla::merge::rescale_exp2(m_b, t_b) : 1.f;
  if (up_a) m_a = t_a;
  if (up_b) m_b = t_b;
  const float nm_a = m_a == -INFINITY ? 0.f : -m_a;
  const float nm_b = m_b == -INFINITY ? 0.f : -m_b;
  float su_a = 0.f, su_b = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float p0 = exp2_mode<kMode>(fmaf(s[4 * j + 0], sc_a, nm_a), j);
    const float p1 = exp2_mode<kMode>(fmaf(s[4 * j + 1], sc_a, nm_a), j);
    const float p2 = exp2_mode<kMode>(fmaf(s[4 * j + 2], sc_b, nm_b), j);
    const float p3 = exp2_mode<kMode>(fmaf(s[4 * j + 3], sc_b, nm_b), j);
    su_a += p0 + p1;
    su_b += p2 + p3;
    pr[j][0] = ptx::pack2<__nv_bfloat16>(p0, p1);
    pr[j][1] = ptx::pack2<__nv_bfloat16>(p2, p3);
  }
  l_a = l_a * al_a + su_a;
  l_b = l_b * al_b + su_b;
}

template <int kSoftmax, int kLoads, bool kDefer = false>
__global__ void __launch_bounds__(384, 1) v2(int tiles, float* sink, const uint8_t* src,
                                             const __grid_constant__ CUtensorMap tmap) {
  extern __shared__ uint8_t raw[];
  uint8_t* base = raw + ((1024u - (ptx::smem_addr(raw) & 1023u)) & 1023u);
  const uint32_t s0 = ptx::smem_addr(base);
  float* alpha = reinterpret_cast<float*>(base + kAlphaOff);
  const uint32_t bars = s0 + kBarOff;
  auto pready = [&](int s) { return bars + 8u * s; };
  auto empty = [&](int s) { return bars + 8u * (kStages + s); };
  auto full = [&](int s) { return bars + 8u * (2 * kStages + s); };
  // kDefer: WG0 arrives on sdone after each tile's S = Q K^T completed, and the PV warpgroups
  // start tile t's PV only after tile t + 1's S is done, so that PV(t) runs beside the softmax of
  // t + 1 instead of beside its Q K^T (the tensor pipe idles during the softmax otherwise).
  auto sdone = [&](int s) { return bars + 8u * (3 * kStages + s); };
  // Small bf16 values (about 2^-7), so S stays small and the lazy max settles as in real data.
  for (uint32_t i = threadIdx.x; i < (kRopeOff + G) / 4; i += blockDim.x)
    reinterpret_cast<uint32_t*>(base)[i] = 0x3c003c00u ^ (i * 2654435761u & 0x007f007fu);
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      sm90::mbar_init(pready(s), 128);
      sm90::mbar_init(empty(s), 256);
      sm90::mbar_init(full(s), 1);
      sm90::mbar_init(sdone(s), 128);
    }
    sm90::mbar_init_fence();
  }
  sm90::fence_proxy_async();
  __syncthreads();
  constexpr uint64_t kDescK = sm90::make_smem_desc(0, 16, 1024, sm90::kSwizzle128B);
  constexpr uint64_t kDescV = sm90::make_smem_desc(0, G, 1024, sm90::kSwizzle128B);
  const int wg = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) >> 7, 0);
  const int lane = threadIdx.x & 31, q4 = lane & 3;
  const int ra = ((threadIdx.x >> 5) & 3) * 16 + (lane >> 2), rb = ra + 8;
  float acc = 0.f;
  if (wg == 0) {
    setmaxnreg_inc<PROBE_WG0_REGS>();
    uint32_t qa[kRsSteps][4];  // Q's latent part as A fragments (any bf16 pairs do here)
#pragma unroll
    for (int ks = 0; ks < kRsSteps; ++ks)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        qa[ks][i] = reinterpret_cast<const uint32_t*>(base + kRopeOff)[(ks * 4 + i) * 16 + lane % 16];
    float m_a = -INFINITY, m_b = -INFINITY, l_a = 0.f, l_b = 0.f;
    for (int t = 0; t < tiles; ++t) {
      const int s = t % kStages;
      const uint32_t u = static_cast<uint32_t>(t / kStages);
      if (kLoads != kNone)
        sm90::mbar_wait(full(s), u & 1u);
      else if (t >= kStages)
        sm90::mbar_wait(empty(s), (u - 1) & 1u);
      const uint32_t skv = s0 + s * kTile;
      float sacc[32];
      sm90::wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kRsSteps; ++ks)
        qk_rs(sacc, qa[ks], desc(kDescK, skv + (ks >> 2) * G + (ks & 3) * 32), ks > 0);
#pragma unroll
      for (int ks = kRsSteps; ks < 32; ++ks)  // A from shared memory (timing only: any bytes)
        sm90::qk_ss<__nv_bfloat16>(sacc, desc(kDescK, s0 + kRopeOff + (ks & 3) * 32),
                                   desc(kDescK, skv + (ks >> 2) * G + (ks & 3) * 32), 1);
#pragma unroll
      for (int ks = 0; ks < 4; ++ks)
        sm90::qk_ss<__nv_bfloat16>(sacc, desc(kDescK, s0 + kRopeOff + ks * 32),
                                   desc(kDescK, skv + 8 * G + ks * 32), 1);
      sm90::wgmma_commit();
      sm90::wgmma_wait<0>();
#pragma unroll
      for (int i = 0; i < 32; ++i) sm90::reg_fence(sacc[i]);
      if (kDefer) sm90::mbar_arrive(sdone(s));
      float al_a = 1.f, al_b = 1.f;
      uint32_t pr[8][2];
      if constexpr (kSoftmax == kSmKernel) {
        k::softmax_tile<__nv_bfloat16>(sacc, q4, 0, 64, 64, 0.125f, 0.125f, m_a, m_b, l_a, l_b,
                                             al_a, al_b, pr);
      } else if constexpr (kSoftmax != kSmNone) {
        softmax_exp_mode<kSoftmax>(sacc, q4, 0.125f, 0.125f, m_a, m_b, l_a, l_b, al_a, al_b, pr);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          pr[j][0] = ptx::pack2<__nv_bfloat16>(sacc[4 * j], sacc[4 * j + 1]);
          pr[j][1] = ptx::pack2<__nv_bfloat16>(sacc[4 * j + 2], sacc[4 * j + 3]);
        }
      }
      k::store_p_tile(base + s * kTile, ra, rb, q4, pr);
      if (q4 == 0) {
        alpha[s * 64 + ra] = al_a;
        alpha[s * 64 + rb] = al_b;
      }
      sm90::fence_proxy_async();
      sm90::mbar_arrive(pready(s));
    }
    acc = l_a + l_b + m_a + m_b;
  } else {
    setmaxnreg_dec<160>();
    const int half = wg - 1;
    const bool producer = kLoads != kNone && threadIdx.x == 256;
    const uint64_t policy = ptx::policy_evict_first();
    // kL2: the CTA's own three tiles again and again (132 x 216 KB, L2-resident); kDram: CTAs 2k
    // and 2k + 1 stream the same 124 tiles, as a request's two row blocks do (604 MB a launch).
    auto issue = [&](int t) {
      const int s = t % kStages;
      // The source tile: kL2 the CTA's own stage-s tile, the DRAM modes tile t of the pair's stream
      // (a page of the tensor map).
      const size_t tile = kLoads == kL2 ? static_cast<size_t>(blockIdx.x) * kStages + s
                                        : static_cast<size_t>(blockIdx.x >> 1) * tiles + t;
      sm90::mbar_expect_tx(full(s), kTile);
#pragma unroll
      for (int grp = 0; grp < 9; ++grp) {
        if (kLoads == kDramTma)  // the kernel's loads: nine 64-column boxes of the page, swizzled
          sm90::tma_load_3d(s0 + s * kTile + grp * G, &tmap, full(s), 64 * grp, 0, static_cast<int>(tile), policy);
        else
          sm90::bulk_load(s0 + s * kTile + grp * G, src + tile * kTile + grp * G, G, full(s), policy);
      }
      sm90::mbar_arrive(full(s));
    };
    if (producer)
      for (int t = 0; t < kStages && t < tiles; ++t) issue(t);
    float o[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.f;
    for (int t = 0; t < tiles; ++t) {
      const int s = t % kStages;
      const uint32_t u = static_cast<uint32_t>(t / kStages);
      sm90::mbar_wait(pready(s), u & 1u);
      if (kDefer && t + 1 < tiles)
        sm90::mbar_wait(sdone((t + 1) % kStages), static_cast<uint32_t>((t + 1) / kStages) & 1u);
      sm90::fence_proxy_async();
      const float al_a = alpha[s * 64 + ra], al_b = alpha[s * 64 + rb];
      if (k::any_rescale(al_a, al_b)) k::rescale_rows(o, al_a, al_b);
      const uint32_t skv = s0 + s * kTile;
      sm90::wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        sm90::pv_ss<__nv_bfloat16>(o, desc(kDescK, skv + 8 * G + kk * 32),
                                   desc(kDescV, skv + 4 * half * G + kk * 2048), 1);
      sm90::wgmma_commit();
      sm90::wgmma_wait<0>();
      sm90::mbar_arrive(empty(s));
      if (producer && t + kStages < tiles) {
        sm90::mbar_wait(empty(s), u & 1u);
        issue(t + kStages);
      }
    }
#pragma unroll
    for (int i = 0; i < 128; ++i) acc += o[i];
  }
  if (acc == 12345.f) sink[threadIdx.x] = acc;  // keeps the results live
}

template <int kSoftmax, int kLoads, bool kDefer = false>
float run(const char* name, float* sink, const uint8_t* src, const CUtensorMap& tmap) {
  cudaFuncSetAttribute(v2<kSoftmax, kLoads, kDefer>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  float best = 1e30f;
  for (int rep = 0; rep < 20; ++rep) {
    cudaEventRecord(a);
    v2<kSoftmax, kLoads, kDefer><<<132, 384, kSmem>>>(kTiles, sink, src, tmap);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0.f;
    cudaEventElapsedTime(&ms, a, b);
    if (rep > 2 && ms < best) best = ms;
  }
  // Sustained: 200 launches back to back (as a benchmark's graph replays run), the mean.
  cudaEventRecord(a);
  for (int rep = 0; rep < 200; ++rep) v2<kSoftmax, kLoads, kDefer><<<132, 384, kSmem>>>(kTiles, sink, src, tmap);
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms200 = 0.f;
  cudaEventElapsedTime(&ms200, a, b);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    std::printf("%-10s failed: %s\n", name, cudaGetErrorString(e));
    return -1.f;
  }
  std::printf("%-26s %4d tiles x 132 CTAs: %8.1f us, %.3f of H128_B128_L4k's floor (%.2f us a tile);"
              " 200 back to back: %.1f us each\n",
              name, kTiles, best * 1e3, best * 1e3 / kFloorUs, best * 1e3 / kTiles, ms200 * 1e3 / 200);
  return best;
}

__global__ void fill(uint32_t* p, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = 0x3c003c00u ^ (static_cast<uint32_t>(i % (kTile / 4)) * 2654435761u & 0x007f007fu);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // a hang killed by a timeout keeps what was printed
  float* sink = nullptr;
  if (cudaMalloc(&sink, 384 * sizeof(float)) != cudaSuccess) {
    std::printf("no device\n");
    return 1;
  }
  std::printf("shared memory a CTA: %u bytes; %d k steps of Q in registers, WG0 %d registers\n", kSmem,
              kRsSteps, PROBE_WG0_REGS);
  // Source tiles for the load modes: the probe's small bf16 pattern (as its shared memory starts),
  // so the lazy max settles alike with and without loads.
  const size_t bytes = static_cast<size_t>(66) * kTiles * kTile;  // kDram: 66 pairs x 124 tiles
  uint8_t* src = nullptr;
  if (cudaMalloc(&src, bytes) != cudaSuccess) {
    std::printf("no memory for %zu source bytes\n", bytes);
    return 1;
  }
  fill<<<1024, 256>>>(reinterpret_cast<uint32_t*>(src), bytes / 4);
  cudaDeviceSynchronize();
  // The source as the kernel's tensor map sees a page-64 cache ({576, 64, pages}, box {64, 64, 1},
  // 128B swizzle): encoded by the kernel's own encode_kv_map.
  CUtensorMap tmap{};
  {
    k::Part1Params kp{};
    kp.kv = src;
    kp.kv_stride_page = 576 * 64;  // elements
    kp.page_shift = 6;
    kp.num_pages = 66 * kTiles;
    if (!k::encode_kv_map(kp, 2, &tmap)) {
      std::printf("tensor map encoding failed\n");
      return 1;
    }
  }
  // PROBE_EXP_ONLY=1: only the deferred-PV schedule (the kernel's) under the softmax's exp modes.
  const char* exp_only = std::getenv("PROBE_EXP_ONLY");
  if (exp_only == nullptr || exp_only[0] != '1') {
    const float x = run<kSmKernel, kNone>("softmax", sink, src, tmap);
    const float y = run<kSmNone, kNone>("nosoftmax", sink, src, tmap);
    const float z = run<kSmKernel, kL2>("softmax+loads from L2", sink, src, tmap);
    const float w = run<kSmKernel, kDram>("softmax+loads from DRAM", sink, src, tmap);
    const float v = run<kSmNone, kDram>("nosoftmax+loads from DRAM", sink, src, tmap);
    const float u = run<kSmKernel, kDramTma>("softmax+DRAM, tensor map", sink, src, tmap);
    const float r = run<kSmNone, kDramTma>("nosoftmax+DRAM, tensor map", sink, src, tmap);
    if (!(x > 0.f && y > 0.f && z > 0.f && w > 0.f && v > 0.f && u > 0.f && r > 0.f)) return 1;
  }
  const float d0 = run<kSmKernel, kNone, true>("deferred PV, softmax", sink, src, tmap);
  const float d1 = run<kSmKernel, kDramTma, true>("deferred PV, +DRAM tmap", sink, src, tmap);
  const float e0 = run<kSmNone, kNone, true>("deferred PV, nosoftmax", sink, src, tmap);
  const float e1 = run<kSmPolyHalf, kNone, true>("deferred PV, 1/2 exp poly", sink, src, tmap);
  const float e2 = run<kSmPolyQuarter, kNone, true>("deferred PV, 1/4 exp poly", sink, src, tmap);
  const float e3 = run<kSmNoExp, kNone, true>("deferred PV, no exp", sink, src, tmap);
  const float e4 = run<kSmPolyHalf, kDramTma, true>("deferred, 1/2 poly, DRAM", sink, src, tmap);
  if (d0 < 0.f || d1 < 0.f || e0 < 0.f || e1 < 0.f || e2 < 0.f || e3 < 0.f || e4 < 0.f) return 1;
  cudaFree(src);
  cudaFree(sink);
  return 0;
}
