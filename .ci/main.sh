#!/usr/bin/env bash
# SplitMLA main job: build, then
#   with a GPU:    the split-count study (or the benchmark) and a replay of every committed
#                  fixture on both the GPU kernels and the CPU reference;
#   without a GPU: a replay of the committed fixtures on the CPU reference and, when the
#                  exporter exists, the notebook export regenerated from the committed results.
#
#   bash .ci/main.sh [--full]   (BUILD_DIR, CMAKE_CUDA_ARCHITECTURES, JOBS as in setup.sh)
#
# With a GPU: the split-count study (short grid; --full for the whole grid, which resumes where
# an earlier run stopped), the canonical benchmark, the fixture replay on both backends, then the
# notebook export regenerated from data/results/.
#
# Each step runs only when its program exists (the pieces land one by one); a step that exists
# and fails makes the job fail, with the step named in the summary.
#
# What it installs, and where: setup.sh's system packages (apt, when missing and run as root);
# the notebook export's Python packages (nbconvert, nbclient, ipykernel, pandas, matplotlib and
# their dependencies) from PyPI into a virtual environment, $BUILD_DIR/python-venv. Nothing is
# pip-installed into the system's Python. Without a GPU the export is written to
# $BUILD_DIR/notebooks_export (the committed page stays as it is: the job leaves git status clean);
# with one, the new results land in data/results/ and the page in notebooks_export/, to commit.
set -uo pipefail

study_grid=--short
for arg in "$@"; do
  case "$arg" in
    --full) study_grid=--full ;;
    *) echo "usage: bash .ci/main.sh [--full]"; exit 2 ;;
  esac
done

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

bash .ci/setup.sh || { rc=$?; echo "[main] setup failed (exit $rc)"; exit "$rc"; }

ran=() failed=() absent=()
step() {  # step <name> <command...>
  local name="$1"; shift
  echo "[main] >>> $name: $*"
  if "$@"; then
    ran+=("$name")
  else
    local rc=$?
    echo "[main] !!! $name FAILED (exit $rc)"
    failed+=("$name")
  fi
}

shopt -s nullglob
fixtures=(data/fixtures/*.h5)
shopt -u nullglob
fixture_tool="$BUILD_DIR/experiments/tools/splitmla_fixture"

replay() {  # replay <backend>
  if [[ ! -x "$fixture_tool" ]]; then
    absent+=("fixture replay ($fixture_tool not built)")
  elif ((${#fixtures[@]} == 0)); then
    absent+=("fixture replay (no data/fixtures/*.h5)")
  else
    step "replay fixtures ($1)" "$fixture_tool" replay --backend "$1" "${fixtures[@]}"
  fi
}

if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "[main] CUDA device: $(nvidia-smi -L | head -n1)"
  if [[ -x "$BUILD_DIR/experiments/splitmla_study" ]]; then
    step "split-count study ($study_grid)" "$BUILD_DIR/experiments/splitmla_study" "$study_grid" --resume
  else
    absent+=("split-count study (no $BUILD_DIR/experiments/splitmla_study)")
  fi
  if [[ -x "$BUILD_DIR/experiments/splitmla_bench" ]]; then
    step "decode benchmark" "$BUILD_DIR/experiments/splitmla_bench"
  else
    absent+=("decode benchmark (no $BUILD_DIR/experiments/splitmla_bench)")
  fi
  replay both
  if [[ -f notebooks_export/export.sh ]]; then
    step "notebook export from data/results" bash notebooks_export/export.sh
  fi
else
  echo "No CUDA device: running the CPU parts only (fixture replay on the CPU reference, notebook"
  echo "export from the committed results; the study and benchmark need a GPU)"
  replay cpu
  if [[ -f notebooks_export/export.sh ]]; then
    step "notebook export from committed results (to $BUILD_DIR/notebooks_export)" \
      env SPLITMLA_EXPORT_DIR="$BUILD_DIR/notebooks_export" bash notebooks_export/export.sh
  else
    absent+=("notebook export (no notebooks_export/export.sh)")
  fi
fi

echo "================================ summary ================================"
for s in "${ran[@]+"${ran[@]}"}"; do echo "ok      : $s"; done
for s in "${absent[@]+"${absent[@]}"}"; do echo "not run : $s"; done
for s in "${failed[@]+"${failed[@]}"}"; do echo "FAILED  : $s"; done
if ((${#failed[@]})); then
  echo "result  : FAILED (${#failed[@]} step(s))"
  exit 1
fi
echo "result  : ok (${#ran[@]} step(s) ran)"
