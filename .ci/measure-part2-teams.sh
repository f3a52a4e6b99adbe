#!/usr/bin/env bash
# part2's narrow blocks as teams of 4 pairs (lib/kernels/part2/part2.cu, switch
# SPLITMLA_PART2_TEAMS; lib/kernels/NOTES.md, "Fifteenth session") in one device call:
# `.ci/device.sh tests replay` of the tree (into $OUT/dev), the A/B of the switch in the same
# build (.ci/measure-ab.sh, 3 alternated rounds: rows where nothing merges and rows whose
# requests split, into $OUT/ab), then racecheck, synccheck and memcheck of the decode cases whose
# part2 walks narrow teams (into $OUT/san). From the repository root on the GPU machine:
#   timeout 560 bash .ci/measure-part2-teams.sh
R=${OUT:-$PWD/out}
export BUILD_DIR=${BUILD_DIR:-build-v2}
OUT=$R/dev bash "$(dirname "$0")/device.sh" tests replay | grep -E "^build:|passed|failed|replay policy|=== |bad descriptor" 
OUT=$R/ab AB_VAR=SPLITMLA_PART2_TEAMS ROUNDS=${ROUNDS:-3} BUDGET_S=200 \
  AB_CASES=${AB_CASES:-H16_B128_L4k,H16_B128_L4k_p1,H16_B128_L4k_q2,H128_B32_L32k,H64_B16_L16k_p16,H128_B1_L128k} \
  bash "$(dirname "$0")/measure-ab.sh" | grep -E "median|rc=[1-9]"
OUT=$R/san
. "$(dirname "$0")/measure-lib.sh"
SEL=--run_test=$M/part2_walks_more_pairs_than_its_grid:$M/heads_16_all_pages_and_policies:$M/heads_24_all_pages_and_policies
for tool in racecheck synccheck memcheck; do san $tool test_gpu_decode "$SEL"; done
say "$(el) done rc=$rc"
exit $rc
