#!/usr/bin/env bash
# A/B of the wgmma kernels' Q load and output store (16-byte accesses through quad transposes;
# v2's WG0 reads the next piece's Q before (A)) against the tree before them, on the rows those
# kernels run: .ci/measure-trees.sh with A = .ci/ab-a-src.tgz (made on the CPU machine with
#   git archive BASE CMakeLists.txt lib include tests experiments python pyproject.toml | gzip > .ci/ab-a-src.tgz),
# every GPU suite of the wgmma kernels on B, the sanitizers on their decode cases.
# From the repository root on the GPU machine:  timeout 590 bash .ci/measure-qio.sh
export AB_LABEL=${AB_LABEL:-qio}
export AB_CASES=${AB_CASES:-H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H64_B16_L16k_p16,H128_B64_L8k_q2,H16_B128_L4k_q2,H128_B128_L4k_fp8}
export AB_SUITES=${AB_SUITES:-test_gpu_sm90 test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults test_gpu_fp8}
export AB_SAN_WGMMA=1 AB_SAN=${AB_SAN:-racecheck synccheck memcheck}
exec bash "$(dirname "$0")/measure-trees.sh"
