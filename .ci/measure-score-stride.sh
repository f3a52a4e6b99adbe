#!/usr/bin/env bash
# A/B of the mma.sync kernel's score-row stride (branch next-score-stride: BN + 8 floats instead of
# BN) on the rows that run it. The A side is the file before the change, carried as
# .ci/part1_main.cuh.ab, an untracked copy made first with
# `git show 428d06f:lib/kernels/part1/mma_sync/part1.cuh > .ci/part1_main.cuh.ab`; the script
# swaps it in and out of the same build directory, so each side is an incremental rebuild of the
# 12 mma.sync files. Order: A bench, B build + GPU tests + two benches,
# A again. From the repository root on the GPU machine (device tool, kind nvidia-h200):
#
#   timeout 590 bash .ci/measure-score-stride.sh
. "$(dirname "$0")/measure-lib.sh"
F=lib/kernels/part1/mma_sync/part1.cuh
measure_cleanup() { cp /tmp/part1_b.cuh "$F" 2> /dev/null; }
cp "$F" /tmp/part1_b.cuh
C=H16_B128_L4k,H16_B4_L128k,H16_B64_var32k,H16_B128_L4k_p1,H16_B128_L4k_fp8,H16_B4_L128k_ds
build() {
  ( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
    ninja -C "$B" -j"$(nproc)" splitmla_bench test_gpu_decode test_gpu_fp8 ) > "$OUT/build-$1.log" 2>&1
  r=$?; say "$(el) build $1 rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build-$1.log" | head -20 | tee -a "$S"; exit 1; }
}
bench() {
  timeout 100 "$B"/experiments/splitmla_bench --cases $C --dtype bf16 --part1 auto \
    --out "$OUT/r/stride-$1.csv" > "$OUT/bench-$1.log" 2>&1
  r=$?; say "$(el) bench $1 rc=$r"; [ $r -eq 0 ] || rc=1
}
cp .ci/part1_main.cuh.ab "$F"; build A; bench A-1
cp /tmp/part1_b.cuh "$F"; build B
M=matches_reference
timeout 120 "$B"/tests/gpu/test_gpu_decode --report_level=short \
  --run_test=$M/heads_16_all_pages_and_policies:$M/heads_64_all_pages_and_policies:$M/scores_that_climb_and_fall_across_tiles:determinism \
  > "$OUT/test_gpu_decode.log" 2>&1
r=$?; say "$(el) test_gpu_decode (16, 64 heads, climbing, determinism) rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/test_gpu_decode.log" | tr -s ' ')"; [ $r -eq 0 ] || rc=1
timeout 90 "$B"/tests/gpu/test_gpu_fp8 --report_level=short --run_test=fp8_decode/matches_the_reference_on_the_dequantized_cache:fp8_faults \
  > "$OUT/test_gpu_fp8.log" 2>&1
r=$?; say "$(el) test_gpu_fp8 (mma.sync cases, faults) rc=$r: $(grep -m1 -E 'test cases? out of|No errors' "$OUT/test_gpu_fp8.log" | tr -s ' ')"; [ $r -eq 0 ] || rc=1
bench B-1; bench B-2
cp .ci/part1_main.cuh.ab "$F"; build A2; bench A-2
cp /tmp/part1_b.cuh "$F"
(cd "$OUT/r" && ab_summary stride-*.csv) | tee -a "$S"
say "$(el) done rc=$rc"
exit $rc
