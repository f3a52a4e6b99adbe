#!/usr/bin/env bash
# Regenerates the exported page of split_study.ipynb: split_study.md plus its PNG figures
# (split_study_files/), executed from the committed CSVs under data/results/. No GPU needed.
#
#   notebooks_export/export.sh
#
# Environment: SPLITMLA_RESULTS_DIR  folder of results CSVs (default: data/results of this checkout)
#              SPLITMLA_EXPORT_DIR   where the page goes (default: notebooks_export/)
#              PYTHON                interpreter to use (default: python3)
# Missing Python packages (nbconvert, nbclient, ipykernel, pandas, matplotlib) are installed from
# PyPI with pip; where that interpreter refuses installs, a virtual environment under .cache/ is used.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
PY=${PYTHON:-python3}
modules=(nbconvert nbclient ipykernel pandas matplotlib)

missing() {
  local py=$1 m out=()
  for m in "${modules[@]}"; do "$py" -c "import $m" >/dev/null 2>&1 || out+=("$m"); done
  echo "${out[@]:-}"
}

need=$(missing "$PY")
if [ -n "$need" ]; then
  echo "export.sh: installing $need" >&2
  if ! "$PY" -m pip install --quiet $need; then
    venv="$root/.cache/nbexport-venv"
    echo "export.sh: pip refused; using a virtual environment in $venv" >&2
    [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
    PY="$venv/bin/python"
    need=$(missing "$PY")
    [ -z "$need" ] || "$PY" -m pip install --quiet $need
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
