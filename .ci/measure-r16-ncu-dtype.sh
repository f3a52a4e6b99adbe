#!/usr/bin/env bash
# Two open questions of the 19acc74 run, in one device call (kind nvidia-h200):
#  1. where the 16-row mma.sync kernel with 64-key tiles waits (ncu stall lines on H16_B128_L4k
#     and H16_B128_L4k_p1: is the ring's smaller number of bytes in flight what binds now?);
#  2. fp16 against bf16 on the wgmma rows where the 19acc74 bench read fp16 3.9% and 7.0% slower
#     (H128_B32_L32k, H128_B64_L8k_q2; 1b203d7 read at most +2.6% on the same code): the two dtypes
#     alternated in 3 rounds in one build.
# From the repository root on the GPU machine:   timeout 590 bash .ci/measure-r16-ncu-dtype.sh
. "$(dirname "$0")/measure-lib.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$S"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C "$B" -j"$(nproc)" splitmla_bench ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
say "$(el) $(cuobjdump -sass "$B"/lib/libsplitmla.so | python3 .ci/sass_desc_check.py | tail -1)"
for c in H16_B128_L4k H16_B128_L4k_p1; do
  time_left 120 "ncu $c" || continue
  PART1=mma_sync timeout 200 bash .ci/ncu-hotspots.sh part1_kernel "$c" 30 > "$OUT/ncu-$c.log" 2>&1
  r=$?; say "$(el) ncu $c rc=$r"; head -45 "$OUT/ncu-$c.log" >> "$S"
done
C=H128_B32_L32k,H128_B64_L8k_q2,H128_B128_L4k
for i in 1 2 3; do
  for d in bf16 fp16; do
    time_left 60 "dtype $d round $i" || continue
    timeout 100 "$B"/experiments/splitmla_bench --cases "$C" --dtype "$d" --part1 auto \
      --out "$OUT/r/dtype-$d-$i.csv" > "$OUT/dtype-$d-$i.log" 2>&1
    r=$?; say "$(el) dtype $d round $i rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
(cd "$OUT/r" && ab_summary dtype-*.csv) | tee -a "$S"
say "$(el) done rc=$rc"
exit $rc
