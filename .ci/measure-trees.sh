#!/usr/bin/env bash
# A/B of two source trees of the library: A = the tree in .ci/ab-a-src.tgz (an untracked
# `git archive` of the base commit, unpacked into build-asrc/ and built in build-a), B = the
# working tree (built in BUILD_DIR). Both build side by side; then the SASS descriptor check of
# both libraries (.ci/sass_desc_check.py), B's GPU suites (AB_SUITES), benches in the order
# A B A B (AB_CASES, bf16, auto; CSVs named AB_LABEL-SIDE-ROUND.csv), and compute-sanitizer on B
# (racecheck, synccheck, memcheck of the 1- and 16-head decode cases, memcheck of multitoken).
# AB_SAN_WGMMA=1 points the sanitizers at the wgmma kernels' cases (and adds memcheck of fp8's).
# AB_C_ENV="VAR=value" adds side C: B's binary under that environment (benches A B C A B C, and
# AB_C_SUITES run again under it).
# From the repository root on the GPU machine (device tool), after
#   git archive BASE CMakeLists.txt lib include tests experiments python pyproject.toml | gzip > .ci/ab-a-src.tgz
# run:   AB_LABEL=name timeout 590 bash .ci/measure-trees.sh
. "$(dirname "$0")/measure-lib.sh"
L=${AB_LABEL:-ab}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$S"
rm -rf build-asrc && mkdir -p build-asrc && tar xzf .ci/ab-a-src.tgz -C build-asrc
cfg="-G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON"
( cmake -S build-asrc -B build-a $cfg -DSPLITMLA_BUILD_TESTS=OFF && ninja -C build-a -j6 splitmla_bench ) > "$OUT/build-A.log" 2>&1 &
pa=$!
( cmake -S . -B "$B" $cfg && ninja -C "$B" -j10 ) > "$OUT/build-B.log" 2>&1
rb=$?; wait $pa; ra=$?
say "$(el) build A rc=$ra B rc=$rb"
grep -E "registers|spill" "$OUT/build-B.log" | sort | uniq -c | sort -rn | head -12 >> "$S"
[ $ra -eq 0 ] && [ $rb -eq 0 ] || { grep -h -E "error" -A3 "$OUT"/build-*.log | head -40 | tee -a "$S"; exit 1; }
for lib in "$B"/lib/libsplitmla.so build-a/lib/libsplitmla.so; do
  say "$(el) $lib: $(cuobjdump -sass "$lib" | python3 .ci/sass_desc_check.py | tail -1)"
done
for t in ${AB_SUITES:-test_gpu_decode test_gpu_multitoken test_gpu_fp8 test_gpu_faults}; do
  time_left 60 "$t" || continue
  exe="$B"/tests/gpu/$t; [ -x "$exe" ] || exe="$B"/tests/cp/$t  # test_gpu_cp_loopback lives in tests/cp
  timeout 200 "$exe" --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
done
# B's suites again under AB_C_ENV (AB_C_SUITES), when side C is a switch of B.
for t in ${AB_C_SUITES:-}; do
  time_left 60 "$t ($AB_C_ENV)" || continue
  env $AB_C_ENV timeout 200 "$B"/tests/gpu/$t --report_level=short > "$OUT/$t-C.log" 2>&1
  r=$?; say "$(el) $t ($AB_C_ENV) rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t-C.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t-C.log" | head -10 | tee -a "$S"; }
done
C=${AB_CASES:-H16_B128_L4k,H16_B4_L128k,H16_B64_var32k,H16_B128_L4k_p1,H16_B128_L4k_q2,H16_B128_L4k_fp8}
bench() {  # bench SIDE ROUND
  local dir=build-a; [ "$1" = B ] && dir=$B
  time_left 40 "bench $1 round $2" || return 0
  timeout 120 "$dir"/experiments/splitmla_bench --cases "$C" --dtype bf16 --part1 auto \
    --out "$OUT/r/$L-$1-$2.csv" > "$OUT/bench-$1-$2.log" 2>&1
  r=$?; say "$(el) bench $1 round $2 rc=$r"; [ $r -eq 0 ] || rc=1
}
benchc() {  # benchc ROUND: side C, B's binary under AB_C_ENV (e.g. an A/B switch)
  time_left 40 "bench C round $1" || return 0
  env $AB_C_ENV timeout 120 "$B"/experiments/splitmla_bench --cases "$C" --dtype bf16 --part1 auto \
    --out "$OUT/r/$L-C-$1.csv" > "$OUT/bench-C-$1.log" 2>&1
  r=$?; say "$(el) bench C ($AB_C_ENV) round $1 rc=$r"; [ $r -eq 0 ] || rc=1
}
if [ -n "${AB_C_ENV:-}" ]; then
  bench A 1; bench B 1; benchc 1; bench A 2; bench B 2; benchc 2
else
  bench A 1; bench B 1; bench A 2; bench B 2
fi
(cd "$OUT/r" && ab_summary $L-*.csv) | tee -a "$S"
SEL=--run_test=$M/heads_16_all_pages_and_policies:$M/heads_1_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles:$M/strided_layouts_match_and_pads_stay_untouched
# AB_SAN_WGMMA=1: the sanitizers on the wgmma kernels' decode cases (64, 127, 128 heads) instead.
[ -n "${AB_SAN_WGMMA:-}" ] && SEL=$DEC
for tool in ${AB_SAN:-racecheck synccheck memcheck}; do san $tool test_gpu_decode "$SEL"; done
san memcheck test_gpu_multitoken
[ -n "${AB_SAN_WGMMA:-}" ] && san memcheck test_gpu_fp8 "$FP8"
say "$(el) done rc=$rc"
exit $rc
