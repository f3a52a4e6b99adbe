# Sourced by the .ci/measure-*.sh device scripts: their common set-up and helpers.
# Sets OUT (default ./out, with $OUT/r for the CSVs), PATH (the CUDA tools), SPLITMLA_REQUIRE_GPU=1,
# t0, B (BUILD_DIR, default build-v2), S (summary.txt), rc=0 and budget (BUDGET_S, default 560),
# and traps EXIT to bundle $OUT/r/*.csv into results.tgz and $OUT/*.log into logs.tgz (the
# device tool returns at most 8 files). A script that needs more at exit defines
# measure_cleanup(); it runs first.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT/r"
export PATH=/usr/local/cuda/bin:$PATH SPLITMLA_REQUIRE_GPU=1
t0=$(date +%s); B=${BUILD_DIR:-build-v2}; S="$OUT/summary.txt"; rc=0; budget=${BUDGET_S:-560}
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
say() { echo "$*" | tee -a "$S"; }
# time_left N WHAT: true when N more seconds fit in the budget; otherwise notes the skip.
time_left() {
  [ $(( $(date +%s) - t0 + $1 )) -le "$budget" ] && return 0
  say "$(el) skipped (budget): $2"; rc=1; return 1
}
measure_finish() {
  declare -F measure_cleanup > /dev/null && measure_cleanup
  (cd "$OUT/r" && ls *.csv > /dev/null 2>&1 && tar czf ../results.tgz *.csv)
  (cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)
  rm -rf "$OUT/r"
}
trap measure_finish EXIT
# The GPU suites that run the part1 instances, one at a time, each within the budget.
run_gpu_suites() {
  local t r
  for t in test_gpu_sm90 test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults test_gpu_fp8; do
    time_left 60 "$t" || continue
    timeout 200 "$B"/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
    r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
    [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
  done
}
# san TOOL SUITE [SELECTION]: compute-sanitizer on one suite at pages 16 and 64.
san() {
  local r
  time_left 90 "$1 $2" || return 0
  SPLITMLA_SANITIZE=1 SPLITMLA_SANITIZE_PAGES=16,64 timeout 200 compute-sanitizer --tool "$1" --error-exitcode 9 \
    "$B"/tests/gpu/"$2" ${3:-} > "$OUT/$1-$2.log" 2>&1
  r=$?; say "$(el) $1 $2 rc=$r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$1-$2.log" | tail -1)"
  [ $r -eq 0 ] || { rc=1; grep -m3 -E '^=+ +(Barrier|Race|Invalid|Uninit|Missing|Divergent)' -A4 "$OUT/$1-$2.log" | tee -a "$S"; }
}
# The decode and fp8 selections the sanitizer runs use (v2's and fp8 v1's cases).
M=matches_reference
DEC=--run_test=$M/heads_64_all_pages_and_policies:$M/heads_127_all_pages_and_policies:$M/heads_128_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles
FP8=--run_test=fp8_decode/the_wgmma_kernel_matches_the_reference:fp8_faults
# ab_summary FILE...: the CSVs' time_us by case and side (the second '-'-separated field of each
# file name: stride-A-1.csv is side A), each side's times and median, and the median of the side
# named last over the side named first.
ab_summary() {
  python3 - "$@" << 'PY'
import csv, os, statistics, sys
rows, order = {}, []
for name in sys.argv[1:]:
    side = os.path.basename(name)[:-4].split("-")[1]
    if side not in order:
        order.append(side)
    for r in csv.DictReader(open(name)):
        rows.setdefault(r["case"], {}).setdefault(side, []).append(float(r["time_us"]))
first, last = order[0], order[-1]
for case, by in rows.items():
    med = {s: statistics.median(v) for s, v in by.items()}
    parts = "  ".join(f"{s} {by[s]} median {med[s]:.1f}" for s in order if s in by)
    ratio = med[last] / med[first] if first in med and last in med and med[first] else 0.0
    print(f"{case:18s} {parts}  {last}/{first} {ratio:.4f}")
PY
}
