#!/usr/bin/env bash
# One device call for this tree's part2 and v2 changes (lib/kernels/NOTES.md, "part2: the merge
# loop's loads in flight"): build (ptxas report), the GPU suites that run part1 wgmma instances
# and part2's merges, the bench of every canonical row (bf16, auto) with part2's grid at 16 and
# at 4 pairs a SM (SPLITMLA_PART2_PAIRS_PER_SM), twice, and compute-sanitizer (synccheck on the
# v2 and fp8 cases; memcheck and initcheck on the merges of test_gpu_decode's policies). From the
# repository root on the GPU machine (device tool, kind nvidia-h200):
#
#   timeout 590 bash .ci/measure-part2.sh
#
# The record of a run at 6b0928d: the merge loop and SPLITMLA_PART2_PAIRS_PER_SM it measured were
# not kept (NOTES, "part2's merge loop"), so on later trees its two bench sides are the same.
#
# Same build directory and options as .ci/device.sh (BUILD_DIR, default build-v2), so a following
# `BUILD_DIR=build-v2 bash .ci/device.sh ...` on the still-warm machine rebuilds nothing. Each step
# is skipped once the budget (BUDGET_S, default 560 s) is spent. Results in $OUT: summary.txt,
# results.tgz (the CSVs), logs.tgz. Exit status 0 when everything ran and passed.
. "$(dirname "$0")/measure-lib.sh"
say "start $(date +%T)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee -a "$S"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C "$B" -j"$(nproc)" ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
for k in part1_wgmma3_kernel part1_wgmma3_fp8_kernel part2_kernel; do
  say "$k: $(grep -A4 "Compiling entry function.*$k" "$OUT/build.log" | grep -E -o 'Used [0-9]+ registers|[0-9]+ bytes spill stores' | sort | uniq -c | tr -s ' \n' ' ')"
done
timeout 30 "$B"/experiments/splitmla_bench --cases H128_B1_L128k --dtype bf16 --part1 auto --reps 50 \
  --out "$OUT/r/smoke.csv" > "$OUT/smoke.log" 2>&1
r=$?; say "$(el) smoke bench rc=$r"; [ $r -eq 0 ] || { tail -20 "$OUT/smoke.log" | tee -a "$S"; exit 1; }
run_gpu_suites
bench() {  # name pairs-per-SM
  time_left 60 "bench $1" || return 0
  SPLITMLA_PART2_PAIRS_PER_SM=$2 timeout 120 "$B"/experiments/splitmla_bench --dtype bf16 --part1 auto \
    --out "$OUT/r/bench-$1.csv" > "$OUT/bench-$1.log" 2>&1
  r=$?; say "$(el) bench $1 rc=$r"; [ $r -eq 0 ] || rc=1
}
bench p16-1 16
bench p4-1 4
san synccheck test_gpu_decode "$DEC"
san synccheck test_gpu_fp8 "$FP8"
san initcheck test_gpu_decode "$DEC"
san memcheck test_gpu_decode "$DEC"
bench p4-2 4
bench p16-2 16
for f in "$OUT"/r/bench-*.csv; do
  [ -f "$f" ] || continue
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-10s %-18s time %8.1f part1 %8.1f part2 %6.2f ratio %.4f\n", n, $c["case"], $c["time_us"], $c["part1_us"], $c["part2_us"], $c["ratio"] }' "$f" | tee -a "$S"
done
say "$(el) done rc=$rc"
exit $rc
