// SplitMLA context-parallel decode over NCCL (library splitmla_nccl; link splitmla::splitmla_nccl).
//
// cp_decode_nccl = cp_shard_partials + the exchange on the caller's communicator + cp_merge_packed,
// all on the caller's stream: no allocation, no synchronization, capturable in a CUDA graph
// (NCCL >= 2.9 records its kernels into the graph). Every rank of `comm` calls it with the same
// plan configuration except shard.rank, which must equal the rank in `comm`.
//   kAllGather: ncclAllGather of the packed partials (in place in the workspace), then every rank
//               merges every head: out is [batch, q_len, num_heads, 512] on every rank.
//   kAllToAll : grouped ncclSend/ncclRecv, chunk d to rank d, then rank r merges its heads
//               (cp_rank_heads): out is [batch, q_len, count, 512].
// Both are deterministic: the merge adds the sources in rank order, no atomics.
// Built without NCCL (SPLITMLA_WITH_NCCL=OFF, or NCCL not found), the calls return kNotSupported.
#pragma once

#include "splitmla/export.hpp"

#include <cuda_runtime_api.h>

#include "splitmla/cp.hpp"

// NCCL's handle type, declared as nccl.h declares it (a repeated identical typedef is valid C++),
// so this header compiles without nccl.h.
typedef struct ncclComm* ncclComm_t;

namespace splitmla {

// Whether this splitmla_nccl was built with NCCL.
SPLITMLA_API bool cp_nccl_built() noexcept;

// The whole step: shard partials, exchange, merge into args.out / args.lse.
SPLITMLA_API Status cp_decode_nccl(const CpPlan& plan, const DecodeArgs& args, const Workspace& ws,
                                   ncclComm_t comm, cudaStream_t stream);

// The exchange and the merge alone, after cp_shard_partials wrote this rank's packed partials
// at cp_nccl_send_buffer(plan, ws, batch) (timing and engines that overlap the shard with other work).
SPLITMLA_API Status cp_exchange_merge_nccl(const CpPlan& plan, const DecodeArgs& args,
                                           const Workspace& ws, ncclComm_t comm,
                                           cudaStream_t stream);

// Where cp_decode_nccl has the shard write its packed partials inside the workspace: this rank's
// slot of the receive buffer for kAllGather (in-place all-gather), the send buffer for kAllToAll.
SPLITMLA_API void* cp_nccl_send_buffer(const CpPlan& plan, const Workspace& ws, int32_t batch);

}  // namespace splitmla
