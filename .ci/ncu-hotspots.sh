#!/usr/bin/env bash
# ncu stall sampling of one part1 kernel on one bench case, printed as the SASS lines with the most
# samples and the stall reasons that dominate. From the repository root on the GPU machine, after a
# build in BUILD_DIR (default build-v2):
#
#   bash .ci/ncu-hotspots.sh part1_wgmma3_fp8_kernel H128_B128_L4k_fp8 [N lines, default 25]
#   PART1=mma_sync bash .ci/ncu-hotspots.sh part1_kernel H16_B128_L4k   (the mma.sync kernel)
#
# ncu pins the SM clock to its base (about 1.3 GHz on the H200), so its durations are longer than the
# bench's; compare shares and ratios, not times. Writes $OUT/hot-KERNEL.txt.
set -u
k=$1; case_=$2; n=${3:-25}; B=${BUILD_DIR:-build-v2}; OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
rep=/tmp/hot-$k
timeout 200 ncu -f -k regex:"$k" --launch-skip 3 --launch-count 1 --section WarpStateStats \
  --section SourceCounters --section SpeedOfLight -o "$rep" "$B"/experiments/splitmla_bench \
  --cases "$case_" --dtype bf16 --part1 "${PART1:-wgmma}" --reps 50 --out /tmp/hot.csv > /tmp/hot.log 2>&1 \
  || { tail -5 /tmp/hot.log; exit 1; }
# No launch of the kernel in the run (e.g. part1_kernel, the mma.sync kernel, under --part1 wgmma):
# say so instead of failing on an empty report.
grep -q "Metric Name" <(ncu -i "$rep.ncu-rep" --page details --csv 2> /dev/null | head -1) ||
  { echo "ncu-hotspots: no launch of '$k' profiled (PART1=${PART1:-wgmma}; the mma.sync kernel needs PART1=mma_sync)"; exit 1; }
ncu -i "$rep.ncu-rep" --page details --csv > "$rep-details.csv"
ncu -i "$rep.ncu-rep" --page source --csv --print-source sass > "$rep-src.csv"
python3 "$(dirname "$0")/ncu_report.py" "$rep-details.csv" "$rep-src.csv" --lines "$n" | tee "$OUT/hot-$k.txt"
