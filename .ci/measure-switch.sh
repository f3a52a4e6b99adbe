#!/usr/bin/env bash
# One device call for a candidate behind an environment switch (default on): `.ci/device.sh tests
# replay` of the tree (into $OUT/dev), the A/B of the switch in the same build (.ci/measure-ab.sh,
# ROUNDS alternated rounds of AB_CASES, into $OUT/ab), then compute-sanitizer's SAN_TOOLS on
# test_gpu_decode's SAN_SEL cases (into $OUT/san). The .ci/measure-<candidate>.sh scripts set
# these and call this one. From the repository root on the GPU machine:
#   AB_VAR=SPLITMLA_X AB_CASES=H16_B128_L4k,... SAN_SEL=--run_test=... timeout 590 bash .ci/measure-switch.sh
: "${AB_VAR:?name the switch}" "${AB_CASES:?name the cases}" "${SAN_SEL:?name the sanitized cases}"
R=${OUT:-$PWD/out}
export BUILD_DIR=${BUILD_DIR:-build-v2}
OUT=$R/dev bash "$(dirname "$0")/device.sh" tests replay | grep -E "^build:|passed|failed|replay policy|=== |bad descriptor"
OUT=$R/ab ROUNDS=${ROUNDS:-3} BUDGET_S=${AB_BUDGET_S:-230} bash "$(dirname "$0")/measure-ab.sh" | grep -E "median|rc=[1-9]"
OUT=$R/san
. "$(dirname "$0")/measure-lib.sh"
for tool in ${SAN_TOOLS:-racecheck synccheck memcheck}; do san "$tool" test_gpu_decode "$SAN_SEL"; done
say "$(el) done rc=$rc"
exit $rc
