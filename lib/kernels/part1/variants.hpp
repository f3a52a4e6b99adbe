// The part1 variants as data: one row per compiled part1 instance. Everything that decides which
// part1 kernel runs reads this table: make_plan's choice (choose_part1, lib/api/plan.cpp), the
// launch, the shared-memory preparation and the occupancy query (lib/api/run.cpp). Adding a
// variant is adding its instance files and its rows (docs/adding-a-part1-variant.md).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/params.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla::kernels {

// Which cache rows an instance reads: the q dtype's 16-bit rows, fp8 rows of both formats
// (Part1Params::kv_format picks at run time inside one instance), or fp8_e4m3 rows only.
enum class KvRows : int32_t { k16Bit = 0, kFp8 = 1, kFp8E4M3 = 2 };
inline bool kv_rows_serve(KvRows r, KvFormat f) {
  switch (r) {
    case KvRows::k16Bit: return !is_fp8(f);
    case KvRows::kFp8: return is_fp8(f);
    case KvRows::kFp8E4M3: return f == KvFormat::kFp8E4M3;
  }
  return false;
}

struct Part1Row {
  const char* name;        // instance name, e.g. "mma_sync.bf16.kv16.r32" (messages, studies)
  Part1Variant family;     // the kernel family; DecodeConfig::part1 forces one by this value
  int32_t sm_min, sm_max;  // compute capabilities it runs on (major * 10 + minor), inclusive
  DType q_dtype;
  KvRows kv;
  int32_t rows_per_cta;    // query rows (q_len x heads, token-major) per CTA
  int32_t max_q_len;       // largest q_len it serves
  // auto picks the row only for rows >= auto_min_rows and q_len <= auto_max_q_len (a family
  // serves more when forced than auto trusts it with: measured shapes only).
  int32_t auto_min_rows;
  int32_t auto_max_q_len;
  // KV rows (keys) per tile of the instance's main loop: the auto policy cuts requests at
  // multiples of it, so no piece pays for a tile it only partly uses (Plan::key_tile).
  int32_t key_tile;
  // Raises the dynamic shared-memory limit (host call, outside capture) and reports whether the
  // instance was built for the current device; occupancy in CTAs per SM; the launch owns its
  // attributes (grid, block, dynamic shared memory).
  cudaError_t (*prepare)();
  cudaError_t (*occupancy)(int* blocks_per_sm);
  cudaError_t (*launch)(const Part1Params& p, int grid, cudaStream_t stream);
};

// The table, in preference order for auto: within a family rows go from fewer to more rows per
// CTA; families that auto prefers come first. Rows of instances compiled only for sm_90a exist
// only in builds that include 90a.
struct Part1Table {
  const Part1Row* rows;
  int32_t count;
};
Part1Table part1_table();

// What choose_part1 knows of the device: compute capability, 0 when planning without a device
// (every row's architecture range is then accepted; make_plan's preparation checks the build).
struct Part1Device {
  int32_t cc = 0;
};

// Picks the row for a configuration: a pure function of the config, the device and the table.
// config.part1 = kAuto: the first family (table order) with a row that fits and that auto may
// take; a forced family: its rows only. Within the family, the smallest rows_per_cta that holds
// q_len x heads (else the largest), or exactly config.rows_per_cta when set. No row:
// kNotSupported naming what is missing (the build, the architecture, the dtype, the cache format,
// q_len or rows_per_cta).
Status choose_part1(const DecodeConfig& config, Part1Device device, Part1Table table,
                    const Part1Row** out);

// The row a plan chose (family, dtype, cache rows, rows per CTA); nullptr if none matches.
const Part1Row* find_part1(Part1Variant family, DType dtype, KvFormat kv, int32_t rows_per_cta);

// The plan's row (find_part1) launched, prepared (raises the dynamic shared-memory limit, host
// call outside capture, and reports whether it was built for this device) or queried for
// occupancy; cudaErrorInvalidValue when no row matches. No allocation, no sync.
cudaError_t launch_part1(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta,
                         const Part1Params& p, int grid, cudaStream_t stream);
cudaError_t prepare_part1(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta);
cudaError_t part1_occupancy(Part1Variant family, DType dtype, KvFormat kv, int rows_per_cta,
                            int* blocks_per_sm);

}  // namespace splitmla::kernels
