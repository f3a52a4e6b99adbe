#!/usr/bin/env bash
# Regenerates the exported page of split_study.ipynb: split_study.md plus its PNG figures
# (split_study_files/), executed from the committed CSVs under data/results/. No GPU needed.
#
#   notebooks_export/export.sh
#
# Environment: SPLITMLA_RESULTS_DIR  folder of results CSVs (default: data/results of this checkout)
#              SPLITMLA_EXPORT_DIR   where the page goes (default: notebooks_export/)
#              PYTHON                interpreter to use (default: python3)
#              SPLITMLA_VENV         virtual environment for missing packages
#                                    (default: <build folder>/python-venv, BUILD_DIR or build)
# When PYTHON lacks one of the packages it needs (nbconvert, nbclient, ipykernel, pandas,
# matplotlib), they are installed from PyPI into SPLITMLA_VENV (created with python3 -m venv),
# never into the system's Python.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
PY=${PYTHON:-python3}
modules=(nbconvert nbclient ipykernel pandas matplotlib)
build=${BUILD_DIR:-build}
[[ "$build" == /* ]] || build="$root/$build"
venv=${SPLITMLA_VENV:-$build/python-venv}

missing() {
  local py=$1 m out=()
  for m in "${modules[@]}"; do "$py" -c "import $m" >/dev/null 2>&1 || out+=("$m"); done
  echo "${out[@]:-}"
}

need=$(missing "$PY")
if [ -n "$need" ]; then
  if [ ! -x "$venv/bin/python" ]; then
    echo "export.sh: creating a virtual environment in $venv" >&2
    python3 -m venv "$venv"
  fi
  PY="$venv/bin/python"
  need=$(missing "$PY")
  if [ -n "$need" ]; then
    echo "export.sh: installing $need (and their dependencies) into $venv" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check $need
  fi
fi

export SPLITMLA_RESULTS_DIR=${SPLITMLA_RESULTS_DIR:-$root/data/results}

out=${SPLITMLA_EXPORT_DIR:-$here}
mkdir -p "$out"
# The notebook runs with notebooks_export/ as its working directory.
"$PY" -m nbconvert --to markdown --execute --ExecutePreprocessor.timeout=600 \
  --ExecutePreprocessor.kernel_name=python3 \
  --output-dir "$out" --output split_study "$here/split_study.ipynb"
echo "export.sh: wrote $out/split_study.md (results from $SPLITMLA_RESULTS_DIR)"
