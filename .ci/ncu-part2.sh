#!/usr/bin/env bash
# What binds part2 (lib/kernels/part2/part2.cu) where it merges: ncu of one part2 launch inside the
# decode step of each case (after part1, as the step runs it: caches and clocks left alone), its
# speed-of-light, memory, occupancy and warp-state figures and the SASS lines with the most stall
# samples: the narrow kernel (a warp a pair) and the wide one (H128_B1_L128k, H16_B4_L128k). The
# v2 timeline (.ci/measure-v2-trace.sh) put 10-15 us of H128_B32_L32k's and H128_B1_L128k's steps
# outside part1's CTAs; part2 alone took 15.5 and 7.9 us there before the warp-a-pair form (9.1 at
# H128_B32_L32k after it).
# From the repository root on the GPU machine:  timeout 300 bash .ci/ncu-part2.sh
set -u
B=${BUILD_DIR:-build-v2}; OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s)
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON > "$OUT/configure.log" 2>&1 &&
  ninja -C "$B" -j"$(nproc)" splitmla_bench > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
grep -A3 "Compiling entry function.*part2_" "$OUT/build.log" | grep -E "registers" | sort | uniq -c
for c in ${CASES:-H128_B32_L32k H128_B1_L128k H64_B16_L16k_p16 H16_B128_L4k}; do
  rep=/tmp/p2-$c
  timeout 120 ncu -f -k regex:part2_ --launch-skip 5 --launch-count 1 --cache-control none \
    --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats \
    --section Occupancy --section WarpStateStats --section SourceCounters -o "$rep" \
    "$B"/experiments/splitmla_bench --cases "$c" --dtype bf16 --part1 auto --reps 20 --sets 1 \
    --out /tmp/p2.csv > "$OUT/ncu-$c.log" 2>&1 || { echo "$c: ncu failed"; tail -5 "$OUT/ncu-$c.log"; continue; }
  ncu -i "$rep.ncu-rep" --page details --csv > "$rep-details.csv" 2> /dev/null
  ncu -i "$rep.ncu-rep" --page source --csv --print-source sass > "$rep-src.csv" 2> /dev/null
  python3 "$(dirname "$0")/ncu_report.py" "$rep-details.csv" "$rep-src.csv" --lines 12 --min-stall 0.05 \
    --title "$c" --metrics "Duration,SM Frequency,DRAM Throughput,L2 Cache Throughput,L1/TEX Cache Throughput,\
Memory Throughput,Compute (SM) Throughput,Grid Size,Block Size,Registers Per Thread,Waves Per SM,\
Achieved Occupancy,Theoretical Occupancy,Block Limit Registers,L2 Hit Rate,Mem Busy,Max Bandwidth,\
Warp Cycles Per Issued Instruction,Issue Slots Busy,Executed Ipc Active" | tee -a "$OUT/ncu-part2.txt"
done
echo "done: $(( $(date +%s) - t0 )) s"
