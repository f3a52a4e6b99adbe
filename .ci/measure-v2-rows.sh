#!/usr/bin/env bash
# The wgmma v2 kernel below 64 rows (switch SPLITMLA_WGMMA_V2_SMALL_ROWS, lib/kernels/NOTES.md,
# "Fifteenth session"), in one device call: the A/B of the switch on the 32-row case in one build
# (.ci/measure-ab.sh, 3 alternated rounds, the 64-row cases as controls), then the GPU suites
# with the switch on (its default) and compute-sanitizer's racecheck, synccheck and memcheck on
# the multitoken suite (16 heads x 2 tokens: 32 rows). From the repository root on the GPU
# machine (device tool):
#   timeout 590 bash .ci/measure-v2-rows.sh
AB_VAR=SPLITMLA_WGMMA_V2_SMALL_ROWS AB_CASES=${AB_CASES:-H16_B128_L4k_q2,H64_B16_L16k_p16,H128_B1_L128k} \
  ROUNDS=${ROUNDS:-3} BUDGET_S=250 bash "$(dirname "$0")/measure-ab.sh" || exit 1
OUT=${OUT:-$PWD/out}/suites
. "$(dirname "$0")/measure-lib.sh"
ninja -C "$B" -j"$(nproc)" > "$OUT/build-tests.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || exit 1
run_gpu_suites
for tool in racecheck synccheck memcheck; do san $tool test_gpu_multitoken; done
say "$(el) done rc=$rc"
exit $rc
