#!/usr/bin/env bash
# A/B of one environment switch in one build, rounds alternating so that the GPU's clock drift
# falls on both sides. From the repository root on the GPU machine (device tool):
#
#   AB_VAR=SPLITMLA_WGMMA_V2_PIECE_OVERLAP AB_CASES=H128_B128_L4k,H128_B32_L32k ROUNDS=3 \
#     timeout 590 bash .ci/measure-ab.sh
#
# Each round benches the cases (bf16, auto) with AB_VAR=1, then with AB_VAR=0 (the order flips
# every other round). Same build directory and options as .ci/device.sh (BUILD_DIR, default
# build-v2). Results in $OUT: summary.txt (time and ratio per case, side and round, then the
# median over the rounds), results.tgz (the CSVs), logs.tgz.
. "$(dirname "$0")/measure-lib.sh"
: "${AB_VAR:?name the switch}" "${AB_CASES:?name the cases}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee -a "$S"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON &&
  ninja -C "$B" -j"$(nproc)" splitmla_bench ) > "$OUT/build.log" 2>&1
r=$?; say "$(el) build rc=$r"; [ $r -eq 0 ] || { grep -E "error" -A3 "$OUT/build.log" | head -40 | tee -a "$S"; exit 1; }
for i in $(seq 1 "${ROUNDS:-3}"); do
  sides="1 0"; [ $((i % 2)) -eq 0 ] && sides="0 1"
  for v in $sides; do
    env "$AB_VAR=$v" timeout 150 "$B"/experiments/splitmla_bench --cases "$AB_CASES" --dtype bf16 \
      --part1 auto --out "$OUT/r/ab-$v-$i.csv" > "$OUT/ab-$v-$i.log" 2>&1
    r=$?; say "$(el) $AB_VAR=$v round $i rc=$r"; [ $r -eq 0 ] || rc=1
  done
done
cd "$OUT/r" && python3 - "$AB_VAR" ab-*.csv << 'PY' | tee -a "$S"
import csv, statistics, sys
var, rows = sys.argv[1], {}
for name in sys.argv[2:]:
    _, side, rnd = name[:-4].split("-")
    for r in csv.DictReader(open(name)):
        rows.setdefault(r["case"], {}).setdefault(side, []).append(float(r["time_us"]))
        print(f"{r['case']:18s} {var}={side} round {rnd} time {float(r['time_us']):8.1f} ratio {r['ratio']}")
for case, by in rows.items():
    on, off = statistics.median(by.get("1", [0])), statistics.median(by.get("0", [0]))
    print(f"median {case:18s} {var}=1 {on:8.1f} us  {var}=0 {off:8.1f} us  0/1 {off / on if on else 0:.4f}")
PY
exit $rc
