#!/usr/bin/env bash
# SplitMLA tests: set up and build (setup.sh), then run every CTest test.
#
#   bash .ci/test.sh            (BUILD_DIR, CMAKE_CUDA_ARCHITECTURES, JOBS as in setup.sh)
#
# Exit status: setup.sh's if it fails, otherwise ctest's. GPU tests report
# "skipped: no CUDA device" on machines without one; the summary lists them.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

bash .ci/setup.sh || { rc=$?; echo "[test] setup failed (exit $rc)"; exit "$rc"; }

echo "[test] ctest --test-dir $BUILD_DIR --output-on-failure -j $JOBS"
ctest_log="$BUILD_DIR/ctest-output.log"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" 2>&1 | tee "$ctest_log"
rc=${PIPESTATUS[0]}

# Tests ctest skipped as a whole (exit 77), and tests that passed but said they skipped their
# device cases (LastTest.log holds every test's output).
skipped="$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$ctest_log" | sort | tr '\n' ' ')"
partial=""
log="$BUILD_DIR/Testing/Temporary/LastTest.log"
if [[ -f "$log" ]]; then
  partial="$(awk '
    /^[0-9]+\/[0-9]+ Testing: / { name = $3 }
    /skipped: no CUDA device/ && name != "" && !(name in seen) { seen[name] = 1; print name }
  ' "$log" | sort | tr '\n' ' ')"
fi

echo "================================ summary ================================"
if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "device : $(nvidia-smi -L | head -n1)"
else
  echo "device : no CUDA device (GPU tests skip their device parts)"
fi
[[ -n "$skipped" ]] && echo "skipped: $skipped"
[[ -n "$partial" ]] && echo "said 'skipped: no CUDA device' for some cases: $partial"
if ((rc == 0)); then
  echo "result : all tests passed (ctest exit 0)"
else
  echo "result : FAILED (ctest exit $rc); failing tests are listed above"
fi
exit "$rc"
