// The NCCL entry point of context-parallel decode: shard partials, exchange, merge, all on the
// caller's stream and communicator. Built from stubs (kNotSupported) without NCCL.
#include "splitmla/cp_nccl.hpp"

#include <cstdint>

#include "core/error.hpp"

#if defined(SPLITMLA_HAVE_NCCL)
#include <nccl.h>
#endif

namespace splitmla {

using detail::fail;

void* cp_nccl_send_buffer(const CpPlan& plan, const Workspace& ws, int32_t batch) {
  if (ws.data == nullptr || batch < 1 || batch > plan.config.decode.max_batch) return nullptr;
  char* base = static_cast<char*>(ws.data);
  if (plan.config.exchange == CpExchange::kAllToAll) return base + plan.off_send;
  CpLayout l;
  if (cp_layout(plan, batch, &l) != Status::kSuccess) return nullptr;
  return base + plan.off_recv + static_cast<size_t>(plan.config.shard.rank) * l.partials_bytes;
}

#if defined(SPLITMLA_HAVE_NCCL)

bool cp_nccl_built() noexcept { return true; }

namespace {

Status nccl_ok(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return Status::kSuccess;
  return fail(Status::kCudaError, "%s: %s (ncclResult %d)", what, ncclGetErrorString(r),
              static_cast<int>(r));
}

// The communicator must be the one the plan was made for: same size, same rank, same device.
Status check_comm(const CpPlan& plan, ncclComm_t comm) {
  if (comm == nullptr) return fail(Status::kNullPointer, "comm = nullptr");
  int count = 0, rank = -1, dev = -1;
  SPLITMLA_TRY(nccl_ok(ncclCommCount(comm, &count), "ncclCommCount"));
  SPLITMLA_TRY(nccl_ok(ncclCommUserRank(comm, &rank), "ncclCommUserRank"));
  SPLITMLA_TRY(nccl_ok(ncclCommCuDevice(comm, &dev), "ncclCommCuDevice"));
  if (count != plan.config.shard.world)
    return fail(Status::kBadShape, "shard.world = %d, but the communicator has %d ranks",
                plan.config.shard.world, count);
  if (rank != plan.config.shard.rank)
    return fail(Status::kBadShape, "shard.rank = %d, but this communicator's rank is %d",
                plan.config.shard.rank, rank);
  if (dev != plan.shard.device)
    return fail(Status::kDeviceMismatch, "plan device = %d, communicator device = %d",
                plan.shard.device, dev);
  return Status::kSuccess;
}

Status exchange(const CpPlan& plan, const CpLayout& l, const Workspace& ws, ncclComm_t comm,
                cudaStream_t stream) {
  char* base = static_cast<char*>(ws.data);
  char* recv = base + plan.off_recv;
  const int world = plan.config.shard.world, rank = plan.config.shard.rank;
  if (plan.config.exchange == CpExchange::kAllGather) {
    // In place: this rank's partials already sit in its slot of the receive buffer.
    return nccl_ok(ncclAllGather(recv + static_cast<size_t>(rank) * l.partials_bytes, recv,
                                 l.partials_bytes, ncclUint8, comm, stream),
                   "ncclAllGather");
  }
  const char* send = base + plan.off_send;
  SPLITMLA_TRY(nccl_ok(ncclGroupStart(), "ncclGroupStart"));
  ncclResult_t r = ncclSuccess;
  for (int peer = 0; peer < world && r == ncclSuccess; ++peer) {
    r = ncclSend(send + static_cast<size_t>(peer) * l.chunk_bytes, l.chunk_bytes, ncclUint8, peer,
                 comm, stream);
    if (r == ncclSuccess)
      r = ncclRecv(recv + static_cast<size_t>(peer) * l.chunk_bytes, l.chunk_bytes, ncclUint8,
                   peer, comm, stream);
  }
  const ncclResult_t end = ncclGroupEnd();
  SPLITMLA_TRY(nccl_ok(r, "ncclSend/ncclRecv"));
  return nccl_ok(end, "ncclGroupEnd");
}

Status check_ws(const CpPlan& plan, const Workspace& ws) {
  if (ws.data == nullptr) return fail(Status::kWorkspaceTooSmall, "workspace.data = nullptr");
  if (ws.bytes < plan.workspace_bytes)
    return fail(Status::kWorkspaceTooSmall, "workspace.bytes = %zu, CP plan needs %zu", ws.bytes,
                plan.workspace_bytes);
  return Status::kSuccess;
}

}  // namespace

Status cp_exchange_merge_nccl(const CpPlan& plan, const DecodeArgs& args, const Workspace& ws,
                              ncclComm_t comm, cudaStream_t stream) {
  SPLITMLA_TRY(check_comm(plan, comm));
  SPLITMLA_TRY(check_ws(plan, ws));
  CpLayout l;
  SPLITMLA_TRY(cp_layout(plan, args.batch, &l));
  SPLITMLA_TRY(exchange(plan, l, ws, comm, stream));
  return cp_merge_packed(plan, static_cast<char*>(ws.data) + plan.off_recv, args, stream);
}

Status cp_decode_nccl(const CpPlan& plan, const DecodeArgs& args, const Workspace& ws,
                      ncclComm_t comm, cudaStream_t stream) {
  SPLITMLA_TRY(check_comm(plan, comm));
  SPLITMLA_TRY(check_ws(plan, ws));
  SPLITMLA_TRY(cp_shard_partials(plan, args, ws, cp_nccl_send_buffer(plan, ws, args.batch), stream));
  return cp_exchange_merge_nccl(plan, args, ws, comm, stream);
}

#else  // built without NCCL

bool cp_nccl_built() noexcept { return false; }

Status cp_exchange_merge_nccl(const CpPlan&, const DecodeArgs&, const Workspace&, ncclComm_t,
                              cudaStream_t) {
  return fail(Status::kNotSupported,
              "cp_exchange_merge_nccl: splitmla_nccl was built without NCCL (SPLITMLA_WITH_NCCL=OFF "
              "or NCCL not found)");
}

Status cp_decode_nccl(const CpPlan&, const DecodeArgs&, const Workspace&, ncclComm_t,
                      cudaStream_t) {
  return fail(Status::kNotSupported,
              "cp_decode_nccl: splitmla_nccl was built without NCCL (SPLITMLA_WITH_NCCL=OFF or "
              "NCCL not found)");
}

#endif

}  // namespace splitmla
