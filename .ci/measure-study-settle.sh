#!/usr/bin/env bash
# Is the study's order effect at heavy points (lib/kernels/NOTES.md, "Sixteenth session") the
# power management's short memory? The short grid three times in one build: as is, with
# --settle-ms 500 (SETTLE_MS; the GPU idle that long before each policy is timed), as is again; then each
# run's times at H128 B64 L64k in timing order. From the repository root on the GPU machine:
#   timeout 330 bash .ci/measure-study-settle.sh
. "$(dirname "$0")/measure-lib.sh"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C "$B" -j"$(nproc)" splitmla_study ) \
  > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
say "$(el) built"
i=0
for settle in 0 "${SETTLE_MS:-500}" 0; do
  i=$((i + 1))
  time_left 90 "study round $i" || break
  timeout 150 "$B"/experiments/splitmla_study --short --settle-ms $settle \
    --out "$OUT/r/settle-$settle-$i.csv" > "$OUT/study-$i.log" 2>&1
  r=$?; say "$(el) study round $i (settle $settle ms) rc=$r"; [ $r -eq 0 ] || rc=1
done
cd "$OUT/r" && python3 - settle-*.csv << 'PY' | tee -a "$S"
import csv, sys
for name in sys.argv[1:]:
    pts = {}
    for r in csv.DictReader(open(name)):
        pts.setdefault((r['heads'], r['batch'], r['context']), []).append((r['policy'] + ':' + r['splits'], float(r['time_us'])))
    seq = pts.get(('128', '64', '65536'), [])
    print(name, 'H128 B64 L64k:', ' '.join(f"{p}={t:.0f}" for p, t in seq))
    for k, v in sorted(pts.items(), key=lambda kv: tuple(map(int, kv[0]))):
        a = [t for p, t in v if p.startswith('auto')][0]
        best = min(t for p, t in v if p.startswith('forced'))
        print(f"  H{k[0]} B{k[1]} L{k[2]} auto/best {a / best:.3f}")
PY
exit $rc
