// One kernel launch with or without programmatic stream serialization (programmatic dependent
// launch, sm_90 and newer): with it, the grid may start while the grid ahead of it in the stream
// is still running, and its kernel waits for that grid first thing (ptx::grid_dependency_wait).
// part2's launcher uses it with Plan::pdl; a CUDA graph capture keeps the dependency as a
// programmatic edge.
#pragma once

#include <cuda_runtime.h>

namespace splitmla::kernels {

template <class Param>
cudaError_t launch_with_pdl(void (*kernel)(Param), dim3 grid, dim3 block, size_t smem_bytes,
                            cudaStream_t stream, bool pdl, const Param& p) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem_bytes;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = pdl ? attr : nullptr;
  cfg.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, p);
}

}  // namespace splitmla::kernels
