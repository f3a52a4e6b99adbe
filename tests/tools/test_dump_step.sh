#!/usr/bin/env bash
# h5py interop, end to end: experiments/tools/dump_step.py (the README's recipe) writes steps with h5py,
# splitmla_fixture inspects and replays them; h5py reads a file written by the library's own
# writer with str (not bytes) string attributes; a tampered dump fails the replay.
#
#   test_dump_step.sh TOOL DUMP_SCRIPT WORK_DIR VENV [FILE_WRITTEN_BY_WRITE_FIXTURE]
#
# Uses python3 when it has h5py and numpy, else a virtual environment VENV (the build folder's
# python-venv), installing them there from PyPI; never into the system's Python. Exit 77
# (skipped, said on stdout) when python3, venv or PyPI is not available: never a silent pass.
set -u
tool=$1 script=$2 work=$3 venv=$4 written=${5:-}
mkdir -p "$work"

has_modules() { "$1" -c 'import h5py, numpy' >/dev/null 2>&1; }
command -v python3 >/dev/null 2>&1 || { echo "skipped: no python3"; exit 77; }
py=python3
if ! has_modules python3; then
  py="$venv/bin/python"
  if [[ ! -x "$py" ]]; then
    echo "creating a virtual environment in $venv"
    python3 -m venv "$venv" || { echo "skipped: python3 -m venv failed (python3-venv missing?)"; exit 77; }
  fi
  if ! has_modules "$py"; then
    echo "installing h5py and numpy into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check h5py numpy ||
      { echo "skipped: cannot install h5py and numpy into $venv (PyPI unreachable?)"; exit 77; }
  fi
fi
echo "python: $("$py" -c 'import sys, h5py, numpy; print(sys.executable, "h5py", h5py.__version__, "numpy", numpy.__version__)')"

fail=0
check() {  # check <expected status> <what> <command...>
  local want=$1 what=$2; shift 2
  "$@"
  local rc=$?
  if [[ $rc -ne $want ]]; then echo "FAIL: $what: exit $rc, expected $want"; fail=1; else echo "ok: $what (exit $rc)"; fi
}

for dtype in bfloat16 float16; do
  step="$work/step_$dtype.h5"
  check 0 "dump_step.py --demo ($dtype)" "$py" "$script" --demo "$step" --dtype "$dtype" --seed 7
  check 0 "inspect the $dtype dump" "$tool" inspect "$step"
  check 0 "replay the $dtype dump on the CPU" "$tool" replay --backend cpu "$step"
done

# The replay does compare: one stored output moved far outside the tolerance must fail it.
tampered="$work/step_tampered.h5"
cp "$work/step_bfloat16.h5" "$tampered"
"$py" - "$tampered" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    out = f["reference/out"]
    out[0, 0, 0, 0] = out[0, 0, 0, 0] + 1.0
PY
check 1 "replay of a tampered dump fails" "$tool" replay --backend cpu "$tampered"

# What the library's writer writes reads back in h5py as str, as h5py's own files do.
if [[ -n "$written" ]]; then
  check 0 "h5py reads write_fixture's string attributes as str" "$py" - "$written" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    bad = {k: type(f.attrs[k]).__name__ for k in ("format", "dtype", "source", "description")
           if not isinstance(f.attrs[k], str)}
    print("string attributes:", {k: f.attrs[k] for k in ("format", "dtype", "source")})
    if bad:
        print("not str:", bad)
        sys.exit(1)
PY
fi

if ((fail)); then echo "test_dump_step: FAILED"; exit 1; fi
echo "test_dump_step: all checks passed"
