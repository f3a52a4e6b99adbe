#!/usr/bin/env bash
# Host-code sanitizer job: builds SplitMLA with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option SPLITMLA_SANITIZE, applied to C/C++ and to the host side of .cu files) in its own
# build folder, then runs the CTest suites there. Any ASan/LSan/UBSan report aborts the test
# process, so ctest counts it as a failure.
#
#   bash .ci/sanitize.sh        (SANITIZE_BUILD_DIR, SPLITMLA_SANITIZE, JOBS override the defaults)
#
# Exit status: configure/build failure, otherwise ctest's.
# Left out here: install_consumer_finds_and_links_the_package (a packaging test: its outside
# consumer is built without -fsanitize, so the sanitizer runtime could not come first in its
# library list; the regular job runs it). tests/fuzz/lsan.supp limits LeakSanitizer reports
# to leaks whose allocation stack passes through libhdf5 or the CUDA driver/runtime libraries.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

B="${SANITIZE_BUILD_DIR:-build-asan}"
SAN="${SPLITMLA_SANITIZE:-address,undefined}"
t0=$(date +%s)

mkdir -p "$B"
# The h5py test's packages: shared with the regular build folder's environment (installed once).
venv="$BUILD_DIR/python-venv"
[[ "$venv" == /* ]] || venv="$SPLITMLA_ROOT/$venv"
echo "[sanitize] configure $B with SPLITMLA_SANITIZE=$SAN"
# -O1 -g1 (line tables only): symbolized reports at a fraction of -O2 -g's compile time (the
# header-only Boost.Test suites took about 2.6x longer to compile with -O2 -g under ASan+UBSan).
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DCMAKE_CUDA_FLAGS_RELWITHDEBINFO="-O1 -Xcompiler=-g1 -DNDEBUG" \
  -DSPLITMLA_SANITIZE="$SAN" -DSPLITMLA_BUILD_TESTS=ON -DSPLITMLA_BUILD_EXPERIMENTS=OFF \
  -DSPLITMLA_PYTHON_VENV="$venv" \
  ${CMAKE_CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CMAKE_CUDA_ARCHITECTURES} \
  > "$B/sanitize-configure.log" 2>&1 || { tail -40 "$B/sanitize-configure.log"; echo "[sanitize] configure failed"; exit 1; }
# What is built: the host code (library, fixture tool) and the suites that exercise it. Without a
# GPU the device-only suites (CTest label `device`) would only report "skipped: no CUDA device",
# so they are neither built nor run; with one, everything is (experiments stay off).
if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  targets=(all)
  device_filter=()
  echo "[sanitize] CUDA device found: building and running every suite"
else
  targets=(splitmla_host_tests)
  device_filter=(-LE device)
  echo "[sanitize] no CUDA device: host suites only (device-only suites, label 'device', left out)"
fi
echo "[sanitize] build ${targets[*]} with $JOBS jobs (log: $B/sanitize-build.log)"
# Ninja's [n/N] lines go to the terminal as well: the phase is long on a small machine.
cmake --build "$B" -j "$JOBS" --target "${targets[@]}" 2>&1 | tee "$B/sanitize-build.log" |
  grep --line-buffered -E '^\[[0-9]+/[0-9]+\]'
if ((PIPESTATUS[0] != 0)); then
  grep -E "error|Error" -A3 "$B/sanitize-build.log" | head -60; echo "[sanitize] build failed"; exit 1
fi
t1=$(date +%s)
echo "[sanitize] configure + build: $((t1 - t0)) s"

# protect_shadow_gap=0: the CUDA driver maps memory where ASan would otherwise reserve its
# shadow gap (without it, CUDA initialisation fails on a GPU machine).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:protect_shadow_gap=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$SPLITMLA_ROOT/tests/fuzz/lsan.supp:print_suppressions=0"
echo "[sanitize] ctest --test-dir $B (ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS)"
# As in test.sh: the gpu-labelled suites one at a time after the rest (on a GPU they interfere).
skip='^install_consumer_finds_and_links_the_package$'
echo "[sanitize] run the host suites (ctest -LE gpu, $JOBS jobs)"
ctest --test-dir "$B" --output-on-failure -j "$JOBS" -LE gpu -E "$skip" 2>&1 | tee "$B/ctest-output.log"
rc=${PIPESTATUS[0]}
echo "[sanitize] run the gpu-labelled suites one at a time (ctest -L gpu ${device_filter[*]})"
ctest --test-dir "$B" --output-on-failure -j 1 -L gpu "${device_filter[@]}" -E "$skip" 2>&1 |
  tee -a "$B/ctest-output.log"
rc_gpu=${PIPESTATUS[0]}
((rc == 0)) && rc=$rc_gpu
echo "[sanitize] tests: $(ctest_counts "$B/ctest-output.log")"
echo "[sanitize] tests: $(( $(date +%s) - t1 )) s; total $(( $(date +%s) - t0 )) s"
if ((rc == 0)); then
  echo "[sanitize] result: all tests passed under $SAN (ctest exit 0)"
else
  echo "[sanitize] result: FAILED (ctest exit $rc)"
fi
exit "$rc"
