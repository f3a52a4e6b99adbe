#!/usr/bin/env python3
"""One profiled launch from ncu's CSV pages, as .ci/ncu-hotspots.sh and .ci/ncu-part2.sh print it.

    ncu_report.py DETAILS.csv SOURCE.csv [--lines N] [--metrics "A,B,..."] [--min-stall X] [--title]

DETAILS.csv: `ncu -i REP --page details --csv`; SOURCE.csv: `ncu -i REP --page source --csv
--print-source sass`. Prints the named metrics and every "Stall ..." metric (each once; stalls
below --min-stall left out), then the N SASS lines with the most warp-stall samples and their
share of all samples. --title first prints the profiled kernel's name.
"""
import argparse
import csv


def num(x):
    return float(x.replace(',', '') or 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('details')
    ap.add_argument('source')
    ap.add_argument('--lines', type=int, default=25)
    ap.add_argument('--metrics', default='Duration,Warp Cycles Per Issued Instruction')
    ap.add_argument('--min-stall', type=float, default=0.0)
    ap.add_argument('--title', default='')
    a = ap.parse_args()
    want = set(m.strip() for m in a.metrics.split(',') if m.strip())

    rows = list(csv.reader(open(a.details)))
    h = rows[0]
    k, n, v, u = h.index('Kernel Name'), h.index('Metric Name'), h.index('Metric Value'), h.index('Metric Unit')
    if a.title:
        print('=== %s: %s' % (a.title, rows[1][k][:90] if len(rows) > 1 else '?'))
    seen = set()
    for r in rows[1:]:
        name = r[n]
        stall = name.startswith('Stall')
        if name in seen or not (stall or name in want):
            continue
        seen.add(name)
        try:
            if stall and num(r[v]) < a.min_stall:
                continue
        except ValueError:
            pass
        print('  %-44s %s %s' % (name, r[v], r[u]))

    try:
        src = list(csv.reader(open(a.source)))
        hi = next(i for i, r in enumerate(src) if 'Source' in r)
    except (OSError, StopIteration) as e:
        print('  (no source page: %s)' % e)
        return
    hs, data = src[hi], src[hi + 1:]
    s_col = hs.index('Source')
    w_col = next(i for i, c in enumerate(hs) if c.startswith('Warp Stall Sampling (All'))
    tot = sum(num(r[w_col]) for r in data if len(r) > w_col) or 1
    print('  SASS lines by share of all stall samples (%d lines, %d samples)' % (len(data), tot))
    ranked = sorted(enumerate(data), key=lambda p: -num(p[1][w_col]) if len(p[1]) > w_col else 0)
    for i, r in ranked[:a.lines]:
        print('  %5.1f%%  #%-5d %s' % (100 * num(r[w_col]) / tot, i, r[s_col][:110]))


if __name__ == '__main__':
    main()
