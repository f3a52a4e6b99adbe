#!/usr/bin/env bash
# The 16-warp mma.sync candidate at 16 rows (CMake option SPLITMLA_R16_W16, lib/kernels/NOTES.md,
# "Fourteenth session"), in one device call: a build with the option ON (configured otherwise as
# .ci/device.sh configures), the SASS descriptor check, the GPU suites that reach 16-row 16-bit
# instances with the candidate on, the A/B of SPLITMLA_R16_W16=1 against =0 (the 8-warp rows of
# the same build) alternated in 3 rounds, then racecheck, synccheck and memcheck of the 1- and
# 16-head decode cases and memcheck of the multitoken suite. From the repository root on the GPU
# machine (device tool):
#   timeout 590 bash .ci/measure-w16.sh
. "$(dirname "$0")/measure-lib.sh"
B=${BUILD_DIR:-build-w16}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$S"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON -DSPLITMLA_R16_W16=ON &&
  ninja -C "$B" -j"$(nproc)" ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
grep -E "registers|spill" "$OUT/build.log" | sort | uniq -c | sort -rn | head -12 >> "$S"
say "$(el) $(cuobjdump -sass "$B"/lib/libsplitmla.so | python3 .ci/sass_desc_check.py | tail -1)"
for t in test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults; do
  time_left 60 "$t" || continue
  timeout 200 "$B"/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
done
C=${AB_CASES:-H16_B128_L4k,H16_B4_L128k,H16_B64_var32k,H16_B128_L4k_p1}
for i in 1 2 3; do
  sides="1 0"; [ $((i % 2)) -eq 0 ] && sides="0 1"
  for v in $sides; do
    time_left 40 "bench W16=$v round $i" || continue
    SPLITMLA_R16_W16=$v timeout 120 "$B"/experiments/splitmla_bench --cases "$C" --dtype bf16 --part1 auto \
      --out "$OUT/r/w16-$v-$i.csv" > "$OUT/bench-$v-$i.log" 2>&1
    r=$?; say "$(el) bench SPLITMLA_R16_W16=$v round $i rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
# last/first below: 16 warps over 8
(cd "$OUT/r" && ab_summary w16-0-*.csv w16-1-*.csv) | tee -a "$S"
SEL=--run_test=$M/heads_16_all_pages_and_policies:$M/heads_1_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles:$M/strided_layouts_match_and_pads_stay_untouched
for tool in racecheck synccheck memcheck; do san $tool test_gpu_decode "$SEL"; done
san memcheck test_gpu_multitoken
say "$(el) done rc=$rc"
exit $rc
