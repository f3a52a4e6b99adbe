target_sources(splitmla PRIVATE kernels/planner.cu kernels/part2.cu kernels/part1_instances.cu kernels/launch.cu)
