#!/usr/bin/env bash
# Auto against the forced count that gives the same pieces (lib/kernels/NOTES.md, "Sixteenth
# session"): at 71d05c4 auto's even shape plans H128_B32_L32k as forced:2 does (64 pieces) and
# H64_B16_L16k_p16 as forced:8 (128 pieces); the bench alternates the two, 3 rounds, one build, so
# any difference is the auto machinery (persistent grid of all SMs, cta_begin ranges, part2's
# launch), not the plan. From the repository root on the GPU machine:
#   timeout 400 bash .ci/measure-policy-ab.sh
. .ci/measure-lib.sh
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C "$B" -j"$(nproc)" splitmla_bench ) > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
say "$(el) built"
for i in 1 2 3; do
  for side in auto f; do
    [ $((i % 2)) -eq 0 ] && side=$([ $side = auto ] && echo f || echo auto)
    if [ $side = auto ]; then
      timeout 100 "$B"/experiments/splitmla_bench --cases H128_B32_L32k,H64_B16_L16k_p16 --policy auto --out "$OUT/r/pol-auto-$i.csv" > "$OUT/a$i.log" 2>&1
    else
      timeout 60 "$B"/experiments/splitmla_bench --cases H128_B32_L32k --policy forced:2 --out "$OUT/r/pol-f2-$i.csv" > "$OUT/f$i.log" 2>&1
      timeout 60 "$B"/experiments/splitmla_bench --cases H64_B16_L16k_p16 --policy forced:8 --out "$OUT/r/pol-f8-$i.csv" > "$OUT/g$i.log" 2>&1
    fi
    say "$(el) round $i $side rc=$?"
  done
done
cd "$OUT/r" && python3 - pol-*.csv << 'PY' | tee -a "$S"
import csv, sys
for name in sys.argv[1:]:
    for r in csv.DictReader(open(name)):
        print(name, r['case'], r['policy'], r['splits'], r['pieces'], r['grid_ctas'], r['time_us'], r['part1_us'], r['part2_us'], r['floor_us'], r['ratio'])
PY
