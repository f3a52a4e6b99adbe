// Hopper (sm_90a) PTX wrappers for the wgmma part1 variant: shared-memory matrix descriptors,
// warpgroup MMAs (wgmma.mma_async), their fence/commit/wait, mbarriers (with cp.async arrival)
// and the generic->async proxy fence. Each wrapper is one PTX instruction; the descriptor builder
// is a constexpr host/device function so its encoding is unit-tested on the CPU (golden constants
// in tests/core/test_sm90_desc.cpp, via sm90_desc.hpp).
//
// Device bodies exist only when compiling for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL); for any other
// target they compile to a trap, and the host never selects the variant there.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/part1/wgmma/sm90_desc.hpp"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SPLITMLA_SM90A 1
#else
#define SPLITMLA_SM90A 0
#endif

namespace splitmla::kernels::sm90 {

#if SPLITMLA_SM90A
#define SPLITMLA_SM90_ASM(...) asm volatile(__VA_ARGS__)
#else
#define SPLITMLA_SM90_ASM(...) __trap()
#endif

__device__ __forceinline__ void wgmma_fence() {
  SPLITMLA_SM90_ASM("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  SPLITMLA_SM90_ASM("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  SPLITMLA_SM90_ASM("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of an accumulator across a wgmma wait.
__device__ __forceinline__ void reg_fence(float& r) { asm volatile("" : "+f"(r)::"memory"); }

// Generic-proxy shared-memory writes (st.shared, cp.async) -> later async-proxy reads (wgmma).
__device__ __forceinline__ void fence_proxy_async() {
  SPLITMLA_SM90_ASM("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  SPLITMLA_SM90_ASM("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_init_fence() {
  SPLITMLA_SM90_ASM("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// An mbarrier (or the first of a per-stage array, 8 bytes apart) and the arrivals it expects.
struct MbarSpec {
  uint32_t bar;
  uint32_t arrivals;
};
// The three-warpgroup kernels' barrier set-up: thread 0 initializes the per-stage arrays stage by
// stage, then the single barriers, and fences the initializations; then the whole block syncs, so
// no thread waits on an uninitialized barrier.
template <int kStages, int NS, int N1>
__device__ __forceinline__ void init_mbarriers(int tid, const MbarSpec (&per_stage)[NS],
                                               const MbarSpec (&single)[N1]) {
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s)
#pragma unroll
      for (int i = 0; i < NS; ++i) mbar_init(per_stage[i].bar + 8 * s, per_stage[i].arrivals);
#pragma unroll
    for (int i = 0; i < N1; ++i) mbar_init(single[i].bar, single[i].arrivals);
    mbar_init_fence();
  }
  __syncthreads();
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  SPLITMLA_SM90_ASM("mbarrier.arrive.release.cta.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Arrives on `bar` once every cp.async this thread issued so far has landed (counts as one of
// the barrier's expected arrivals: .noinc).
__device__ __forceinline__ void mbar_arrive_cp_async(uint32_t bar) {
  SPLITMLA_SM90_ASM("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
#if SPLITMLA_SM90A
  asm volatile(
      "{\n.reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.acquire.cta.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
#else
  __trap();
#endif
}

// Adds `bytes` to the transaction count the current phase of `bar` waits for (no arrival).
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  SPLITMLA_SM90_ASM("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar),
                    "r"(bytes)
                    : "memory");
}

// Bulk tensor copy (TMA) of one box of a 3-D tensor map into shared memory; completion adds the
// box's bytes (zeros for out-of-bounds elements included) to `bar`'s transaction count.
// `tmap` is the generic address of a CUtensorMap in kernel-parameter (__grid_constant__) space.
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const void* tmap, uint32_t bar, int c0,
                                            int c1, int c2, uint64_t policy) {
  SPLITMLA_SM90_ASM(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1, {%3, %4, %5}], [%2], %6;\n" ::"r"(dst),
      "l"(tmap), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "l"(policy)
      : "memory");
}

// Bulk copy (TMA, no tensor map) of `bytes` contiguous global bytes (a multiple of 16, both
// addresses 16-byte aligned) into shared memory; completion adds them to `bar`'s transaction count.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, uint32_t bytes, uint32_t bar,
                                          uint64_t policy) {
  SPLITMLA_SM90_ASM(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar), "l"(policy)
      : "memory");
}

// Register budget of the calling warpgroup (every warp of it executes the same call): dec gives
// registers back to the CTA's pool, inc takes them (waiting until the pool holds enough).
template <int N>
__device__ __forceinline__ void setmaxnreg_inc() {
  SPLITMLA_SM90_ASM("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N>
__device__ __forceinline__ void setmaxnreg_dec() {
  SPLITMLA_SM90_ASM("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}

// Barrier among `count` threads (a multiple of 32) of the CTA on hardware barrier `id` (1..15;
// 0 is __syncthreads).
__device__ __forceinline__ void named_barrier_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

// Four 8x8 16-bit matrices from the warp's registers to shared memory (stmatrix .x4): register
// i of lane l holds row l / 4, columns 2 (l % 4) and + 1 of matrix i (the mma accumulator and
// A-fragment layout); lane l gives the address of row l % 8 of matrix l / 8 (16 bytes).
__device__ __forceinline__ void stmatrix_x4(uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2,
                                            uint32_t r3) {
  SPLITMLA_SM90_ASM("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr),
                    "r"(r0), "r"(r1), "r"(r2), "r"(r3)
                    : "memory");
}

// One warpgroup MMA, m64nNk16, fp32 accumulate, T = bf16 or fp16 operands.
//   qk_ss: S[64 x 64]  (+)= A[64 x 16] * B[16 x 64],  A and B K-major in shared memory.
//   pv_ss: O[64 x 256] (+)= A[64 x 16] * B[16 x 256], A K-major, B MN-major (transposed) in smem.
//   pv_rs: the same with A in registers (4 x 32-bit per thread, the m16n8k16 A-fragment layout).
// scale_d = 0 overwrites the accumulator, 1 accumulates.
template <class T>
__device__ __forceinline__ void qk_ss(float (&d)[32], uint64_t desc_a, uint64_t desc_b, int scale_d);
// qk_ss with the accumulator overwritten (scale-d = 0): its old value is never read.
template <class T>
__device__ __forceinline__ void qk_ss0(float (&d)[32], uint64_t desc_a, uint64_t desc_b);
template <class T>
__device__ __forceinline__ void pv_ss(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int scale_d);
template <class T>
__device__ __forceinline__ void pv_rs(float (&d)[128], const uint32_t (&a)[4], uint64_t desc_b,
                                      int scale_d);
//   qk_rs: S[64 x 64] (+)= A[64 x 16] * B[16 x 64], A in registers (as pv_rs), B K-major in smem;
//   qk_rs0 overwrites the accumulator.
template <class T>
__device__ __forceinline__ void qk_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b,
                                      int scale_d);
template <class T>
__device__ __forceinline__ void qk_rs0(float (&d)[32], const uint32_t (&a)[4], uint64_t desc_b);

#if SPLITMLA_SM90A
// The accumulator operand lists of the m64n64 (32 floats) and m64n256 (128 floats) shapes.
#define SPLITMLA_REGS32 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}"
#define SPLITMLA_REGS128 "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127}"
#define SPLITMLA_ACC32_OUT \
    "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), \
    "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), \
    "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), \
    "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31])
#define SPLITMLA_ACC32_INOUT \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
#define SPLITMLA_ACC128_INOUT \
    "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
    "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
    "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
    "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
    "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
    "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
    "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
    "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
    "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
    "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
    "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
    "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
    "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
    "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
    "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
    "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// The four wrappers for operand type T, whose PTX type is TY ("bf16" or "f16").
#define SPLITMLA_SM90_MMAS(T, TY)                                                                   \
  template <>                                                                                       \
  __device__ __forceinline__ void qk_ss0<T>(float(&d)[32], uint64_t desc_a, uint64_t desc_b) {     \
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " SPLITMLA_REGS32       \
                 ", %32, %33, 0, 1, 1, 0, 0;\n"                                                    \
                 : SPLITMLA_ACC32_OUT                                                               \
                 : "l"(desc_a), "l"(desc_b));                                                       \
  }                                                                                                 \
  template <>                                                                                       \
  __device__ __forceinline__ void qk_ss<T>(float(&d)[32], uint64_t desc_a, uint64_t desc_b,        \
                                           int scale_d) {                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " SPLITMLA_REGS32       \
                 ", %32, %33, p, 1, 1, 0, 0;\n}\n"                                                  \
                 : SPLITMLA_ACC32_INOUT                                                             \
                 : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                         \
  }                                                                                                 \
  template <>                                                                                       \
  __device__ __forceinline__ void pv_ss<T>(float(&d)[128], uint64_t desc_a, uint64_t desc_b,       \
                                           int scale_d) {                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                     \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." TY "." TY " " SPLITMLA_REGS128     \
                 ", %128, %129, p, 1, 1, 0, 1;\n}\n"                                                \
                 : SPLITMLA_ACC128_INOUT                                                            \
                 : "l"(desc_a), "l"(desc_b), "r"(scale_d));                                         \
  }                                                                                                 \
  template <>                                                                                       \
  __device__ __forceinline__ void qk_rs0<T>(float(&d)[32], const uint32_t(&a)[4], uint64_t desc_b) { \
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " SPLITMLA_REGS32       \
                 ", {%32,%33,%34,%35}, %36, 0, 1, 1, 0;\n"                                         \
                 : SPLITMLA_ACC32_OUT                                                               \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));                        \
  }                                                                                                 \
  template <>                                                                                       \
  __device__ __forceinline__ void qk_rs<T>(float(&d)[32], const uint32_t(&a)[4], uint64_t desc_b,  \
                                           int scale_d) {                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                      \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " " SPLITMLA_REGS32       \
                 ", {%32,%33,%34,%35}, %36, p, 1, 1, 0;\n}\n"                                      \
                 : SPLITMLA_ACC32_INOUT                                                             \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d));          \
  }                                                                                                 \
  template <>                                                                                       \
  __device__ __forceinline__ void pv_rs<T>(float(&d)[128], const uint32_t(&a)[4], uint64_t desc_b, \
                                           int scale_d) {                                           \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                                     \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." TY "." TY " " SPLITMLA_REGS128     \
                 ", {%128,%129,%130,%131}, %132, p, 1, 1, 1;\n}\n"                                 \
                 : SPLITMLA_ACC128_INOUT                                                            \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(scale_d));          \
  }

SPLITMLA_SM90_MMAS(__nv_bfloat16, "bf16")
SPLITMLA_SM90_MMAS(__half, "f16")

#undef SPLITMLA_SM90_MMAS
#undef SPLITMLA_ACC128_INOUT
#undef SPLITMLA_ACC32_INOUT
#undef SPLITMLA_ACC32_OUT
#undef SPLITMLA_REGS128
#undef SPLITMLA_REGS32

#else
template <class T>
__device__ __forceinline__ void qk_ss(float (&)[32], uint64_t, uint64_t, int) { __trap(); }
template <class T>
__device__ __forceinline__ void qk_ss0(float (&)[32], uint64_t, uint64_t) { __trap(); }
template <class T>
__device__ __forceinline__ void pv_ss(float (&)[128], uint64_t, uint64_t, int) { __trap(); }
template <class T>
__device__ __forceinline__ void pv_rs(float (&)[128], const uint32_t (&)[4], uint64_t, int) {
  __trap();
}
template <class T>
__device__ __forceinline__ void qk_rs(float (&)[32], const uint32_t (&)[4], uint64_t, int) {
  __trap();
}
template <class T>
__device__ __forceinline__ void qk_rs0(float (&)[32], const uint32_t (&)[4], uint64_t) { __trap(); }
#endif

#undef SPLITMLA_SM90_ASM

}  // namespace splitmla::kernels::sm90
