# Kernels: the planner, part2, and one file per part1 instance (variant x dtype x heads per CTA)
# so the set of compiled variants is explicit and the build stays parallel.
target_sources(splitmla_decode PRIVATE
  kernels/planner.cu
  kernels/part2.cu
  kernels/launch.cu
  kernels/part1_bf16_h16.cu kernels/part1_bf16_h32.cu kernels/part1_bf16_h64.cu
  kernels/part1_fp16_h16.cu kernels/part1_fp16_h32.cu kernels/part1_fp16_h64.cu
  kernels/part1_fp8_bf16_h16.cu kernels/part1_fp8_bf16_h32.cu kernels/part1_fp8_bf16_h64.cu
  kernels/part1_fp8_fp16_h16.cu kernels/part1_fp8_fp16_h32.cu kernels/part1_fp8_fp16_h64.cu
  kernels/part1_wgmma_bf16.cu kernels/part1_wgmma_fp16.cu)
# The wgmma variant has device code only when sm_90a is among the targets; the host selects it
# only then (kernels::part1_wgmma_built()).
if("90a" IN_LIST CMAKE_CUDA_ARCHITECTURES)
  target_compile_definitions(splitmla_decode PRIVATE SPLITMLA_HAVE_SM90A)
endif()
