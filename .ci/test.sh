#!/usr/bin/env bash
# SplitMLA tests: set up and build (setup.sh), then run every CTest test.
#
#   bash .ci/test.sh            (BUILD_DIR, CMAKE_CUDA_ARCHITECTURES, JOBS as in setup.sh)
#
# Exit status: setup.sh's if it fails, otherwise ctest's (the first failing pass's). GPU tests report
# "skipped: no CUDA device" on machines without one; the summary lists them.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

t_start=$(date +%s)
phase_times=()
phase_done() {  # phase_done <name> <start seconds>: prints and records the phase's wall time
  local s=$(( $(date +%s) - $2 ))
  phase_times+=("$1: $((s / 60)) min $((s % 60)) s")
  echo "[test] phase '$1' took $((s / 60)) min $((s % 60)) s"
}

echo "[test] phase 'build': .ci/setup.sh (tools check, configure, build with $JOBS jobs)"
bash .ci/setup.sh || { rc=$?; echo "[test] setup failed (exit $rc)"; exit "$rc"; }
phase_done build "$t_start"
t_phase=$(date +%s)

# Two passes: everything not labelled gpu in parallel, then the gpu-labelled suites one at a
# time (they measure device memory and time; running them side by side makes them interfere).
ctest_log="$BUILD_DIR/ctest-output.log"
: > "$ctest_log"
run_ctest() {
  echo "[test] ctest --test-dir $BUILD_DIR --output-on-failure $*" | tee -a "$ctest_log"
  ctest --test-dir "$BUILD_DIR" --output-on-failure "$@" 2>&1 | tee -a "$ctest_log"
  return "${PIPESTATUS[0]}"
}
test_logs=()
run_ctest -j "$JOBS" -LE gpu
rc=$?
last="$BUILD_DIR/Testing/Temporary/LastTest.log"
if [[ -f "$last" ]]; then cp "$last" "$BUILD_DIR/Testing/Temporary/LastTest-cpu.log"; test_logs+=("$BUILD_DIR/Testing/Temporary/LastTest-cpu.log"); fi
run_ctest -L gpu
rc_gpu=$?
((rc == 0)) && rc=$rc_gpu
[[ -f "$last" ]] && test_logs+=("$last")

phase_done tests "$t_phase"

# Tests ctest skipped as a whole (exit 77), and tests that passed but said they skipped their
# device cases (the LastTest logs hold every test's output).
skipped="$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$ctest_log" | sort -u | tr '\n' ' ')"
partial=""
if ((${#test_logs[@]})); then
  partial="$(awk '
    /^[0-9]+\/[0-9]+ Testing: / { name = $3 }
    /skipped: no CUDA device/ && name != "" && !(name in seen) { seen[name] = 1; print name }
  ' "${test_logs[@]}" | sort -u | tr '\n' ' ')"
fi
failed="$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (\(Failed\|Timeout\|SEGFAULT\|Subprocess aborted\|Not Run\|Exception\).*$/\1/p' "$ctest_log" | awk '{print $1}' | sort -u | tr '\n' ' ')"

echo "================================ summary ================================"
if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "device : $(nvidia-smi -L | head -n1)"
else
  echo "device : no CUDA device (GPU tests skip their device parts)"
fi
echo "tests  : $(ctest_counts "$ctest_log")"
[[ -n "$skipped" ]] && echo "skipped: $skipped"
[[ -n "$partial" ]] && echo "said 'skipped: no CUDA device' for some cases: $partial"
if ((rc == 0)); then
  echo "result : all tests passed (ctest exit 0)"
else
  echo "failed : ${failed:-(see the ctest output above)}"
  echo "result : FAILED (ctest exit $rc)"
fi
# Host code under ASan + UBSan in its own build folder (.ci/sanitize.sh); its failure fails the job
# (ctest's status above is kept when it already failed). SPLITMLA_SKIP_SANITIZE=1 skips it.
if [[ "${SPLITMLA_SKIP_SANITIZE:-0}" != 1 ]]; then
  t_phase=$(date +%s)
  echo "[test] phase 'sanitizer': .ci/sanitize.sh (ASan + UBSan build of the host code in build-asan, then its tests)"
  bash .ci/sanitize.sh || { echo "result : sanitizer job FAILED"; ((rc != 0)) || rc=1; }
  phase_done sanitizer "$t_phase"
fi
# Python package (.ci/python.sh: venv, pinned torch, pip install ., pytest; prints its own
# timing); its failure fails the job. SPLITMLA_SKIP_PYTHON=1 skips it.
if [[ "${SPLITMLA_SKIP_PYTHON:-0}" != 1 ]]; then
  t_phase=$(date +%s)
  bash .ci/python.sh || { echo "result : python job FAILED"; ((rc != 0)) || rc=1; }
  phase_done python "$t_phase"
fi
phase_done total "$t_start"
echo "[test] wall time per phase: $(printf '%s; ' "${phase_times[@]}")"
exit "$rc"
