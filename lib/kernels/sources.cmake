# Kernels: the planner, part2, and one file per part1 instance (dtype x heads per CTA) so the
# set of compiled variants is explicit and the build stays parallel.
target_sources(splitmla PRIVATE
  kernels/planner.cu
  kernels/part2.cu
  kernels/launch.cu
  kernels/part1_bf16_h16.cu kernels/part1_bf16_h32.cu kernels/part1_bf16_h64.cu
  kernels/part1_fp16_h16.cu kernels/part1_fp16_h32.cu kernels/part1_fp16_h64.cu)
