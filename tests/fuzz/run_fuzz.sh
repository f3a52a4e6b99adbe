#!/usr/bin/env bash
# Fuzzing the HDF5 fixture reader with libFuzzer (clang). Steps, from the repository root:
#   bash tests/fuzz/run_fuzz.sh build              fuzzer + seed writer into $FUZZ_BUILD
#   bash tests/fuzz/run_fuzz.sh fuzz [SECONDS]     fuzz (default 600 s) from the seeds
#   bash tests/fuzz/run_fuzz.sh minimize           merge the corpus into data/fuzz/corpus
#   bash tests/fuzz/run_fuzz.sh replay FILE...     run the fuzz target once on given inputs
#   bash tests/fuzz/run_fuzz.sh classify           replay each finding: in libhdf5 or in our code?
# Environment: FUZZ_BUILD (default build-fuzz), CXX (default clang++), FUZZ_JOBS (default 1).
# Needs clang with libFuzzer: on Debian `apt-get install -y clang libclang-rt-14-dev`.
# Only the sources read_fixture needs are built (no CUDA): fixture_io.cpp, isolated_read.cpp,
# status.cpp, types.cpp.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
B=${FUZZ_BUILD:-build-fuzz}
CXX=${CXX:-clang++}
MAX_LEN=4194304   # the committed fixtures are up to 3.5 MB

# allocator_may_return_null=1: libhdf5 asks for absurd sizes read from corrupt headers and
# handles malloc's NULL (as it gets under glibc); without it ASan aborts first.
# Memory: the reader's budget in the target is 256 MiB (SPLITMLA_FUZZ_BUDGET_MB), below
# -malloc_limit_mb=512, so any single allocation over 512 MB is an out-of-memory report;
# `classify` replays every finding and sorts it by its first frame: our code or libhdf5.
# Leaks: tests/fuzz/lsan.supp hides leaks allocated inside libhdf5 (its own error paths).
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

hdf5_flags() {
  pkg-config --cflags --libs hdf5 2>/dev/null ||
    echo "-I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5"
}

build() {
  mkdir -p "$B/seeds" "$B/corpus" "$B/artifacts"
  local srcs=(lib/fixture/fixture_io.cpp lib/fixture/isolated_read.cpp lib/core/status.cpp
              lib/core/types.cpp)
  local common=(-std=c++17 -g -O1 -fno-omit-frame-pointer -Iinclude -Ilib -Itests/fuzz)
  # -fno-sanitize-recover: any UBSan finding aborts, so libFuzzer records it as a crash.
  "$CXX" "${common[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    tests/fuzz/fuzz_read_fixture.cpp "${srcs[@]}" $(hdf5_flags) -o "$B/fuzz_read_fixture"
  "$CXX" "${common[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all \
    tests/fuzz/make_seeds.cpp "${srcs[@]}" $(hdf5_flags) -o "$B/make_seeds"
  "$B/make_seeds" "$B/seeds"
}

fuzz() {
  local secs=${1:-600}
  local rc=0
  [[ -x "$B/fuzz_read_fixture" ]] || build
  local seeds=("$B/seeds")
  [[ -d data/fuzz/corpus ]] && seeds+=(data/fuzz/corpus)
  [[ -d data/fuzz/regressions ]] && seeds+=(data/fuzz/regressions)
  seeds+=(data/fixtures)
  # Fork mode: a finding is saved under $B/artifacts and the run goes on, so one run collects
  # every finding (out-of-memory reports included: `classify` tells ours from libhdf5's).
  "$B/fuzz_read_fixture" "$B/corpus" "${seeds[@]}" \
    -fork="${FUZZ_JOBS:-1}" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_len=$MAX_LEN -timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048 -detect_leaks=1 \
    -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/" > "$B/fuzz.log" 2>&1 || rc=$?
  grep -E "^#[0-9]+: cov" "$B/fuzz.log" | tail -1
  tail -3 "$B/fuzz.log"
  echo "artifacts: $(ls "$B/artifacts" | wc -l) in $B/artifacts"
  classify
  return $rc
}

# Each saved finding ($B/artifacts: crash-*, oom-*, timeout-*, leak-*) replayed alone, sorted
# by the first stack frame that is not the allocator, a sanitizer interceptor or the standard
# library: in libhdf5, or in our code (a finding to fix). A failed read_check is always ours.
# (Fork mode keeps only the first line of each report in fuzz.log, hence the replays.)
classify() {
  local hdf5=0 ours=0 other=0 f out frame try
  for f in "$B"/artifacts/*; do
    [[ -f "$f" ]] || continue
    # Up to 3 replays (a larger RSS limit: the watchdog could interrupt the report with its own).
    for try in 1 2 3; do
      out=$("$B/fuzz_read_fixture" -runs=1 -malloc_limit_mb=512 -rss_limit_mb=8192 -timeout=10 "$f" 2>&1 || true)
      grep -q "read_fixture check failed" <<<"$out" && break
      # Frames of the first report only (up to the next ERROR or SUMMARY line).
      frame=$(awk '/ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error/ {if (seen) exit; seen = 1; next}
                   /SUMMARY/ {exit}
                   seen && /^ *#[0-9]+ / && $0 !~ /interceptor|__asan|__lsan|__sanitizer|malloc|calloc|realloc|memcpy|memmove|strdup|strlen|operator new|std::|__gnu_cxx|libFuzzer|fuzzer::|libc\.so/ {print; exit}' <<<"$out")
      [[ -n "$frame" ]] && break
    done
    if grep -q "read_fixture check failed" <<<"$out"; then
      ours=$((ours + 1)); echo "ours (check): $f"
    elif [[ -z "$frame" ]]; then
      if grep -q "SEGV\|ERROR" <<<"$out"; then other=$((other + 1)); echo "unclassified: $f"
      else echo "no longer reproduces: $f"; fi
    elif grep -q "libhdf5" <<<"$frame"; then
      hdf5=$((hdf5 + 1))
    else
      ours=$((ours + 1)); echo "ours: $f: $frame"
    fi
  done
  echo "findings: in libhdf5 $hdf5, in our code $ours, unclassified $other"
}

case "${1:-}" in
  build) build ;;
  fuzz) shift; fuzz "$@" ;;
  minimize) minimize ;;
  replay) shift; "$B/fuzz_read_fixture" -runs=1 -malloc_limit_mb=512 "$@" ;;
  classify) classify ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
