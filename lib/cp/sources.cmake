# Context-parallel decode without communication: local lengths, shard partials, packing, merges
# (include/splitmla/cp.hpp). The NCCL entry point lives in its own library (lib/cp_nccl).
target_sources(splitmla_decode PRIVATE cp/cp.cpp cp/cp_kernels.cu)
