#!/usr/bin/env bash
# The auto policy's even shape (lib/core/split_rule.hpp, switch SPLITMLA_AUTO_EVEN;
# lib/kernels/NOTES.md, "Sixteenth session") in one device call: `.ci/device.sh tests replay` of
# the tree (into $OUT/dev), the A/B of the switch in the same build (.ci/measure-ab.sh, 3
# alternated rounds: the benchmark rows whose plan the shape changes and two whose plan it keeps,
# into $OUT/ab), then memcheck, initcheck and racecheck of the decode case that plans the shape on
# the device and checks its pieces against the host rule (into $OUT/san). From the repository
# root on the GPU machine:
#   timeout 590 bash .ci/measure-auto-even.sh
R=${OUT:-$PWD/out}
export BUILD_DIR=${BUILD_DIR:-build-v2}
OUT=$R/dev bash "$(dirname "$0")/device.sh" tests replay | grep -E "^build:|passed|failed|replay policy|=== |bad descriptor"
OUT=$R/ab AB_VAR=SPLITMLA_AUTO_EVEN ROUNDS=${ROUNDS:-3} BUDGET_S=230 \
  AB_CASES=${AB_CASES:-H128_B32_L32k,H64_B16_L16k_p16,H16_B4_L128k,H128_B1_L128k,H128_B128_L4k,H16_B128_L4k} \
  bash "$(dirname "$0")/measure-ab.sh" | grep -E "median|rc=[1-9]"
OUT=$R/san
. "$(dirname "$0")/measure-lib.sh"
SEL=--run_test=matches_reference/auto_even_shape_plans_as_the_host_rule_and_matches
for tool in memcheck initcheck racecheck; do san $tool test_gpu_decode "$SEL"; done
say "$(el) done rc=$rc"
exit $rc
