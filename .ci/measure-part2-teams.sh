#!/usr/bin/env bash
# part2's narrow blocks as teams of 4 pairs (lib/kernels/part2/part2.cu, switch
# SPLITMLA_PART2_TEAMS; lib/kernels/NOTES.md, "Fifteenth session") through .ci/measure-switch.sh:
# `.ci/device.sh tests replay`, the A/B (3 alternated rounds: rows where nothing merges and rows
# whose requests split), then racecheck, synccheck and memcheck of the decode cases whose part2
# walks narrow teams. From the repository root on the GPU machine:
#   timeout 560 bash .ci/measure-part2-teams.sh
M=matches_reference
AB_VAR=SPLITMLA_PART2_TEAMS AB_BUDGET_S=200 \
  AB_CASES=${AB_CASES:-H16_B128_L4k,H16_B128_L4k_p1,H16_B128_L4k_q2,H128_B32_L32k,H64_B16_L16k_p16,H128_B1_L128k} \
  SAN_SEL=--run_test=$M/part2_walks_more_pairs_than_its_grid:$M/heads_16_all_pages_and_policies:$M/heads_24_all_pages_and_policies \
  exec bash "$(dirname "$0")/measure-switch.sh"
