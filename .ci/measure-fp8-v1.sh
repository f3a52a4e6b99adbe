#!/usr/bin/env bash
# Tests and measures the fp8_e4m3 wgmma kernel v1 (three warpgroups, the conversion beside the
# products; lib/kernels/part1/wgmma/part1_wgmma_fp8.cuh) on one H200. SPLITMLA_WGMMA_FP8_V1=0
# takes v0 (lock-step) in the same binary. From the repository root on the GPU machine (device
# tool, kind nvidia-h200):
#
#   bash .ci/measure-fp8-v1.sh
#
# Steps: build (ptxas report of the kernel); test_gpu_fp8 and test_gpu_faults
# (SPLITMLA_REQUIRE_GPU=1); compute-sanitizer synccheck, memcheck, initcheck and racecheck on
# test_gpu_fp8's wgmma case and its fault cases (SPLITMLA_SANITIZE=1: heads up to 64); then
# splitmla_bench on H128_B128_L4k_fp8 and its bf16 twin, v1 and v0 alternated twice. Results in
# $OUT: summary.txt, bench-*.csv, logs.tgz. Exit status 0 when all passed.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH SPLITMLA_REQUIRE_GPU=1
t0=$(date +%s); B=${BUILD_DIR:-build-v2}; S="$OUT/summary.txt"; rc=0
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
say() { echo "$*" | tee -a "$S"; }
trap '(cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)' EXIT
( cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C $B test_gpu_fp8 test_gpu_faults splitmla_bench ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
# A hang shows here in 30 s rather than in every suite's timeout.
timeout 30 $B/experiments/splitmla_bench --cases H128_B128_L4k_fp8 --dtype bf16 --part1 auto --reps 50 \
  --out "$OUT/smoke.csv" > "$OUT/smoke.log" 2>&1
r=$?; say "$(el) smoke bench rc=$r: $(grep -m1 -E 'wrote|error|mismatch' "$OUT/smoke.log")"
[ $r -eq 0 ] || { tail -20 "$OUT/smoke.log" | tee -a "$S"; exit 1; }
grep -A2 "part1_wgmma3_fp8_kernel" "$OUT/build.log" | grep -E "Used|spill" | sort | uniq -c | tee -a "$S"
for t in test_gpu_fp8 test_gpu_faults; do
  timeout 200 $B/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
done
SEL=--run_test=fp8_decode/the_wgmma_kernel_matches_the_reference:fp8_faults
for tool in synccheck memcheck initcheck racecheck; do
  SPLITMLA_SANITIZE=1 timeout 200 compute-sanitizer --tool $tool --error-exitcode 9 \
    $B/tests/gpu/test_gpu_fp8 $SEL > "$OUT/$tool-fp8.log" 2>&1
  r=$?; say "$(el) $tool fp8 rc=$r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-fp8.log" | tail -1)"
  [ $r -eq 0 ] || rc=1
done
for round in 1 2; do
  for v in 1 0; do
    SPLITMLA_WGMMA_FP8_V1=$v timeout 90 $B/experiments/splitmla_bench --cases H128_B128_L4k_fp8,H128_B128_L4k \
      --dtype both --part1 auto --out "$OUT/bench-v$v-$round.csv" > "$OUT/bench-v$v-$round.log" 2>&1
    r=$?; say "$(el) bench v1=$v round $round rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
for f in "$OUT"/bench-*.csv; do
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    $c["part1"] == "wgmma" { printf "%-12s %-18s %s time %8.1f us  ratio %.3f\n", n, $c["case"], $c["dtype"], $c["time_us"], $c["ratio"] }' "$f" | tee -a "$S"
done
say "$(el) done rc=$rc"
exit $rc
