#!/usr/bin/env bash
# Tests and measures the SPLITMLA_WGMMA_GROUP_FULL_PAGES option (lib/kernels/NOTES.md, "wgmma
# v1.3b: group full barriers where a tile is several page runs") on one H200. From the repository
# root, on the GPU machine (device tool, kind nvidia-h200, timeout_s 420):
#
#   bash .ci/measure-gf-pages.sh
#
# Steps (elapsed seconds are printed after each):
#   1. two builds at once, half the cores each: OFF in build-off (splitmla_bench only), ON (the
#      default) in build-on (the library, the GPU suites below, splitmla_bench; ptxas reports)
#   2. the ON build's bench first (it validates every request before and after timing), then the
#      OFF build's: --cases H64_B16_L16k_p16,H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,
#      H128_B64_L8k_q2 --part1 wgmma --dtype bf16 (page 16 takes the group-barrier kernel, the
#      page-64 rows must not move)
#   3. the ON build's GPU suites with SPLITMLA_REQUIRE_GPU=1: test_gpu_faults, test_gpu_graph,
#      test_gpu_multitoken, test_gpu_decode (pages 16 and 32 of heads 63, 64, 127 and 128 run the
#      group-barrier kernel on TMA tiles)
# Results in $OUT: summary.txt, bench-on.csv, bench-off.csv, logs.tgz. Exit status 0 when
# everything built, validated and passed. Merge when H64_B16_L16k_p16 gains >= 5% and no page-64
# row moves by more than 1%.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
export SPLITMLA_REQUIRE_GPU=1
CASES=H64_B16_L16k_p16,H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H128_B64_L8k_q2
J=$(nproc)
H=$(( J / 2 > 1 ? J / 2 : 1 ))
t0=$(date +%s)
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
S="$OUT/summary.txt"
rc=0
bundle() { (cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log); }
trap bundle EXIT
say() { echo "$*" | tee -a "$S"; }

say "tree $(cat COMMIT 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee -a "$S"

( cmake -S . -B build-off -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_WGMMA_GROUP_FULL_PAGES=OFF \
    -DSPLITMLA_BUILD_TESTS=OFF && ninja -C build-off -j"$H" splitmla_bench ) > "$OUT/build-off.log" 2>&1 &
p_off=$!
( cmake -S . -B build-on -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_WGMMA_GROUP_FULL_PAGES=ON \
    -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C build-on -j"$H" splitmla_decode test_gpu_decode test_gpu_multitoken test_gpu_faults \
    test_gpu_graph splitmla_bench ) > "$OUT/build-on.log" 2>&1 &
p_on=$!
wait $p_off; b_off=$?
wait $p_on; b_on=$?
say "$(el) build-off rc=$b_off, build-on rc=$b_on"
grep -A4 "Compiling entry function '.*part1_wgmma_kernel" "$OUT/build-on.log" |
  grep -E "Compiling|registers|spill" | sed -E 's/.*function .(_ZN[^ ]*). for.*/\1/' | tee -a "$S"
grep -E "C75[0-9][0-9]" "$OUT/build-on.log" | grep part1_wgmma_kernel | sed -E 's/ in function.*//' | sort | uniq -c | tee -a "$S"
if [ $b_off -ne 0 ] || [ $b_on -ne 0 ]; then
  grep -E "error" -A3 "$OUT/build-on.log" "$OUT/build-off.log" | head -40
  exit 1
fi

bench() {  # bench <name> <build>
  timeout 150 "$2/experiments/splitmla_bench" --cases "$CASES" --part1 wgmma --dtype bf16 \
    --out "$OUT/bench-$1.csv" > "$OUT/bench-$1.log" 2>&1
  local r=$?
  say "$(el) bench $1 rc=$r"
  [ $r -eq 0 ] || { rc=1; tail -20 "$OUT/bench-$1.log"; }
}
bench on build-on
bench off build-off

suite() {  # suite <name> <timeout s>
  timeout "$2" "build-on/tests/gpu/$1" --report_level=short > "$OUT/$1.log" 2>&1
  local r=$?
  say "$(el) $1 rc=$r: $(grep -m1 -E 'test cases? out of|No errors|skipped' "$OUT/$1.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error|fail" "$OUT/$1.log" | head -20; }
}
suite test_gpu_faults 60
suite test_gpu_graph 60
suite test_gpu_multitoken 90
suite test_gpu_decode 150

for f in "$OUT"/bench-*.csv; do
  [ -f "$f" ] || continue
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-10s %-18s time %8.1f us  part1 %8.1f us  ratio %.3f\n", n, $c["case"],
      $c["time_us"], $c["part1_us"], $c["ratio"] }' "$f" | tee -a "$S"
done
say "$(el) done rc=$rc"
exit $rc
