// Kernels and host wrappers of sm90_probe.hpp. Each probe is one warpgroup (128 threads) on one
// tile; the tiles use the part1 wgmma variant's own layout helper (tile_offset), descriptors
// (make_smem_desc), PTX wrappers (ptx_sm90.cuh) and tensor-map encoder (encode_kv_map), so what
// the suite checks is what the kernel runs.
#include "gpu/sm90_probe.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/common/params.hpp"
#include "kernels/common/ptx.cuh"
#include "kernels/part1/wgmma/part1_wgmma.cuh"
#include "kernels/part1/wgmma/ptx_sm90.cuh"
#include "kernels/part1/wgmma/sm90_desc.hpp"

namespace sm90probe {
namespace {

namespace sm90 = splitmla::kernels::sm90;
namespace ptx = splitmla::kernels::ptx;

constexpr int kRows = 64;                           // tile rows (heads or keys)
constexpr int kCols = 576;                          // tile columns
constexpr uint32_t kGroup = kRows * 128;            // one 64-column group: 8 KB
constexpr uint32_t kTile = 9 * kGroup;              // 73,728 bytes
constexpr uint64_t kDescK = sm90::make_smem_desc(0, 16, 1024, sm90::kSwizzle128B);
constexpr uint64_t kDescV = sm90::make_smem_desc(0, kGroup, 1024, sm90::kSwizzle128B);

__device__ __forceinline__ uint64_t desc(uint64_t tmpl, uint32_t addr) {
  return tmpl | ((addr >> 4) & 0x3FFFu);
}

// Dynamic shared memory rounded up to a 1024-byte boundary (swizzle atoms), as the kernel does.
__device__ __forceinline__ uint8_t* aligned_smem(uint8_t* raw) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(raw);
  return reinterpret_cast<uint8_t*>((a + 1023) & ~static_cast<uintptr_t>(1023));
}

// Row-major [64 x 576] 16-bit values -> the planar swizzled tile.
__device__ void fill_tile(uint8_t* tile, const uint16_t* src) {
  for (int i = threadIdx.x; i < kRows * kCols; i += 128) {
    const int r = i / kCols, c = i % kCols;
    *reinterpret_cast<uint16_t*>(tile + sm90::tile_offset(kRows, r, c)) = src[i];
  }
}

// Accumulator fragment of an m64nN wgmma -> row-major [64 x ld] floats, columns col0 + [0, N).
template <int N>
__device__ void store_acc(const float (&d)[N / 2], float* dst, int ld, int col0) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = 16 * warp + (lane >> 2), c = 2 * (lane & 3);
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
    const int col = col0 + 8 * j + c;
    dst[g * ld + col] = d[4 * j + 0];
    dst[g * ld + col + 1] = d[4 * j + 1];
    dst[(g + 8) * ld + col] = d[4 * j + 2];
    dst[(g + 8) * ld + col + 1] = d[4 * j + 3];
  }
}

// kRs = false: both operands in shared memory (the v1 kernel's sequence); true: Q's latent part
// in registers straight from global memory and its rope group in shared memory (the v2 kernel's
// load_q_fragments and qk_tile_rs).
template <class T, bool kRs>
__global__ void __launch_bounds__(128) qk_probe(const uint16_t* q, const uint16_t* k, float* s) {
  extern __shared__ uint8_t raw[];
  uint8_t* tq = aligned_smem(raw);
  uint8_t* tk = tq + kTile;
  fill_tile(tq, q);
  fill_tile(tk, k);
  sm90::fence_proxy_async();
  __syncthreads();
  const uint32_t sq = ptx::smem_addr(tq), sk = ptx::smem_addr(tk);
  float acc[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) acc[i] = 0.f;
  if constexpr (kRs) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int ra = 16 * warp + (lane >> 2);
    const T* qt = reinterpret_cast<const T*>(q);
    // Q's last k step through store_q_last into a 32B-swizzled block after the K tile, as the
    // kernel's WG0 stores it (two threads a row), made visible to the async proxy.
    uint8_t* qlast = tk + kTile;
    splitmla::kernels::store_q_last<T>(qt + (threadIdx.x >> 1) * kCols, threadIdx.x >> 1,
                                       threadIdx.x & 1, qlast);
    sm90::fence_proxy_async();
    __syncthreads();
    uint32_t qa[splitmla::kernels::kQkRsSteps][4];
    splitmla::kernels::load_q_fragments<T>(qt + ra * kCols, qt + (ra + 8) * kCols, lane & 3, qa);
    splitmla::kernels::qk_tile_rs<T>(acc, qa, ptx::smem_addr(qlast), sq + 8 * kGroup, sk, kGroup);
  } else {
    // The kernel's sequence: k16 step ks reads columns 16 ks.. of both tiles, 32 bytes further
    // inside the 128-byte swizzled rows, a new column group every 4 steps.
    sm90::wgmma_fence();
    sm90::qk_ss0<T>(acc, desc(kDescK, sq), desc(kDescK, sk));
#pragma unroll
    for (int ks = 1; ks < 36; ++ks) {
      const uint32_t off = (ks >> 2) * kGroup + (ks & 3) * 32;
      sm90::qk_ss<T>(acc, desc(kDescK, sq + off), desc(kDescK, sk + off), 1);
    }
    sm90::wgmma_commit();
  }
  sm90::wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 32; ++i) sm90::reg_fence(acc[i]);
  store_acc<64>(acc, s, 64, 0);
}

// Half kRegs = true: columns 0..255 with P from registers (pv_rs); false: columns 256..511 with P
// from shared memory (pv_ss). Two kernels, one product chain each, as each of the kernel's two
// math warpgroups runs one (under memcheck and synccheck, one kernel running both chains back to
// back stopped with an invalid program counter, while the kernels pass both tools).
template <class T, bool kRegs>
__global__ void __launch_bounds__(128) pv_probe(const uint16_t* p, const uint16_t* kv, float* o) {
  extern __shared__ uint8_t raw[];
  uint8_t* tile = aligned_smem(raw);
  fill_tile(tile, kv);
  // P [64 x 64] into the 9th column group (columns 512..575 of the tile: the rope part, which
  // the product never reads), K-major, where the kernel's loader warpgroup reads it.
  for (int i = threadIdx.x; i < kRows * 64; i += 128) {
    const int r = i / 64, key = i % 64;
    *reinterpret_cast<uint16_t*>(tile + sm90::tile_offset(kRows, r, 512 + key)) = p[i];
  }
  sm90::fence_proxy_async();
  __syncthreads();
  const uint32_t skv = ptx::smem_addr(tile);
  float acc[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) acc[i] = 0.f;
  if constexpr (kRegs) {
    // Columns 0..255: P from registers, V groups 0..3 read transposed. The A fragments are
    // loaded before wgmma.fence, as the kernel builds its register operands: no memory access
    // between the fence and the wgmmas that read them.
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = 16 * warp + (lane >> 2), c = 2 * (lane & 3);
    auto pair = [&](int r, int key) {
      return static_cast<uint32_t>(p[r * 64 + key]) | (static_cast<uint32_t>(p[r * 64 + key + 1]) << 16);
    };
    uint32_t a[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      a[kk][0] = pair(g, 16 * kk + c);
      a[kk][1] = pair(g + 8, 16 * kk + c);
      a[kk][2] = pair(g, 16 * kk + 8 + c);
      a[kk][3] = pair(g + 8, 16 * kk + 8 + c);
    }
    sm90::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) sm90::pv_rs<T>(acc, a[kk], desc(kDescV, skv + kk * 2048), 1);
  } else {
    // Columns 256..511: P from shared memory (group 8), V groups 4..7.
    sm90::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      sm90::pv_ss<T>(acc, desc(kDescK, skv + 8 * kGroup + kk * 32),
                     desc(kDescV, skv + 4 * kGroup + kk * 2048), 1);
  }
  sm90::wgmma_commit();
  sm90::wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 128; ++i) sm90::reg_fence(acc[i]);
  store_acc<256>(acc, o, 512, kRegs ? 0 : 256);
}

// One box per (run, column group) as the kernel's loader issues them; thread k < runs owns
// run k (rows k R .. k R + R - 1 of the tile).
__global__ void __launch_bounds__(128) tma_probe(const __grid_constant__ CUtensorMap map,
                                                 const int32_t* table, int w0, int page_size,
                                                 int num_pages, uint8_t* out) {
  extern __shared__ uint8_t raw[];
  uint8_t* tile = aligned_smem(raw);
  __shared__ alignas(8) uint64_t bar;
  const uint32_t sbar = ptx::smem_addr(&bar), stile = ptx::smem_addr(tile);
  const int run_rows = page_size < 64 ? page_size : 64;
  const int runs = 64 / run_rows;
  if (threadIdx.x == 0) {
    sm90::mbar_init(sbar, 1);
    sm90::mbar_init_fence();
  }
  __syncthreads();
  if (threadIdx.x == 0) sm90::mbar_expect_tx(sbar, kTile);
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < runs) {
    const int pos = w0 + static_cast<int>(threadIdx.x) * run_rows;
    int pg = table[pos / page_size];
    if (static_cast<unsigned>(pg) >= static_cast<unsigned>(num_pages)) pg = num_pages;  // zeros
    const uint32_t dst = stile + threadIdx.x * run_rows * 128;
    const uint64_t policy = ptx::policy_evict_first();
#pragma unroll
    for (int grp = 0; grp < 9; ++grp)
      sm90::tma_load_3d(dst + grp * kGroup, &map, sbar, 64 * grp, pos % page_size, pg, policy);
  }
  if (threadIdx.x == 0) sm90::mbar_arrive(sbar);
  sm90::mbar_wait(sbar, 0);
  for (uint32_t i = threadIdx.x; i < kTile / 16; i += 128)
    reinterpret_cast<uint4*>(out)[i] = reinterpret_cast<const uint4*>(tile)[i];
}

// Device buffers freed on every path.
struct Dev {
  void* p = nullptr;
  ~Dev() {
    if (p != nullptr) cudaFree(p);
  }
  cudaError_t alloc(size_t bytes) { return cudaMalloc(&p, bytes); }
};

#define PROBE_TRY(x)                   \
  do {                                 \
    const cudaError_t e_ = (x);        \
    if (e_ != cudaSuccess) return e_;  \
  } while (0)

template <class In>
cudaError_t upload(Dev* d, const std::vector<In>& v) {
  PROBE_TRY(d->alloc(v.size() * sizeof(In)));
  return cudaMemcpy(d->p, v.data(), v.size() * sizeof(In), cudaMemcpyHostToDevice);
}

// Opts the kernel in to `smem` bytes of dynamic shared memory (above the 48 KB default).
template <class Kernel>
cudaError_t allow_smem(Kernel k, size_t smem) {
  return cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
}

}  // namespace

bool built_for_sm90a() {
#if defined(SPLITMLA_HAVE_SM90A)
  return true;
#else
  return false;
#endif
}

cudaError_t qk_tile(bool fp16, const std::vector<uint16_t>& q, const std::vector<uint16_t>& k,
                    std::vector<float>* s, bool q_in_registers) {
  if (!built_for_sm90a()) return cudaErrorNotSupported;
  if (q.size() != kRows * kCols || k.size() != kRows * kCols) return cudaErrorInvalidValue;
  Dev dq, dk, ds;
  PROBE_TRY(upload(&dq, q));
  PROBE_TRY(upload(&dk, k));
  PROBE_TRY(ds.alloc(64 * 64 * sizeof(float)));
  const size_t smem = 2 * kTile + 2048 + 1024;  // Q, K, Q's last k step (the RS sequence)
  const auto* dqp = static_cast<const uint16_t*>(dq.p);
  const auto* dkp = static_cast<const uint16_t*>(dk.p);
  auto* dsp = static_cast<float*>(ds.p);
  auto launch = [&](auto kernel) -> cudaError_t {
    PROBE_TRY(allow_smem(kernel, smem));
    kernel<<<1, 128, smem>>>(dqp, dkp, dsp);
    return cudaSuccess;
  };
  if (fp16)
    PROBE_TRY(q_in_registers ? launch(qk_probe<__half, true>) : launch(qk_probe<__half, false>));
  else
    PROBE_TRY(q_in_registers ? launch(qk_probe<__nv_bfloat16, true>)
                             : launch(qk_probe<__nv_bfloat16, false>));
  PROBE_TRY(cudaGetLastError());
  PROBE_TRY(cudaDeviceSynchronize());
  s->assign(64 * 64, 0.f);
  return cudaMemcpy(s->data(), ds.p, s->size() * sizeof(float), cudaMemcpyDeviceToHost);
}

cudaError_t pv_tile(bool fp16, const std::vector<uint16_t>& p, const std::vector<uint16_t>& kv,
                    std::vector<float>* o) {
  if (!built_for_sm90a()) return cudaErrorNotSupported;
  if (p.size() != 64 * 64 || kv.size() != kRows * kCols) return cudaErrorInvalidValue;
  Dev dp, dkv, dout;
  PROBE_TRY(upload(&dp, p));
  PROBE_TRY(upload(&dkv, kv));
  PROBE_TRY(dout.alloc(64 * 512 * sizeof(float)));
  const size_t smem = kTile + 1024;
  const auto* dpp = static_cast<const uint16_t*>(dp.p);
  const auto* dkvp = static_cast<const uint16_t*>(dkv.p);
  auto* dop = static_cast<float*>(dout.p);
  if (fp16) {
    PROBE_TRY(allow_smem(pv_probe<__half, true>, smem));
    PROBE_TRY(allow_smem(pv_probe<__half, false>, smem));
    pv_probe<__half, true><<<1, 128, smem>>>(dpp, dkvp, dop);
    pv_probe<__half, false><<<1, 128, smem>>>(dpp, dkvp, dop);
  } else {
    PROBE_TRY(allow_smem(pv_probe<__nv_bfloat16, true>, smem));
    PROBE_TRY(allow_smem(pv_probe<__nv_bfloat16, false>, smem));
    pv_probe<__nv_bfloat16, true><<<1, 128, smem>>>(dpp, dkvp, dop);
    pv_probe<__nv_bfloat16, false><<<1, 128, smem>>>(dpp, dkvp, dop);
  }
  PROBE_TRY(cudaGetLastError());
  PROBE_TRY(cudaDeviceSynchronize());
  o->assign(64 * 512, 0.f);
  return cudaMemcpy(o->data(), dout.p, o->size() * sizeof(float), cudaMemcpyDeviceToHost);
}

cudaError_t tma_tile(int page_size, int num_pages, const std::vector<uint16_t>& cache,
                     const std::vector<int32_t>& table, int w0, std::vector<uint8_t>* tile) {
  if (!built_for_sm90a()) return cudaErrorNotSupported;
  int shift = 0;
  while ((1 << shift) < page_size) ++shift;
  const int run_rows = page_size < 64 ? page_size : 64;
  if ((1 << shift) != page_size || page_size < 8 || page_size > 128 || num_pages < 1 ||
      cache.size() != static_cast<size_t>(num_pages) * page_size * kCols || w0 < 0 ||
      w0 % run_rows != 0 || static_cast<size_t>((w0 + 63) / page_size) >= table.size())
    return cudaErrorInvalidValue;
  Dev dcache, dtable, dout;
  PROBE_TRY(upload(&dcache, cache));
  PROBE_TRY(upload(&dtable, table));
  PROBE_TRY(dout.alloc(kTile));
  // The library's own encoder, with the parameters a decode of this cache would carry.
  splitmla::kernels::Part1Params p{};
  p.kv = dcache.p;
  p.kv_stride_page = static_cast<int64_t>(page_size) * kCols;
  p.num_pages = num_pages;
  p.page_shift = shift;
  CUtensorMap map;
  if (!splitmla::kernels::encode_kv_map(p, 2, &map)) return cudaErrorNotSupported;
  const size_t smem = kTile + 1024;
  PROBE_TRY(allow_smem(tma_probe, smem));
  tma_probe<<<1, 128, smem>>>(map, static_cast<const int32_t*>(dtable.p), w0, page_size, num_pages,
                              static_cast<uint8_t*>(dout.p));
  PROBE_TRY(cudaGetLastError());
  PROBE_TRY(cudaDeviceSynchronize());
  tile->assign(kTile, 0);
  return cudaMemcpy(tile->data(), dout.p, kTile, cudaMemcpyDeviceToHost);
}

}  // namespace sm90probe
