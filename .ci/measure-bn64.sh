#!/usr/bin/env bash
# A/B of the mma.sync kernel's 64-key tiles at 16 rows (16-bit caches; B = the working tree)
# against the 32-key kernel (A = the tree in .ci/ab-a-src.tgz, an untracked `git archive` of the
# commit before, unpacked into build-asrc/ and built in build-a). Both builds run side by side;
# then a check of every kernel's SASS for bad memory descriptors (.ci/sass_desc_check.py), B's
# decode and multitoken suites, benches in the order A B A B, and racecheck/synccheck/memcheck of the
# 16-head decode cases on B. From the repository root on the GPU machine (device tool):
#
#   timeout 590 bash .ci/measure-bn64.sh
. "$(dirname "$0")/measure-lib.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$S"
rm -rf build-asrc && mkdir -p build-asrc && tar xzf .ci/ab-a-src.tgz -C build-asrc
cfg="-G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON"
( cmake -S build-asrc -B build-a $cfg -DSPLITMLA_BUILD_TESTS=OFF && ninja -C build-a -j6 splitmla_bench ) > "$OUT/build-A.log" 2>&1 &
pa=$!
( cmake -S . -B "$B" $cfg && ninja -C "$B" -j10 ) > "$OUT/build-B.log" 2>&1
rb=$?; wait $pa; ra=$?
say "$(el) build A rc=$ra B rc=$rb"
grep -E "part1_(bf16|fp16)_h16|registers" "$OUT/build-B.log" | grep -A1 "_h16" | head -8 | tee -a "$S"
[ $ra -eq 0 ] && [ $rb -eq 0 ] || { grep -h -E "error" -A3 "$OUT"/build-*.log | head -40 | tee -a "$S"; exit 1; }
for lib in "$B"/lib/libsplitmla.so build-a/lib/libsplitmla.so; do
  say "$(el) $lib: $(cuobjdump -sass "$lib" | python3 .ci/sass_desc_check.py | tail -1)"
done
for t in test_gpu_decode test_gpu_multitoken; do
  timeout 200 "$B"/tests/gpu/$t --report_level=short > "$OUT/$t.log" 2>&1
  r=$?; say "$(el) $t rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/$t.log" | tr -s ' ')"
  [ $r -eq 0 ] || { rc=1; grep -E "error" "$OUT/$t.log" | head -10 | tee -a "$S"; }
done
C=${AB_CASES:-H16_B128_L4k,H16_B4_L128k,H16_B64_var32k,H16_B128_L4k_p1,H16_B128_L4k_fp8}
bench() {  # bench SIDE ROUND
  local dir=build-a; [ "$1" = B ] && dir=$B
  timeout 120 "$dir"/experiments/splitmla_bench --cases "$C" --dtype bf16 --part1 auto \
    --out "$OUT/r/bn64-$1-$2.csv" > "$OUT/bench-$1-$2.log" 2>&1
  r=$?; say "$(el) bench $1 round $2 rc=$r"; [ $r -eq 0 ] || rc=1
}
bench A 1; bench B 1; bench A 2; bench B 2
(cd "$OUT/r" && ab_summary bn64-*.csv) | tee -a "$S"
SEL=--run_test=$M/heads_16_all_pages_and_policies:$M/heads_1_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles:$M/strided_layouts_match_and_pads_stay_untouched
for tool in racecheck synccheck memcheck; do san $tool test_gpu_decode "$SEL"; done
san memcheck test_gpu_multitoken
say "$(el) done rc=$rc"
exit $rc
