#!/usr/bin/env bash
# The v2 kernel's per-CTA timeline (lib/kernels/part1/wgmma/part1_wgmma.cuh, SPLITMLA_TRACE_V2):
# a measurement build in build-trace (the library and splitmla_bench with -DSPLITMLA_TRACE_V2),
# then the bench on the wgmma rows, each case's last replay summarized on one "trace:" line
# (experiments/common_timing.cu, v2_trace_report): where a step's fixed ~14 us at 128 heads goes
# (the study of 71d05c4: time = 13.9 us + 1.45 us a tile at 2-64 CTAs), and of the mma.sync
# kernel's 16-row instance (7.6-9 us + 1.51 us a tile at 16 heads). The lines of the untimed
# first run (event time 0) come before each timed one. From the repository root
# on the GPU machine:  timeout 400 bash .ci/measure-v2-trace.sh
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
B=build-trace
t0=$(date +%s)
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS=-DSPLITMLA_TRACE_V2 > "$OUT/trace-configure.log" 2>&1 &&
  ninja -C $B -j"$(nproc)" splitmla_bench > "$OUT/trace-build.log" 2>&1 || { tail -30 "$OUT/trace-build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
run() {  # run CASES POLICY: auto's kernels (v2 at 64 rows and more, mma.sync at 16 rows)
  echo "=== $1 policy $2"
  timeout 120 $B/experiments/splitmla_bench --cases "$1" --dtype bf16 --part1 auto --policy "$2" --reps 50 --sets 1 \
    --out "$OUT/trace-${2/:/_}.csv" 2>&1 | grep -E "^trace|^    |rror"
}
run H128_B128_L4k,H128_B32_L32k,H128_B1_L128k,H64_B16_L16k_p16,H128_B64_L8k_q2,H16_B128_L4k,H16_B4_L128k auto
run H128_B1_L128k forced:8
run H16_B128_L4k forced:1
echo "done: $(( $(date +%s) - t0 )) s"
