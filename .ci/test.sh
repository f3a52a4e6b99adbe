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
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
rc=$?

# Which tests said they skipped their GPU part? (LastTest.log holds every test's output.)
log="$BUILD_DIR/Testing/Temporary/LastTest.log"
skipped=""
if [[ -f "$log" ]]; then
  skipped="$(awk '
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
[[ -n "$skipped" ]] && echo "skipped GPU parts in: $skipped"
if ((rc == 0)); then
  echo "result : all tests passed (ctest exit 0)"
else
  echo "result : FAILED (ctest exit $rc); failing tests are listed above"
fi
exit "$rc"
