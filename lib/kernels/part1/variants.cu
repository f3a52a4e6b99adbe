// The part1 table: one row per compiled instance (lib/kernels/part1/variants.hpp), and the pure
// choice over it. The instance templates are declared here and explicitly instantiated, one per
// file, in part1/mma_sync/*.cu and part1/wgmma/*.cu: taking their addresses instantiates nothing.
#include "kernels/part1/variants.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>

#include "core/error.hpp"

namespace splitmla::kernels {

template <class T, int MT, int KV>
cudaError_t launch_part1_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T, int MT, int KV>
cudaError_t prepare_part1_instance();
template <class T, int MT, int KV>
cudaError_t occupancy_part1_instance(int* blocks);
template <class T>
cudaError_t launch_part1_wgmma_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T>
cudaError_t prepare_part1_wgmma_instance();
template <class T>
cudaError_t occupancy_part1_wgmma_instance(int* blocks);
template <class T>
cudaError_t launch_part1_wgmma_fp8_instance(const Part1Params& p, int grid, cudaStream_t stream);
template <class T>
cudaError_t prepare_part1_wgmma_fp8_instance();
template <class T>
cudaError_t occupancy_part1_wgmma_fp8_instance(int* blocks);

namespace {

using detail::fail;

constexpr int32_t kAnySm = 1000;  // no upper architecture bound
constexpr DType kBf16 = DType::kBFloat16;
constexpr DType kFp16 = DType::kFloat16;

// mma.sync instances: T x (16, 32, 64 rows per CTA) x cache rows. Auto takes them for any shape.
#define SPLITMLA_MMA_ROW(name, T, dt, MT, KVC)                                                     \
  Part1Row {                                                                                       \
    name, Part1Variant::kMmaSync, 80, kAnySm, dt,                                                  \
        KVC == kKvFp8 ? KvRows::kFp8 : KvRows::k16Bit, 16 * MT, kMaxQLen, 0, kMaxQLen,             \
        mma_sync_key_tile(MT, KVC),                                                                \
        &prepare_part1_instance<T, MT, KVC>, &occupancy_part1_instance<T, MT, KVC>,                \
        &launch_part1_instance<T, MT, KVC>                                                         \
  }
// wgmma instances (sm_90a only): 64 rows per CTA, 16-bit caches, any q_len; auto takes them from
// 32 rows at any q_len (H200: H16_B128_L4k_q2, 32 rows, 165 us against 271 on mma.sync;
// H128_B64_L8k_q2 613 against 1475; 16 rows stay on mma.sync, memory-bound there).
#define SPLITMLA_WGMMA_ROW(name, T, dt)                                                            \
  Part1Row {                                                                                       \
    name, Part1Variant::kWgmma, 90, 90, dt, KvRows::k16Bit, 64, kMaxQLen, 32, kMaxQLen,            \
        kWgmmaKeyTile,                                                                             \
        &prepare_part1_wgmma_instance<T>, &occupancy_part1_wgmma_instance<T>,                      \
        &launch_part1_wgmma_instance<T>                                                            \
  }

// wgmma instances for fp8_e4m3 caches (sm_90a only): 64 rows per CTA, any q_len; auto takes them
// for 64 rows and more at q_len = 1 (H128_B128_L4k_fp8 on the H200: 523 us against the mma.sync
// instance's 807 us; at 16 rows it is the slower one, 254 against 151 us).
#define SPLITMLA_WGMMA_FP8_ROW(name, T, dt)                                                        \
  Part1Row {                                                                                       \
    name, Part1Variant::kWgmma, 90, 90, dt, KvRows::kFp8E4M3, 64, kMaxQLen, 64, 1,              \
        kWgmmaKeyTile,                                                                             \
        &prepare_part1_wgmma_fp8_instance<T>, &occupancy_part1_wgmma_fp8_instance<T>,              \
        &launch_part1_wgmma_fp8_instance<T>                                                        \
  }

const Part1Row kRows[] = {
#if defined(SPLITMLA_HAVE_SM90A)
    SPLITMLA_WGMMA_ROW("wgmma.bf16.kv16.r64", __nv_bfloat16, kBf16),
    SPLITMLA_WGMMA_ROW("wgmma.fp16.kv16.r64", __half, kFp16),
    SPLITMLA_WGMMA_FP8_ROW("wgmma.bf16.e4m3.r64", __nv_bfloat16, kBf16),
    SPLITMLA_WGMMA_FP8_ROW("wgmma.fp16.e4m3.r64", __half, kFp16),
#endif
    SPLITMLA_MMA_ROW("mma_sync.bf16.kv16.r16", __nv_bfloat16, kBf16, 1, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.bf16.kv16.r32", __nv_bfloat16, kBf16, 2, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.bf16.kv16.r64", __nv_bfloat16, kBf16, 4, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.fp16.kv16.r16", __half, kFp16, 1, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.fp16.kv16.r32", __half, kFp16, 2, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.fp16.kv16.r64", __half, kFp16, 4, kKvNative),
    SPLITMLA_MMA_ROW("mma_sync.bf16.fp8.r16", __nv_bfloat16, kBf16, 1, kKvFp8),
    SPLITMLA_MMA_ROW("mma_sync.bf16.fp8.r32", __nv_bfloat16, kBf16, 2, kKvFp8),
    SPLITMLA_MMA_ROW("mma_sync.bf16.fp8.r64", __nv_bfloat16, kBf16, 4, kKvFp8),
    SPLITMLA_MMA_ROW("mma_sync.fp16.fp8.r16", __half, kFp16, 1, kKvFp8),
    SPLITMLA_MMA_ROW("mma_sync.fp16.fp8.r32", __half, kFp16, 2, kKvFp8),
    SPLITMLA_MMA_ROW("mma_sync.fp16.fp8.r64", __half, kFp16, 4, kKvFp8),
};
#undef SPLITMLA_MMA_ROW
#undef SPLITMLA_WGMMA_ROW
#undef SPLITMLA_WGMMA_FP8_ROW

// What a family needs of the build, for the message when none of its rows was compiled.
const char* build_note(Part1Variant family) {
  return family == Part1Variant::kWgmma
             ? " (the wgmma family needs sm_90a in CMAKE_CUDA_ARCHITECTURES)"
             : "";
}

bool arch_fits(const Part1Row& r, int32_t cc) {
  return cc == 0 || (cc >= r.sm_min && cc <= r.sm_max);
}

// Rows of `family` that serve the configuration (rows_per_cta aside); `for_auto` adds the
// shapes auto may pick the row for.
bool serves(const Part1Row& r, const DecodeConfig& c, int32_t cc, bool for_auto) {
  const int32_t rows = c.q_len * c.num_heads;
  return r.q_dtype == c.dtype && kv_rows_serve(r.kv, c.kv_format) && arch_fits(r, cc) &&
         c.q_len <= r.max_q_len &&
         (c.rows_per_cta == 0 || c.rows_per_cta == r.rows_per_cta) &&
         (!for_auto || (rows >= r.auto_min_rows && c.q_len <= r.auto_max_q_len));
}

// Within one family's serving rows: the smallest rows_per_cta that holds every query row of a
// request, else the largest.
const Part1Row* pick(Part1Variant family, const DecodeConfig& c, int32_t cc, bool for_auto,
                     Part1Table t) {
  const int32_t rows = c.q_len * c.num_heads;
  const Part1Row* fit = nullptr;
  const Part1Row* largest = nullptr;
  for (int32_t i = 0; i < t.count; ++i) {
    const Part1Row& r = t.rows[i];
    if (r.family != family || !serves(r, c, cc, for_auto)) continue;
    if (r.rows_per_cta >= rows && (fit == nullptr || r.rows_per_cta < fit->rows_per_cta)) fit = &r;
    if (largest == nullptr || r.rows_per_cta > largest->rows_per_cta) largest = &r;
  }
  return fit != nullptr ? fit : largest;
}

// kNotSupported naming the first requirement that no row of a forced family meets.
Status explain_missing(const DecodeConfig& c, int32_t cc, Part1Table t) {
  const char* fam = part1_variant_name(c.part1);
  int n_family = 0, n_dtype = 0, n_kv = 0, n_arch = 0, n_qlen = 0;
  int32_t sm_min = 0, sm_max = 0, max_q_len = 0;
  for (int32_t i = 0; i < t.count; ++i) {
    const Part1Row& r = t.rows[i];
    if (r.family != c.part1) continue;
    ++n_family;
    if (r.q_dtype != c.dtype) continue;
    ++n_dtype;
    if (!kv_rows_serve(r.kv, c.kv_format)) continue;
    ++n_kv;
    sm_min = r.sm_min;
    sm_max = r.sm_max;
    if (!arch_fits(r, cc)) continue;
    ++n_arch;
    max_q_len = r.max_q_len > max_q_len ? r.max_q_len : max_q_len;
    if (c.q_len > r.max_q_len) continue;
    ++n_qlen;
  }
  if (n_family == 0)
    return fail(Status::kNotSupported, "part1 = %s: no instance was compiled into this library%s",
                fam, build_note(c.part1));
  if (n_dtype == 0)
    return fail(Status::kNotSupported, "part1 = %s has no instance for dtype = %s", fam,
                dtype_name(c.dtype));
  if (n_kv == 0)
    return fail(Status::kNotSupported,
                "part1 = %s does not read kv_format = %s (yet): use mma_sync or auto", fam,
                kv_format_name(c.kv_format, c.dtype));
  if (n_arch == 0) {
    if (sm_min == sm_max)
      return fail(Status::kNotSupported, "part1 = %s needs an sm_%d device, this one is sm_%d",
                  fam, sm_min, cc);
    return fail(Status::kNotSupported, "part1 = %s needs an sm_%d..sm_%d device, this one is sm_%d",
                fam, sm_min, sm_max, cc);
  }
  if (n_qlen == 0)
    return fail(Status::kNotSupported, "part1 = %s serves q_len up to %d, q_len = %d", fam,
                max_q_len, c.q_len);
  return fail(Status::kNotSupported, "part1 = %s has no instance with rows_per_cta = %d", fam,
              c.rows_per_cta);
}

}  // namespace

Part1Table part1_table() {
  return Part1Table{kRows, static_cast<int32_t>(sizeof(kRows) / sizeof(kRows[0]))};
}

Status choose_part1(const DecodeConfig& c, Part1Device device, Part1Table t,
                    const Part1Row** out) {
  if (c.part1 != Part1Variant::kAuto) {
    const Part1Row* r = pick(c.part1, c, device.cc, false, t);
    if (r == nullptr) return explain_missing(c, device.cc, t);
    *out = r;
    return Status::kSuccess;
  }
  // Auto: families in table order; the first with a row auto may take for this shape.
  for (int32_t i = 0; i < t.count; ++i) {
    const Part1Row* r = pick(t.rows[i].family, c, device.cc, true, t);
    if (r != nullptr) {
      *out = r;
      return Status::kSuccess;
    }
  }
  return fail(Status::kNotSupported,
              "part1 = auto: no compiled instance serves dtype = %s, kv_format = %s, q_len = %d, "
              "%d heads, rows_per_cta = %d on sm_%d",
              dtype_name(c.dtype), kv_format_name(c.kv_format, c.dtype), c.q_len, c.num_heads,
              c.rows_per_cta, device.cc);
}

const Part1Row* find_part1(Part1Variant family, DType dtype, KvFormat kv, int32_t rows_per_cta) {
  for (const Part1Row& r : kRows)
    if (r.family == family && r.q_dtype == dtype && kv_rows_serve(r.kv, kv) &&
        r.rows_per_cta == rows_per_cta)
      return &r;
  return nullptr;
}

cudaError_t launch_part1(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta,
                         const Part1Params& p, int grid, cudaStream_t stream) {
  const Part1Row* r = find_part1(family, dtype, kv, rows_per_cta);
  return r != nullptr ? r->launch(p, grid, stream) : cudaErrorInvalidValue;
}

cudaError_t prepare_part1(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta) {
  const Part1Row* r = find_part1(family, dtype, kv, rows_per_cta);
  return r != nullptr ? r->prepare() : cudaErrorInvalidValue;
}

cudaError_t part1_occupancy(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta,
                            int* blocks_per_sm) {
  const Part1Row* r = find_part1(family, dtype, kv, rows_per_cta);
  return r != nullptr ? r->occupancy(blocks_per_sm) : cudaErrorInvalidValue;
}


}  // namespace splitmla::kernels
