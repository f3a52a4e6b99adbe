#!/usr/bin/env bash
# Tests and measures two schedule changes of the v2 wgmma kernel on one H200 (lib/kernels/NOTES.md,
# "After the v2 merge"): the deferred PV (a tile's PV starts after the next tile's S is done,
# beside its softmax; SPLITMLA_WGMMA_V2_DEFER_PV=0 takes the previous order) and the piece overlap
# (the next piece's first tiles load while a piece ends; SPLITMLA_WGMMA_V2_PIECE_OVERLAP=0 turns it
# off), in one binary. From the repository root on the GPU machine (device tool, kind
# nvidia-h200):
#
#   bash .ci/measure-v2-schedule.sh
#
# Steps: build; the wgmma GPU suites (SPLITMLA_REQUIRE_GPU=1); compute-sanitizer synccheck,
# memcheck, initcheck and racecheck on test_gpu_decode's 64/127/128-head and climbing-scores
# cases at pages 16 and 64, synccheck and racecheck on test_gpu_multitoken; splitmla_bench on the
# wgmma rows in three columns alternated twice (bf16): neither change (off), the deferred PV
# alone (defer), both (both); then both dtypes with both. Results in $OUT: summary.txt,
# bench-*.csv, logs.tgz. Exit status 0 when all passed.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH SPLITMLA_REQUIRE_GPU=1
t0=$(date +%s); B=${BUILD_DIR:-build-v2}; S="$OUT/summary.txt"; rc=0
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
say() { echo "$*" | tee -a "$S"; }
trap '(cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)' EXIT
( cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release &&
  ninja -C $B test_gpu_sm90 test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults splitmla_bench ) \
  > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
# A hang shows here in 30 s rather than in every suite's timeout.
timeout 30 $B/experiments/splitmla_bench --cases H128_B128_L4k,H128_B32_L32k --dtype bf16 --part1 auto --reps 50 \
  --out "$OUT/smoke.csv" > "$OUT/smoke.log" 2>&1
r=$?; say "$(el) smoke bench rc=$r: $(grep -m1 -E 'wrote|error|mismatch' "$OUT/smoke.log")"
[ $r -eq 0 ] || { tail -20 "$OUT/smoke.log" | tee -a "$S"; exit 1; }
for t in test_gpu_sm90 test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults; do
  timeout 150 $B/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
done
M=matches_reference
SEL=--run_test=$M/heads_64_all_pages_and_policies:$M/heads_127_all_pages_and_policies:$M/heads_128_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles
for tool in synccheck memcheck initcheck racecheck; do
  SPLITMLA_SANITIZE=1 SPLITMLA_SANITIZE_PAGES=16,64 timeout 200 compute-sanitizer --tool $tool \
    --error-exitcode 9 $B/tests/gpu/test_gpu_decode $SEL > "$OUT/$tool-decode.log" 2>&1
  r=$?; say "$(el) $tool decode rc=$r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool-decode.log" | tail -1)"
  [ $r -eq 0 ] || rc=1
done
SPLITMLA_SANITIZE=1 timeout 100 compute-sanitizer --tool synccheck --error-exitcode 9 \
  $B/tests/gpu/test_gpu_multitoken > "$OUT/synccheck-multitoken.log" 2>&1
r=$?; say "$(el) synccheck multitoken rc=$r: $(grep -E 'ERROR SUMMARY' "$OUT/synccheck-multitoken.log" | tail -1)"
[ $r -eq 0 ] || rc=1
SPLITMLA_SANITIZE=1 timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 \
  $B/tests/gpu/test_gpu_multitoken > "$OUT/racecheck-multitoken.log" 2>&1
r=$?; say "$(el) racecheck multitoken rc=$r: $(grep -E 'RACECHECK SUMMARY' "$OUT/racecheck-multitoken.log" | tail -1)"
[ $r -eq 0 ] || rc=1
C=H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H128_B64_L8k_q2,H64_B16_L16k_p16
bench() {  # name defer overlap dtype
  SPLITMLA_WGMMA_V2_DEFER_PV=$2 SPLITMLA_WGMMA_V2_PIECE_OVERLAP=$3 timeout 90 $B/experiments/splitmla_bench \
    --cases $C --dtype $4 --part1 auto --out "$OUT/bench-$1.csv" > "$OUT/bench-$1.log" 2>&1
  r=$?; say "$(el) bench $1 rc=$r"; [ $r -eq 0 ] || rc=1
}
for round in 1 2; do bench off-$round 0 0 bf16; bench defer-$round 1 0 bf16; bench both-$round 1 1 bf16; done
bench dtypes-both 1 1 both
for f in "$OUT"/bench-*.csv; do
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-8s %-18s %s time %8.1f us  ratio %.3f  with plan %.3f\n", n, $c["case"], $c["dtype"], $c["time_us"], $c["ratio"], $c["ratio_with_plan"] }' "$f" | tee -a "$S"
done
say "$(el) done rc=$rc"
exit $rc
