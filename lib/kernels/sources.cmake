# Kernels by phase and variant: common/ (parameter structs, PTX wrappers), planner/, part1/ (the
# variant table and one folder per variant, one file per compiled instance so the set of
# instances is explicit and the build stays parallel), part2/.
target_sources(splitmla_decode PRIVATE
  kernels/planner/planner.cu
  kernels/part2/part2.cu
  kernels/part1/variants.cu
  kernels/part1/mma_sync/part1_bf16_h16.cu kernels/part1/mma_sync/part1_bf16_h32.cu
  kernels/part1/mma_sync/part1_bf16_h64.cu
  kernels/part1/mma_sync/part1_fp16_h16.cu kernels/part1/mma_sync/part1_fp16_h32.cu
  kernels/part1/mma_sync/part1_fp16_h64.cu
  kernels/part1/mma_sync/part1_fp8_bf16_h16.cu kernels/part1/mma_sync/part1_fp8_bf16_h32.cu
  kernels/part1/mma_sync/part1_fp8_bf16_h64.cu
  kernels/part1/mma_sync/part1_fp8_fp16_h16.cu kernels/part1/mma_sync/part1_fp8_fp16_h32.cu
  kernels/part1/mma_sync/part1_fp8_fp16_h64.cu
  kernels/part1/wgmma/part1_wgmma_bf16.cu kernels/part1/wgmma/part1_wgmma_fp16.cu
  kernels/part1/wgmma/part1_wgmma_fp8_bf16.cu kernels/part1/wgmma/part1_wgmma_fp8_fp16.cu)
# The wgmma variant has device code only when sm_90a is among the targets; its rows of the part1
# table exist only then.
if("90a" IN_LIST CMAKE_CUDA_ARCHITECTURES)
  target_compile_definitions(splitmla_decode PRIVATE SPLITMLA_HAVE_SM90A)
endif()
