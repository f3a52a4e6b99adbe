#!/usr/bin/env bash
# Tests and measures the v2 wgmma kernel of branch next-wgmma-v2 (three warpgroups, three
# stages, Q's latent part in registers; lib/kernels/NOTES.md "Next for 128 heads after v1.4") on
# one H200. The launch takes it for TMA tiles (pages of 8 rows or more); SPLITMLA_WGMMA_V2=0
# takes the v1.4 kernel in the same binary. From the repository root on the GPU machine (device
# tool, kind nvidia-h200, timeout_s 540):
#
#   bash .ci/measure-wgmma-v2.sh
#
# Steps: the schedule probe without loads (.ci/wgmma_v2_probe.cu, 31 k steps of Q in registers,
# WG0 at 184 registers); build (ptxas report); the GPU
# suites (SPLITMLA_REQUIRE_GPU=1); compute-sanitizer racecheck and memcheck on test_gpu_decode's
# 64..128-head cases at pages 16 and 64 and its climbing-scores case, then synccheck and
# initcheck on them, synccheck and racecheck on
# test_gpu_multitoken; splitmla_bench on the wgmma rows, v2 off and on, alternated twice.
# NCU=1 adds an ncu profile of the v2 kernel on H128_B128_L4k (about 60 s more).
# Merge when every suite passes clean and no row is slower. Results in $OUT: summary.txt,
# bench-*.csv, logs.tgz. Exit status 0 when all passed.
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH SPLITMLA_REQUIRE_GPU=1
t0=$(date +%s); B=build-v2; S="$OUT/summary.txt"; rc=0
el() { echo "[$(( $(date +%s) - t0 )) s]"; }
say() { echo "$*" | tee -a "$S"; }
trap '(cd "$OUT" && ls *.log > /dev/null 2>&1 && tar czf logs.tgz *.log && rm -f *.log)' EXIT
( cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C $B test_gpu_sm90 test_gpu_decode test_gpu_multitoken test_gpu_graph test_gpu_faults test_gpu_cp_loopback \
    splitmla_bench ) > "$OUT/build.log" 2>&1 & pb=$!
nvcc -std=c++17 -O3 -arch=sm_90a --expt-relaxed-constexpr -DSPLITMLA_HAVE_SM90A -Iinclude -Ilib \
  .ci/wgmma_v2_probe.cu -o /tmp/wgmma_v2_probe > "$OUT/probe-build.log" 2>&1 &&
  timeout 60 /tmp/wgmma_v2_probe 2>&1 | tee -a "$S"
wait $pb; r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
grep -A2 "part1_wgmma3_kernel" "$OUT/build.log" | grep -E "Used|spill" | sort | uniq -c | tee -a "$S"
for t in gpu/test_gpu_sm90 gpu/test_gpu_decode gpu/test_gpu_multitoken gpu/test_gpu_graph gpu/test_gpu_faults \
         cp/test_gpu_cp_loopback; do
  n=$(basename $t)
  timeout 150 $B/tests/$t --report_level=short > "$OUT/$n.log" 2>&1
  r=$?; say "$(el) $n rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$n.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$n.log" | head -10 | tee -a "$S"; }
done
M=matches_reference
SEL=--run_test=$M/heads_64_all_pages_and_policies:$M/heads_127_all_pages_and_policies:$M/heads_128_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles
# One process on the GPU per tool. synccheck: the per-piece barriers are reached from two code
# paths; bar.sync there was reported as divergent threads, the mbarrier should not be.
for tool in racecheck memcheck synccheck initcheck; do
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
C=H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H128_B64_L8k_q2,H16_B128_L4k_q2,H64_B16_L16k_p16
# v1.4 (v2_0) and v2 (v2_1), alternated twice.
for round in 1 2; do
  for v in 0 1; do
    SPLITMLA_WGMMA_V2=$v timeout 90 $B/experiments/splitmla_bench --cases $C --dtype bf16 --part1 auto \
      --out "$OUT/bench-v2_$v-$round.csv" > "$OUT/bench-v2_$v-$round.log" 2>&1
    r=$?; say "$(el) bench v2=$v round $round rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
for f in "$OUT"/bench-*.csv; do
  awk -F, -v n="$(basename "$f" .csv)" 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
    { printf "%-16s %-18s time %8.1f us  ratio %.3f  with plan %.3f\n", n, $c["case"], $c["time_us"], $c["ratio"], $c["ratio_with_plan"] }' "$f" | tee -a "$S"
done
# NCU=1: ncu of the v2 kernel on H128_B128_L4k (what its loads still cost: WG0 waiting on `full`
# or on the PV chain), the headline metrics and the SASS lines with the most stall samples.
if [ "${NCU:-0}" = 1 ]; then
  timeout 150 ncu -k regex:part1_wgmma3_kernel --launch-skip 3 --launch-count 1 --set full -o "$OUT/v2" \
    $B/experiments/splitmla_bench --cases H128_B128_L4k --dtype bf16 --part1 auto --reps 50 \
    --out /tmp/ncu-bench.csv > "$OUT/ncu.log" 2>&1
  say "$(el) ncu rc=$?"
  ncu -i "$OUT/v2.ncu-rep" --page details --csv > /tmp/v2-details.csv 2>/dev/null
  ncu -i "$OUT/v2.ncu-rep" --page source --csv --print-source sass > /tmp/v2-src.csv 2>/dev/null
  python3 - /tmp/v2-details.csv /tmp/v2-src.csv <<'PY' | tee -a "$S"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
h = rows[0]; n, v, u = h.index('Metric Name'), h.index('Metric Value'), h.index('Metric Unit')
want = ['Duration', 'Compute (SM) Throughput', 'DRAM Throughput', 'L2 Hit Rate', 'Issue Slots Busy',
        'No Eligible', 'Warp Cycles Per Issued Instruction', 'Registers Per Thread']
for r in rows[1:]:
    if r[n] in want: print('  %-36s %s %s' % (r[n], r[v], r[u]))
src = list(csv.reader(open(sys.argv[2])))
hi = next(i for i, r in enumerate(src) if 'Source' in r)
h, data = src[hi], src[hi + 1:]
s_col, w_col = h.index('Source'), next(i for i, c in enumerate(h) if c.startswith('Warp Stall Sampling (All'))
num = lambda x: float(x.replace(',', '') or 0)
tot = sum(num(r[w_col]) for r in data if len(r) > w_col) or 1
for r in sorted(data, key=lambda r: -num(r[w_col]) if len(r) > w_col else 0)[:15]:
    print('  %5.1f%%  %s' % (100 * num(r[w_col]) / tot, r[s_col][:100]))
PY
  rm -f "$OUT/v2.ncu-rep"
fi
say "$(el) done rc=$rc"
exit $rc
