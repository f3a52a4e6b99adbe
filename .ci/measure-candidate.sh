#!/usr/bin/env bash
# One device call that tests and measures the three wgmma changes of this candidate in one build
# (lib/kernels/NOTES.md, "Built on branches, not yet run on a GPU"): v2's deferred PV
# (SPLITMLA_WGMMA_V2_DEFER_PV=0 takes the previous order), v2's piece overlap
# (SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0 turns it off) and the three-warpgroup fp8 kernel v1
# (SPLITMLA_WGMMA_FP8_V1=0 takes v0). From the repository root on the GPU machine (device tool,
# kind nvidia-h200):
#
#   timeout 590 bash .ci/measure-candidate.sh
#
# It configures the build exactly as .ci/device.sh does (same BUILD_DIR, default build-v2), so a
# following `BUILD_DIR=build-v2 bash .ci/device.sh tests replay bench study-full python` on the
# still-warm machine rebuilds nothing. Steps, the most telling first, each skipped once the
# budget (BUDGET_S, default 560 s) is spent: build (everything; ptxas report of the wgmma
# kernels); a 30-second smoke bench of a bf16 and an fp8 128-head row (a hang ends the call
# there); the GPU suites that run wgmma instances (SPLITMLA_REQUIRE_GPU=1); a round of A/B
# benches: bf16 wgmma rows with neither v2 change (off), the deferred PV alone (defer), both
# (both), H128_B128_L4k_fp8 with v1 and v0; compute-sanitizer's synccheck (what the deferred PV
# failed at a54b892) on test_gpu_decode's 64/127/128-head and climbing-scores cases at pages 16
# and 64 and on test_gpu_fp8's wgmma and fault cases; the second A/B round; then racecheck,
# memcheck and initcheck on both, synccheck and racecheck on test_gpu_multitoken.
# Results in $OUT (8 files at most come back): summary.txt, results.tgz (the CSVs), logs.tgz.
# Exit status 0 when everything ran and passed.
. "$(dirname "$0")/measure-lib.sh"
measure_cleanup() { [ -n "${smi:-}" ] && kill "$smi" 2> /dev/null; }
say "start $(date +%T) (the [s] stamps below count from here; clocks.log has wall times)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee -a "$S"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C "$B" -j"$(nproc)" ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
for k in part1_wgmma3_kernel part1_wgmma3_fp8_kernel; do
  say "$k: $(grep -A4 "Compiling entry function.*$k" "$OUT/build.log" | grep -E -o 'Used [0-9]+ registers|[0-9]+ bytes spill stores' | sort | uniq -c | tr -s ' \n' ' ')"
done
# The SM clock and power every 500 ms for the rest of the call (clocks.log, in logs.tgz).
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 500 \
  > "$OUT/clocks.log" 2>&1 &
smi=$!
timeout 30 "$B"/experiments/splitmla_bench --cases H128_B128_L4k,H128_B128_L4k_fp8 --dtype bf16 --part1 auto \
  --reps 50 --out "$OUT/r/smoke.csv" > "$OUT/smoke.log" 2>&1
r=$?; say "$(el) smoke bench rc=$r: $(grep -m1 -E 'wrote|error|mismatch' "$OUT/smoke.log")"
[ $r -eq 0 ] || { tail -20 "$OUT/smoke.log" | tee -a "$S"; exit 1; }
run_gpu_suites
C=H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H128_B64_L8k_q2,H64_B16_L16k_p16
bench() {  # name cases dtype, the environment set by the caller
  time_left 45 "bench $1" || return 0
  timeout 90 "$B"/experiments/splitmla_bench --cases "$2" --dtype "$3" --part1 auto \
    --out "$OUT/r/bench-$1.csv" > "$OUT/bench-$1.log" 2>&1
  r=$?; say "$(el) bench $1 rc=$r"; [ $r -eq 0 ] || rc=1
}
ab_round() {
  SPLITMLA_WGMMA_V2_DEFER_PV=0 SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0 bench off-$1 $C bf16
  SPLITMLA_WGMMA_V2_DEFER_PV=1 SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0 bench defer-$1 $C bf16
  bench both-$1 $C bf16
  SPLITMLA_WGMMA_FP8_V1=1 bench fp8v1-$1 H128_B128_L4k_fp8 both
  SPLITMLA_WGMMA_FP8_V1=0 bench fp8v0-$1 H128_B128_L4k_fp8 both
}
ab_round 1
san synccheck test_gpu_decode "$DEC"
san synccheck test_gpu_fp8 "$FP8"
ab_round 2
for f in "$OUT"/r/bench-*.csv; do
  [ -f "$f" ] || continue
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-14s %-18s %s time %8.1f us  ratio %.3f  with plan %.3f\n", n, $c["case"], $c["dtype"], $c["time_us"], $c["ratio"], $c["ratio_with_plan"] }' "$f" | tee -a "$S"
done
san racecheck test_gpu_fp8 "$FP8"
san racecheck test_gpu_decode "$DEC"
san memcheck test_gpu_fp8 "$FP8"
san memcheck test_gpu_decode "$DEC"
san synccheck test_gpu_multitoken
san initcheck test_gpu_fp8 "$FP8"
san initcheck test_gpu_decode "$DEC"
san racecheck test_gpu_multitoken
say "$(el) done rc=$rc"
exit $rc
