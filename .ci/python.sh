#!/usr/bin/env bash
# SplitMLA Python package job: a venv under the build folder, the pinned torch and test tools
# (python/requirements-ci.txt), the package built by `pip install --no-build-isolation .`
# (scikit-build-core, the same CMake project with SPLITMLA_BUILD_PYTHON=ON), then pytest on
# python/tests. GPU tests skip with "skipped: no CUDA device" where there is none.
#
#   bash .ci/python.sh          (called at the end of .ci/test.sh; SPLITMLA_SKIP_PYTHON=1 skips it there)
#
# Environment: BUILD_DIR, JOBS as in setup.sh; SPLITMLA_PYTHON (interpreter for the venv,
# default python3); SPLITMLA_PYTEST_ARGS (extra pytest arguments, e.g. "-k gpu -s");
# SPLITMLA_VENV: use this existing venv as it is, installing nothing into it but the package
# (machines without PyPI, e.g. the GPU machine: SPLITMLA_VENV=/opt/torch/.venv; it must already
# hold a CUDA torch, scikit-build-core and pytest).
# The venv ($BUILD_DIR/torch-venv: its own, ~5 GB, apart from the small $BUILD_DIR/python-venv
# that the h5py test and the notebook export share) and the CMake build folder
# ($BUILD_DIR/python-build) are reused when present: a second run downloads nothing and
# recompiles only what changed.
#
# Exit status: 0 when every step passed; pip's or pytest's status otherwise. pytest's exit 5
# (no test collected) is a failure here: the suite always holds CPU tests, so collecting none
# means it was lost or mis-pathed, not that there was nothing to check.
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

say() { printf '[python] %s\n' "$*"; }
t_start=$(date +%s)
phase_times=()
phase_done() {  # phase_done <name> <start seconds>
  local s=$(( $(date +%s) - $2 ))
  phase_times+=("$1: $((s / 60)) min $((s % 60)) s")
  say "phase '$1' took $((s / 60)) min $((s % 60)) s"
}
finish() {  # finish <exit status>
  phase_done total "$t_start"
  say "wall time per phase: $(printf '%s; ' "${phase_times[@]}")"
  exit "$1"
}

mkdir -p "$BUILD_DIR"
venv="${SPLITMLA_VENV:-$(cd "$BUILD_DIR" && pwd)/torch-venv}"
py="${SPLITMLA_PYTHON:-python3}"

t=$(date +%s)
if [[ -n "${SPLITMLA_VENV:-}" ]]; then
  [[ -x "$venv/bin/python" ]] || { say "ERROR: SPLITMLA_VENV=$venv has no bin/python"; finish 1; }
  say "using the existing venv $venv (nothing downloaded)"
elif [[ ! -x "$venv/bin/python" ]]; then
  say "creating the venv $venv with $($py --version 2>&1)"
  if ! "$py" -m venv "$venv"; then
    say "ERROR: '$py -m venv' failed (on Debian: apt-get install python3-venv)"
    finish 1
  fi
fi
phase_done venv "$t"

t=$(date +%s)
if [[ -z "${SPLITMLA_VENV:-}" ]]; then
  say "pip install -r python/requirements-ci.txt (torch is ~3 GB with its nvidia-* wheels the first time)"
  "$venv/bin/python" -m pip install --quiet --progress-bar off -r python/requirements-ci.txt ||
    { rc=$?; say "ERROR: installing the pinned requirements failed (exit $rc)"; finish "$rc"; }
fi
versions="$("$venv/bin/python" -c 'import torch, scikit_build_core, pytest; print("torch", torch.__version__, "CUDA", torch.version.cuda, "| scikit-build-core", scikit_build_core.__version__, "| pytest", pytest.__version__)')" ||
  { say "ERROR: torch, scikit-build-core or pytest is missing from $venv"; finish 1; }
say "$versions"
phase_done deps "$t"

t=$(date +%s)
say "pip install --no-build-isolation . (build folder $BUILD_DIR/python-build, $JOBS jobs)"
SKBUILD_BUILD_DIR="$BUILD_DIR/python-build" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
  "$venv/bin/python" -m pip install --quiet --no-build-isolation --no-deps . ||
  { rc=$?; say "ERROR: building the package failed (exit $rc; rerun with -v for the CMake log)"; finish "$rc"; }
phase_done build "$t"

t=$(date +%s)
# Run from the tests folder so `import splitmla` is the installed package, not python/splitmla.
( cd python/tests && "$venv/bin/python" -m pytest -rs -q -p no:cacheprovider ${SPLITMLA_PYTEST_ARGS:-} )
rc=$?
phase_done tests "$t"
case "$rc" in
  0) say "result : pytest passed" ;;
  5) say "result : FAILED: pytest collected no test (exit 5); python/tests must hold the suite"; rc=1 ;;
  *) say "result : FAILED (pytest exit $rc)" ;;
esac
finish "$rc"
