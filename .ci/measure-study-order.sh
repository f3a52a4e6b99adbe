#!/usr/bin/env bash
# Does the order in which splitmla_study times a point's policies move its auto-against-forced
# comparison? The short grid four times, alternating the default order (forced counts, then auto)
# with --auto-first, in one build (lib/kernels/NOTES.md, "Sixteenth session"). From the repository
# root on the GPU machine:   timeout 400 bash .ci/measure-study-order.sh
. "$(dirname "$0")/measure-lib.sh"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C "$B" -j"$(nproc)" splitmla_study ) \
  > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
say "$(el) built"
for i in 1 2 3 4; do
  flag=""; name=last; [ $((i % 2)) -eq 0 ] && { flag=--auto-first; name=first; }
  time_left 70 "study round $i" || break
  timeout 120 "$B"/experiments/splitmla_study --short $flag --out "$OUT/r/order-$name-$i.csv" > "$OUT/study-$i.log" 2>&1
  r=$?; say "$(el) study round $i ($name) rc=$r"; [ $r -eq 0 ] || rc=1
done
cd "$OUT/r" && python3 - order-*.csv << 'PY' | tee -a "$S"
import csv, sys
for name in sys.argv[1:]:
    pts = {}
    for r in csv.DictReader(open(name)):
        pts.setdefault((r['heads'], r['batch'], r['context']), {})[(r['policy'], r['splits'])] = float(r['time_us'])
    for k, d in sorted(pts.items(), key=lambda kv: tuple(map(int, kv[0]))):
        a = [t for (p, s), t in d.items() if p == 'auto'][0]
        best = min(t for (p, s), t in d.items() if p == 'forced')
        print(f"{name} H{k[0]} B{k[1]} L{k[2]} auto {a:.1f} best forced {best:.1f} auto/best {a / best:.3f}")
PY
exit $rc
