// SplitMLA GPU decode: can_implement -> make_plan (workspace size) -> enqueue_plan + enqueue_run.
//
// make_plan is a pure host function of the static DecodeConfig. enqueue_plan launches the device
// planner (reads seq_lens on the GPU and writes the split schedule into the workspace);
// enqueue_run launches part1 and part2. Neither allocates, synchronizes, nor reads device memory
// on the host, so both can be captured together in one CUDA graph and replayed while the contents
// of seq_lens and block_table change (within the planned bounds).
#pragma once

#include "splitmla/export.hpp"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {

// Everything a run needs that does not depend on device data. Plain data; copy freely.
struct Plan {
  DecodeConfig config{};
  int32_t device = -1;
  int32_t num_sms = 0;
  Part1Variant part1 = Part1Variant::kMmaSync;  // the part1 kernel chosen (never kAuto)
  int32_t rows = 0;              // query rows per request: q_len * num_heads (token-major)
  int32_t rows_per_cta = 0;      // 16, 32 or 64 query rows per part1 CTA
  int32_t row_blocks = 0;        // ceil(rows / rows_per_cta)
  int32_t work_ctas = 0;         // part1 grid = work_ctas * row_blocks
  int32_t key_tile = 0;          // KV rows per part1 tile; auto cuts requests at its multiples
  // part2 launches with programmatic dependent launch (sm_90 and newer): its grid may start as
  // part1's CTAs retire, and waits for part1 to finish before reading anything.
  bool pdl = false;
  int32_t pieces_bound = 0;      // most (request, split) pieces a run can produce
  int32_t slots_bound = 0;       // most partial-output slots (pieces of multi-split requests)
  int32_t multi_bound = 0;       // most requests that need part2
  // Context-parallel shard partials (set only by make_cp_plan, include/splitmla/cp.hpp): `out`
  // is float32, every request goes through the fp32 partial slots and part2 writes float32.
  bool out_f32 = false;
  // Bytes of workspace a run needs (its sub-buffers are placed from the bounds above).
  size_t workspace_bytes = 0;
};

// Host validation of the static configuration (no device access beyond properties).
SPLITMLA_API Status can_implement(const DecodeConfig& config);
// Host validation of one call's arguments against a plan: shapes, strides, alignment, dtypes.
SPLITMLA_API Status can_implement(const Plan& plan, const DecodeArgs& args);

// Bytes of workspace the configuration needs (the same sizing code as make_plan); pure: it only
// reads device attributes, and without a GPU, given config.num_sms and config.device (see
// make_plan), touches no device at all.
SPLITMLA_API Status workspace_size(const DecodeConfig& config, size_t* bytes);

// Decides grid sizes and the workspace layout from the static configuration. Sizing needs the
// device's SM count: without a GPU, give config.num_sms (> 0) and config.device (>= 0), or the
// call returns kNoCudaDevice. The same holds for workspace_size.
SPLITMLA_API Status make_plan(const DecodeConfig& config, Plan* plan);

// Device planner: one small kernel on `stream` that reads seq_lens and writes the split schedule.
SPLITMLA_API Status enqueue_plan(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                                 cudaStream_t stream);
// part1 (+ part2 where a request has more than one split) on `stream`.
SPLITMLA_API Status enqueue_run(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                                cudaStream_t stream);
// enqueue_plan followed by enqueue_run.
SPLITMLA_API Status decode(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                           cudaStream_t stream);

// The two stages separately (timing and studies): enqueue_plan must have run first.
SPLITMLA_API Status enqueue_part1(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                                  cudaStream_t stream);
SPLITMLA_API Status enqueue_part2(const Plan& plan, const DecodeArgs& args, const Workspace& ws,
                                  cudaStream_t stream);

// Occupancy of the exact part1 kernel instance the plan launches (occupancy API), and its grid.
SPLITMLA_API Status part1_occupancy(const Plan& plan, int* blocks_per_sm, int* grid_ctas);

// Reads the error word and the per-request flags that the last run recorded (a host call:
// it synchronizes `stream`; never call it inside a captured region).
struct SPLITMLA_API ErrorReport {
  uint32_t any = 0;                     // OR of every request's flags
  std::vector<uint32_t> request_flags;  // [batch] ErrorBits per request
  std::vector<int32_t> bad_requests() const;
};
SPLITMLA_API Status read_errors(const Plan& plan, const Workspace& ws, int32_t batch,
                                cudaStream_t stream, ErrorReport* report);

// What the device planner decided for one request (test and study aid; host call, syncs).
struct ScheduleInfo {
  int32_t num_pieces = 0;
  int32_t num_multi = 0;
  std::vector<int32_t> splits_per_request;  // [batch]
};
SPLITMLA_API Status read_schedule(const Plan& plan, const Workspace& ws, int32_t batch,
                                  cudaStream_t stream, ScheduleInfo* info);

// Reusable scratch owned by the caller: create one per model or per stream and scope it.
// It never lives in a global; two pools never share memory. Growth is an explicit host call
// (reserve), refused while `stream` is being captured; runs only borrow what is reserved.
//
// Captured graphs hold the buffer's address. Rule: after capturing a decode that uses this pool
// into a graph, call pin(); call unpin() once that graph (every instance of it) is destroyed.
// While pinned (pin count > 0) reserve and reserve_for refuse any growth with kCaptureActive
// and leave the buffer where it is; a reserve that fits the current capacity still succeeds.
// Growth allocates the new buffer first and frees the old one only after that succeeded, so a
// failed growth (kOutOfMemory) leaves the old buffer and capacity untouched. release() and the
// destructor free unconditionally: destroy the graphs first.
class SPLITMLA_API ScratchPool {
 public:
  ScratchPool() = default;
  ~ScratchPool();
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;
  ScratchPool(ScratchPool&& other) noexcept;
  ScratchPool& operator=(ScratchPool&& other) noexcept;

  // Binds the pool to a device (-1: current). No allocation yet.
  Status init(int32_t device = -1);
  // Grows the buffer to at least `bytes` (never shrinks). Host call, outside capture; refused
  // (kCaptureActive) while pinned. On failure the old buffer is kept.
  Status reserve(size_t bytes, cudaStream_t capture_check_stream = nullptr);
  // Grows to fit `plan`, then hands out the workspace for it.
  Status reserve_for(const Plan& plan, cudaStream_t capture_check_stream = nullptr);
  // The workspace for `plan`, without allocating: kWorkspaceTooSmall or kDeviceMismatch if unfit.
  Status workspace_for(const Plan& plan, Workspace* ws) const;
  // Frees the buffer.
  void release();
  // Marks the buffer as captured into a graph (counted); growth is refused until as many
  // unpin() calls. unpin() below zero is ignored.
  void pin() noexcept { ++pins_; }
  void unpin() noexcept {
    if (pins_ > 0) --pins_;
  }
  int32_t pins() const noexcept { return pins_; }

  int32_t device() const { return device_; }
  size_t capacity() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  int32_t device_ = -1;
  int32_t pins_ = 0;
  Status init_status_ = Status::kSuccess;  // the last init()'s failure, reported by later calls
  Status not_initialized(const char* call) const;
};

// Runs plan + part1 + part2 with the pool's workspace (the pool must already fit the plan).
SPLITMLA_API Status decode(const Plan& plan, const DecodeArgs& args, const ScratchPool& pool,
                           cudaStream_t stream);

// Number of CUDA devices visible (0 when none or when the driver is missing); never fails.
SPLITMLA_API int device_count() noexcept;

}  // namespace splitmla
