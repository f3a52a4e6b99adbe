#!/usr/bin/env bash
# The short split-count study several times in one build, each run with its own splitmla_study
# flags (one argument a run, "" for none), then for each run the times at H128 B64 L64k in
# timing order and auto against the best forced count at every point (lib/kernels/NOTES.md,
# "Sixteenth session": the study's order effect). .ci/measure-study-order.sh and
# .ci/measure-study-settle.sh call it. From the repository root on the GPU machine:
#   timeout 400 bash .ci/measure-study-runs.sh "" --auto-first "" --auto-first
. "$(dirname "$0")/measure-lib.sh"
( cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C "$B" -j"$(nproc)" splitmla_study ) \
  > "$OUT/build.log" 2>&1 || { tail -20 "$OUT/build.log"; exit 1; }
say "$(el) built"
i=0
for flags in "$@"; do
  i=$((i + 1))
  time_left 90 "study run $i" || break
  # shellcheck disable=SC2086  # the run's flags split into words on purpose
  timeout 150 "$B"/experiments/splitmla_study --short $flags --out "$OUT/r/run-$i.csv" > "$OUT/study-$i.log" 2>&1
  r=$?; say "$(el) study run $i (flags: ${flags:-none}) rc=$r"; [ $r -eq 0 ] || rc=1
done
cd "$OUT/r" && python3 - run-*.csv << 'PY' | tee -a "$S"
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
        print(f"  H{k[0]} B{k[1]} L{k[2]} auto {a:.1f} best forced {best:.1f} auto/best {a / best:.3f}")
PY
exit $rc
