#!/usr/bin/env python3
"""Files the CSVs of a device run under data/results/, named and stamped as docs/benchmark.md asks.

    python3 .ci/take_results.py <folder> <commit> [--tag TAG] [--date YYYY-MM-DD] [--no-latest]

<folder> holds what `.ci/device.sh ... bench study-full` left in $OUT (bench.csv, study.csv; the
device tool's files_at folder). Each CSV found there is copied to
data/results/<what>-<gpu>-<date>-<commit>[-TAG].csv, <gpu> read from the file's `gpu` column,
with every row's `commit` column set to <commit>: the device machine's copy of the repository has
a stale HEAD, so the driver stamps the rows with that HEAD and "-dirty" unless SPLITMLA_COMMIT was
set. Then LATEST names the new files (unless --no-latest), and for a new bench file the README's
table is printed (.ci/perf_table.py, against the bench file LATEST named before). Existing files
are never overwritten.
"""
import argparse
import csv
import datetime
import io
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "data" / "results"


def read_latest():
    out = {}
    p = RESULTS / "LATEST"
    if p.exists():
        for line in p.read_text().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
    return out


def restamp(src, commit):
    """The CSV's text with every row's commit column set; its gpu name."""
    text = src.read_text()
    lines = text.splitlines(keepends=True)
    comments = [l for l in lines if l.startswith("#")]
    body = [l for l in lines if not l.startswith("#")]
    rows = list(csv.reader(body))
    if not rows:
        raise SystemExit(f"{src}: empty")
    header = rows[0]
    for col in ("commit", "gpu"):
        if col not in header:
            raise SystemExit(f"{src}: no '{col}' column in its header")
    ci, gi = header.index("commit"), header.index("gpu")
    gpus = {r[gi] for r in rows[1:] if len(r) > gi}
    if len(gpus) != 1:
        raise SystemExit(f"{src}: expected one gpu name, found {sorted(gpus)}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in rows[1:]:
        if len(r) > ci:
            r[ci] = commit
        w.writerow(r)
    return "".join(comments) + out.getvalue(), gpus.pop(), len(rows) - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("commit")
    ap.add_argument("--tag")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--no-latest", action="store_true")
    a = ap.parse_args()
    folder = pathlib.Path(a.folder)
    latest = read_latest()
    before_bench = latest.get("bench")
    taken = {}
    for what in ("bench", "study"):
        src = folder / f"{what}.csv"
        if not src.exists():
            continue
        text, gpu, n = restamp(src, a.commit)
        name = f"{what}-{gpu}-{a.date}-{a.commit}" + (f"-{a.tag}" if a.tag else "") + ".csv"
        dst = RESULTS / name
        if dst.exists():
            raise SystemExit(f"{dst} exists; pick another --tag")
        dst.write_text(text)
        taken[what] = name
        print(f"{src} -> data/results/{name} ({n} rows, commit column = {a.commit})")
    if not taken:
        raise SystemExit(f"{folder}: neither bench.csv nor study.csv")
    if not a.no_latest:
        latest.update(taken)
        (RESULTS / "LATEST").write_text("".join(f"{k}: {v}\n" for k, v in sorted(latest.items())))
        print("LATEST: " + ", ".join(f"{k} -> {v}" for k, v in sorted(taken.items())))
    if "bench" in taken:
        cmd = [sys.executable, str(ROOT / ".ci" / "perf_table.py"), str(RESULTS / taken["bench"])]
        if before_bench and (RESULTS / before_bench).exists():
            cmd += ["--before", str(RESULTS / before_bench)]
        print()
        sys.stdout.flush()
        subprocess.run(cmd, check=True)
    if "study" in taken:
        tool = ROOT / os.environ.get("BUILD_DIR", "build") / "experiments" / "tools" / "splitmla_split_refit"
        print()
        if tool.exists():
            sys.stdout.flush()
            subprocess.run([str(tool), "--measured-auto", str(RESULTS / taken["study"])], check=False)
        else:
            print(f"(no {tool}: build the host tools to score the split rule on the new study)")


if __name__ == "__main__":
    main()
