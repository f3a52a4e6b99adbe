#!/usr/bin/env bash
# Runs on the GPU machine (the device tool): build, then the steps named on the command line.
# Logs and results go to $OUT (default ./out). Steps:
#   replay    every committed fixture through the GPU backend under several split policies
#   tests     ctest (GPU suites included)
#   sanitize  compute-sanitizer memcheck/racecheck/initcheck/synccheck on the GPU suites
#             (SAN_SUITES, SAN_TOOLS narrow it)
#   bench     the canonical benchmark, both part1 kernels and both dtypes (experiments/splitmla_bench)
#   python    the Python package's tests (GPU ones included) in the image's torch venv
#             (.ci/python.sh with SPLITMLA_VENV=/opt/torch/.venv; nothing is downloaded)
#   dtype     fp16 against bf16 on the wgmma rows (DTYPE_CASES), 3 rounds of bf16, fp16 and fp16
#             drawn with bf16's significand (SPLITMLA_BENCH_COARSE_FP16=1) alternated, each with
#             the SM clock, power and throttle reasons sampled every 100 ms (dtype.tgz)
#   study     the split-count study, short grid (experiments/splitmla_study --short)
#   study-full the whole grid (experiments/splitmla_study --full)
#   multigpu  two GPUs (device kind nvidia-h200-x2): the NCCL context-parallel test
#             (ctest -L multigpu, SPLITMLA_REQUIRE_MULTIGPU=1: fewer than 2 GPUs fails), then
#             the multi-GPU suite (experiments/splitmla_cp_bench -> cp-<gpu>x2-<date>.csv)
# The device tool returns at most 8 files: logs are bundled into $OUT/logs.tgz at exit, the
# CSVs stay beside it.
# Targets to build come from $TARGETS (default: everything).
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
bundle_logs() {
  (cd "$OUT" && ls *.log *.txt > /dev/null 2>&1 && tar czf logs.tgz *.log *.txt && rm -f *.log *.txt)
}
trap bundle_logs EXIT
BUILD=${BUILD_DIR:-build-dev}
# On this machine a GPU suite that finds no device fails instead of skipping.
export SPLITMLA_REQUIRE_GPU=1
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
t0=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPLITMLA_PTXAS_VERBOSE=ON ${CMAKE_ARGS:-} \
  > "$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
ninja -C "$BUILD" -j"$(nproc)" ${TARGETS:-} > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
grep -E "registers|spill" "$OUT/build.log" | sort | uniq -c | head -20

rc=0
# ptxas 13.0 once emitted LDGSTS with a memory descriptor in an odd, never-written uniform
# register (an illegal instruction on the GPU, lib/kernels/NOTES.md): check every build's SASS.
if [ -f "$BUILD/lib/libsplitmla.so" ]; then
  cuobjdump -sass "$BUILD/lib/libsplitmla.so" | python3 .ci/sass_desc_check.py || rc=1
fi
for step in "$@"; do
  echo "=== $step"
  case "$step" in
    replay)
      for pol in auto forced:1 forced:3 forced:16 chunk:64 chunk:1000; do
        "$BUILD/experiments/tools/splitmla_fixture" replay --backend gpu --policy "$pol" data/fixtures/*.h5 \
          > "$OUT/replay-${pol/:/_}.log" 2>&1
        r=$?; echo "replay policy $pol: rc=$r  $(grep -c -i 'pass' "$OUT/replay-${pol/:/_}.log") pass lines"
        [ $r -ne 0 ] && { rc=1; grep -i -E "fail|mismatch|worst|error" "$OUT/replay-${pol/:/_}.log" | head -20; }
      done ;;
    tests)
      # GPU suites one at a time: they check free device memory, which other suites move.
      # Both passes always run (a host failure must not hide the GPU suites' results).
      ctest --test-dir "$BUILD" --output-on-failure -j4 -LE gpu > "$OUT/ctest.log" 2>&1 || rc=1
      ctest --test-dir "$BUILD" --output-on-failure -L gpu >> "$OUT/ctest.log" 2>&1 || rc=1
      tail -25 "$OUT/ctest.log" ;;
    python)
      SPLITMLA_VENV=${SPLITMLA_VENV:-/opt/torch/.venv} SPLITMLA_PYTEST_ARGS="${SPLITMLA_PYTEST_ARGS:--s}" \
        bash .ci/python.sh > "$OUT/python.log" 2>&1 || rc=1
      grep -E "passed|failed|error|host|median|replays|parity" "$OUT/python.log" | tail -30 ;;
    sanitize)
      # SAN_SUITES: the suites to check (default: every one-GPU suite, tests/gpu/test_* and
      # tests/cp/test_gpu_*); SAN_TOOLS: the tools (default: all four). Each run prints its time.
      # One sanitizer process per GPU at a time: on the H200, initcheck beside another process on
      # the same GPU made the suites' comparisons fail (outputs left unwritten, 0 tool errors),
      # while the same runs alone passed (2026-11-30); to go faster, give each lane its own GPU.
      # test_gpu_decode runs pages 1 and 2 under a sanitizer; SPLITMLA_SANITIZE_PAGES=16,32 (any of
      # 1,2,16,32,64,128) picks others, e.g. the pages whose wgmma tiles use per-group full barriers.
      for t in ${SAN_SUITES:-"$BUILD"/tests/gpu/test_* "$BUILD"/tests/cp/test_gpu_*}; do
        [ -x "$t" ] || { echo "sanitize: $t is not an executable"; rc=1; continue; }
        for tool in ${SAN_TOOLS:-memcheck racecheck initcheck synccheck}; do
          ts=$(date +%s)
          SPLITMLA_SANITIZE=1 compute-sanitizer --tool "$tool" --error-exitcode 9 "$t" \
            > "$OUT/san-$(basename "$t")-$tool.log" 2>&1
          r=$?; echo "$tool $(basename "$t"): rc=$r $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/san-$(basename "$t")-$tool.log" | tail -1) ($(( $(date +%s) - ts )) s)"
          [ $r -ne 0 ] && rc=1
        done
      done ;;
    bench)
      # The SM clock and power every 500 ms beside the bench, and the bench's lines with the time
      # they were printed, so that a row slower than its twin (fp16 against bf16) can be checked
      # against the clock it ran at (bench-clocks.log, bench.log).
      nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader \
        -lms 500 > "$OUT/bench-clocks.log" 2>&1 &
      smi=$!
      "$BUILD/experiments/splitmla_bench" --part1 both --dtype both --out "$OUT/bench.csv" 2>&1 |
        while IFS= read -r line; do printf '%(%H:%M:%S)T %s\n' -1 "$line"; done | tee "$OUT/bench.log" | tail -30
      [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
      kill "$smi" 2> /dev/null
      cut -d, -f2 "$OUT/bench-clocks.log" | tr -dc '0-9\n' | grep . | sort -n |
        awk '{ c[NR] = $1 } END { if (NR) printf "SM clock during the bench: min %d, median %d, max %d MHz (%d samples)\n", c[1], c[int((NR + 1) / 2)], c[NR], NR }' ;;
    dtype)
      mkdir -p "$OUT/dtype"
      for i in 1 2 3; do
        for d in bf16 fp16 fp16c; do
          nvidia-smi --query-gpu=clocks.sm,power.draw,clocks_throttle_reasons.active --format=csv,noheader,nounits \
            -lms 100 > "$OUT/dtype/smi-$d-$i.txt" 2>&1 &
          smi=$!
          co=0; [ "$d" = fp16c ] && co=1
          SPLITMLA_BENCH_COARSE_FP16=$co "$BUILD/experiments/splitmla_bench" \
            --cases "${DTYPE_CASES:-H128_B32_L32k,H128_B64_L8k_q2,H128_B128_L4k}" --dtype "${d%c}" \
            --part1 auto --out "$OUT/dtype/dtype-$d-$i.csv" > "$OUT/dtype/dtype-$d-$i.log" 2>&1 || rc=1
          kill "$smi" 2> /dev/null; wait "$smi" 2> /dev/null
        done
      done
      python3 - "$OUT/dtype" << 'PY'
import csv, glob, os, statistics, sys
d = sys.argv[1]
t, clk, pw, thr = {}, {}, {}, {}
for f in sorted(glob.glob(os.path.join(d, "dtype-*.csv"))):
    side = os.path.basename(f)[:-4].split("-")[1]
    for r in csv.DictReader(open(f)):
        t.setdefault(r["case"], {}).setdefault(side, []).append(float(r["time_us"]))
for f in sorted(glob.glob(os.path.join(d, "smi-*.txt"))):
    side = os.path.basename(f)[:-4].split("-")[1]
    for line in open(f):
        v = [x.strip() for x in line.split(",")]
        try:
            clk.setdefault(side, []).append(float(v[0])); pw.setdefault(side, []).append(float(v[1]))
            thr.setdefault(side, set()).add(v[2])
        except (ValueError, IndexError):
            pass
for case, by in t.items():
    med = {s: statistics.median(x) for s, x in by.items()}
    print(f"{case:18s} " + "  ".join(f"{s} {med[s]:.1f}" for s in ("bf16", "fp16", "fp16c") if s in med) +
          f"  fp16/bf16 {med.get('fp16', 0) / med.get('bf16', 1):.4f}  fp16c/bf16 {med.get('fp16c', 0) / med.get('bf16', 1):.4f}")
for s in ("bf16", "fp16", "fp16c"):
    if s in clk:
        c = sorted(clk[s]); p = sorted(pw[s])
        print(f"{s:6s} SM clock min {c[0]:.0f} median {c[len(c) // 2]:.0f} MHz; power median {p[len(p) // 2]:.0f} max {p[-1]:.0f} W; "
              f"throttle reasons {sorted(thr[s])} ({len(c)} samples)")
PY
      (cd "$OUT" && tar czf dtype.tgz dtype && rm -rf dtype) ;;
    study)
      "$BUILD/experiments/splitmla_study" --short --out "$OUT/study.csv" 2>&1 | tee "$OUT/study.log" | tail -5 || rc=1 ;;
    study-full)
      "$BUILD/experiments/splitmla_study" --full --out "$OUT/study.csv" > "$OUT/study.log" 2>&1 || rc=1
      tail -3 "$OUT/study.log" ;;
    multigpu)
      SPLITMLA_REQUIRE_MULTIGPU=1 ctest --test-dir "$BUILD" --output-on-failure -L multigpu \
        > "$OUT/multigpu.log" 2>&1 || rc=1
      tail -15 "$OUT/multigpu.log"
      gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | awk '{print tolower($2)}')
      "$BUILD/experiments/splitmla_cp_bench" ${CP_BENCH_ARGS:-} --out "$OUT/cp-${gpu:-gpu}x2-$(date +%F).csv" \
        > "$OUT/cp-bench.log" 2>&1 || rc=1
      tail -45 "$OUT/cp-bench.log" ;;
    *) echo "unknown step $step"; rc=1 ;;
  esac
done
exit $rc
