#!/usr/bin/env bash
# Measures branch next-lazy-fp8 (the wgmma fp8 kernel with the lazy running max of the 16-bit one,
# lib/kernels/NOTES.md "wgmma v1.4") on one H200. From the repository root on the GPU machine
# (device tool, kind nvidia-h200, timeout_s 420), optionally with BASE=<a copy of main> to build
# and bench main beside it in the same run:
#
#   BASE=.devtools/main bash .ci/measure-lazy-fp8.sh
#
# Steps: build; test_gpu_fp8 and test_gpu_faults (SPLITMLA_REQUIRE_GPU=1); compute-sanitizer
# racecheck on test_gpu_fp8 (one process on the GPU); splitmla_bench on the fp8 rows (both dtypes,
# auto) for this tree and BASE, alternated twice. Merge when the suites pass clean and
# H128_B128_L4k_fp8 is faster with no fp8 row slower by more than 1%.
# Results in $OUT: summary.txt, bench-*.csv, logs.tgz. Exit status 0 when all passed.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH SPLITMLA_REQUIRE_GPU=1
t0=$(date +%s); S="$OUT/summary.txt"; rc=0
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
say() { echo "$*" | tee -a "$S"; }
trap '(cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)' EXIT
build() {  # dir targets...
  local d=$1; shift
  (cd "$d" && cmake -S . -B build-lazy-fp8 -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
    ninja -C build-lazy-fp8 -j8 "$@") > "$OUT/build-$(basename "$d").log" 2>&1
}
build . test_gpu_fp8 test_gpu_faults splitmla_bench & p1=$!
[ -n "${BASE:-}" ] && { build "$BASE" splitmla_bench & p2=$!; }
wait $p1; r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || exit 1
[ -n "${BASE:-}" ] && { wait $p2; say "$(el) base build rc=$?"; }
for t in test_gpu_fp8 test_gpu_faults; do
  timeout 150 build-lazy-fp8/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10; }
done
SPLITMLA_SANITIZE=1 timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 \
  build-lazy-fp8/tests/gpu/test_gpu_fp8 > "$OUT/racecheck-fp8.log" 2>&1
r=$?; say "$(el) racecheck test_gpu_fp8 rc=$r: $(grep -E 'RACECHECK SUMMARY' "$OUT/racecheck-fp8.log" | tail -1)"
[ $r -eq 0 ] || rc=1
C=H128_B128_L4k_fp8,H16_B128_L4k_fp8,H16_B4_L128k_ds,H128_B128_L4k
for round in 1 2; do
  for d in . ${BASE:-}; do
    n=lazy; [ "$d" = . ] || n=base
    timeout 90 "$d/build-lazy-fp8/experiments/splitmla_bench" --cases $C --dtype both --part1 auto \
      --out "$OUT/bench-$n-$round.csv" > "$OUT/bench-$n-$round.log" 2>&1
    r=$?; say "$(el) bench $n round $round rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
for f in "$OUT"/bench-*.csv; do
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-14s %-18s %s %-8s time %8.1f us  ratio %.3f\n", n, $c["case"], $c["dtype"], $c["part1"], $c["time_us"], $c["ratio"] }' "$f" | tee -a "$S"
done
say "$(el) done rc=$rc"
exit $rc
