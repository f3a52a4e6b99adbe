#!/usr/bin/env bash
# The A/B of the mma.sync kernel's 64-key tiles at 16 rows (thirteenth session, 19acc74 against
# 8ff1e95): .ci/measure-trees.sh with that run's label, suites and cases. A = the tree in
# .ci/ab-a-src.tgz (`git archive` of the commit before), B = the working tree.
#   timeout 590 bash .ci/measure-bn64.sh
AB_LABEL=${AB_LABEL:-bn64} AB_SUITES=${AB_SUITES:-"test_gpu_decode test_gpu_multitoken"} \
  AB_CASES=${AB_CASES:-H16_B128_L4k,H16_B4_L128k,H16_B64_var32k,H16_B128_L4k_p1,H16_B128_L4k_fp8} \
  exec bash "$(dirname "$0")/measure-trees.sh"
