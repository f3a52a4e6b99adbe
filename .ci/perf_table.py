#!/usr/bin/env python3
"""The README's performance table from a results CSV of `splitmla_bench --part1 both`.

    python3 .ci/perf_table.py data/results/bench-h200-<date>-<commit>.csv [--before OLD.csv]

Prints, for every canonical case of the bf16 run, the markdown row of README.md's "Performance"
table (auto's kernel, time, time/floor, with planner, TFLOP/s, GB/s, the mma.sync baseline's
time/floor, the "before" time/floor from OLD.csv, the target, met, FlashMLA), then the fp16 rows'
difference to bf16 (the 3% target) and the fp8 rows' speed-up over their bf16 twins (1.6x at 16
heads). Every figure comes from the CSVs; the targets and FlashMLA's ratios are those of BENCH.md.

"both" writes the mma.sync baseline first, then auto's choice (one row when auto picks the
baseline), so auto's row is the last of each (case, dtype). Which wgmma kernel auto ran is
named with the variant rule of lib/kernels/part1/wgmma/part1_wgmma*.cuh: TMA pages (8 rows or
more) with 64 rows or more take the three-warpgroup kernels (v2, fp8 v1), other shapes v1.4
(16-bit) or fp8 v0.
"""
import argparse
import csv
import math
import sys

# case -> (target, FlashMLA's time/floor or what it lacks), BENCH.md.
TARGETS = {
    "H128_B128_L4k": (1.15, "1.24"),
    "H16_B128_L4k": (1.08, "1.14"),
    "H128_B1_L128k": (1.35, "2.41"),
    "H16_B4_L128k": (1.08, "1.31"),
    "H128_B32_L32k": (1.15, "1.23"),
    "H16_B64_var32k": (1.07, "1.12"),
    "H16_B128_L4k_p1": (1.15, "n/a"),
    "H64_B16_L16k_p16": (1.25, "n/a (1.45 at page 64)"),
    "H16_B128_L4k_q2": (1.10, "1.16"),
    "H128_B64_L8k_q2": (1.15, "1.17"),
    "H16_B128_L4k_fp8": (1.15, "no fp8 dense decode"),
    "H16_B4_L128k_ds": (1.15, "no (sparse kernel only)"),
    "H128_B128_L4k_fp8": (1.25, "no fp8 dense decode"),
}


def groups(path):
    """{(case, dtype): [rows in file order]} and the case order of the file."""
    out, order = {}, []
    with open(path, newline="") as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            key = (r["case"], r["dtype"])
            if key not in out:
                out[key] = []
                if r["case"] not in order:
                    order.append(r["case"])
            out[key].append(r)
    return out, order


def r2(x):
    """x to two decimals, halves rounded up (1.3150 -> 1.32, as the README rounds)."""
    return f"{math.floor(float(x) * 100 + 0.5) / 100:.2f}"


def kernel_name(r):
    if r["part1"] != "wgmma":
        return r["part1"]
    rows = int(r["heads"]) * int(r["q_len"])
    three = rows >= 64 and int(r["page"]) >= 8
    if r["kv_format"] == "fp8_e4m3":
        return "wgmma fp8 v1" if three else "wgmma fp8 v0"
    return "wgmma v2" if three else "wgmma v1.4"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--before", help="an earlier results CSV: its auto time/floor per case")
    a = ap.parse_args()
    g, order = groups(a.csv)
    before = groups(a.before)[0] if a.before else {}
    missing = [c for c in TARGETS if (c, "bf16") not in g]
    if missing:
        print(f"{a.csv}: no bf16 rows for {', '.join(missing)}", file=sys.stderr)
    met = 0
    print("| case | auto's kernel | time (us) | time/floor | with planner | TFLOP/s | GB/s | "
          "mma.sync baseline | before | target | met | FlashMLA |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in order:
        rows = g.get((case, "bf16"))
        if not rows:
            continue
        auto, base = rows[-1], rows[0]
        ratio = float(auto["ratio"])
        target, fm = TARGETS.get(case, (None, "?"))
        ok = target is not None and ratio <= target
        met += ok
        b = before.get((case, "bf16"))
        was = r2(b[-1]["ratio"]) if b else "n/a"
        print(f"| {case} | {kernel_name(auto)} | {float(auto['time_us']):.0f} | **{r2(ratio)}** | "
              f"{r2(auto['ratio_with_plan'])} | {float(auto['tflops']):.0f} | "
              f"{float(auto['gbps']):.0f} | {r2(base['ratio'])} | {was} | "
              f"{target if target is not None else '?'} | {'yes' if ok else 'no'} | {fm} |")
    print(f"\ntargets met: {met} of {sum(1 for c in order if c in TARGETS and (c, 'bf16') in g)}")
    print("\nfp16 against bf16 (target: within 3%), auto's rows:")
    for case in order:
        h, f16 = g.get((case, "bf16")), g.get((case, "fp16"))
        if h and f16:
            d = float(f16[-1]["time_us"]) / float(h[-1]["time_us"]) - 1
            print(f"  {case:<20} {float(h[-1]['time_us']):8.1f} / {float(f16[-1]['time_us']):8.1f} us  "
                  f"{100 * d:+.1f}%{'' if abs(d) <= 0.03 else '  (over 3%)'}")
    print("\nfp8 rows against their bf16 twins (bf16 q, auto):")
    for case, twin in (("H16_B128_L4k_fp8", "H16_B128_L4k"), ("H16_B4_L128k_ds", "H16_B4_L128k"),
                       ("H128_B128_L4k_fp8", "H128_B128_L4k")):
        f8, tw = g.get((case, "bf16")), g.get((twin, "bf16"))
        if f8 and tw:
            s = float(tw[-1]["time_us"]) / float(f8[-1]["time_us"])
            print(f"  {case:<20} {float(f8[-1]['time_us']):8.1f} us against {float(tw[-1]['time_us']):8.1f}: "
                  f"{s:.2f}x")


if __name__ == "__main__":
    main()
