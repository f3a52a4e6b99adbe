#!/usr/bin/env bash
# One device call: `.ci/device.sh tests replay bench` of the tree (into $OUT/dev), then what binds the
# 128-head rows at full load: the GPU's power limits, and ncu's L2 and DRAM throughput of v2 on
# H128_B128_L4k, H128_B32_L32k and H128_B1_L128k at the bench's clocks (--clock-control none),
# and H128_B1_L128k cut in 8 (16 CTAs), whose tiles run at ~1.45-1.5 us against ~1.65-1.8 at full
# load (study of 71d05c4): the SM clock, L2 and DRAM throughput of each say whether power or L2 binds. From the repository root
# on the GPU machine:  timeout 590 bash .ci/measure-l2-power.sh  (SKIP_DEV=1: the ncu part alone)
R=${OUT:-$PWD/out}
export BUILD_DIR=${BUILD_DIR:-build-v2}
[ -n "${SKIP_DEV:-}" ] || OUT=$R/dev bash "$(dirname "$0")/device.sh" tests replay ${DEV_STEPS:-bench} | grep -E "^build:|passed|failed|replay policy|=== |bad descriptor"
OUT=$R/l2
. "$(dirname "$0")/measure-lib.sh"
nvidia-smi -q -d POWER,CLOCK,PERFORMANCE > "$OUT/smi-power.log" 2>&1
grep -E "Power Limit|Max Clocks|SM  |Graphics|Default Power|Enforced" "$OUT/smi-power.log" | head -20 | tee -a "$S"
M="--metrics gpu__time_duration.sum,lts__t_sectors_srcunit_tex_op_read.sum.per_second,lts__t_bytes.sum.per_second,lts__throughput.avg.pct_of_peak_sustained_elapsed,dram__bytes_read.sum.per_second,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_elapsed,sm__cycles_elapsed.avg.per_second,lts__cycles_elapsed.avg.per_second,lts__t_sector_hit_rate.pct"
prof() {  # prof LABEL CASE POLICY
  time_left 60 "ncu $1" || return 0
  timeout 150 ncu --clock-control none -k regex:part1_wgmma3_kernel --launch-skip 3 --launch-count 1 $M --csv \
    "$B"/experiments/splitmla_bench --cases "$2" --dtype bf16 --part1 wgmma --policy "$3" --reps 50 --sets 1 \
    --out /tmp/l2.csv > "$OUT/ncu-$1.log" 2>&1
  say "$(el) ncu $1 ($2, $3) rc=$?"
  python3 - "$OUT/ncu-$1.log" << 'PY' | tee -a "$S"
import csv, sys
lines = [l for l in open(sys.argv[1]) if l.startswith('"')]
for r in csv.DictReader(lines):
    print('   %-70s %14s %s' % (r['Metric Name'], r['Metric Value'], r['Metric Unit']))
PY
}
prof full-b128 H128_B128_L4k auto
prof full-b32 H128_B32_L32k auto
# Few CTAs: H128_B1_L128k cut in 8 (16 CTAs, 256 tiles each); its tiles ran at 1.49 us in the study.
prof few-b1 H128_B1_L128k forced:8
prof full-b1 H128_B1_L128k auto
say "$(el) done rc=$rc"
exit $rc
