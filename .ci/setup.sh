#!/usr/bin/env bash
# SplitMLA set-up: make sure the build tools and headers are there, then configure and build.
# Idempotent: run it as often as you like; it installs nothing when everything is present.
#
#   bash .ci/setup.sh
#
# Environment overrides:
#   BUILD_DIR                 build folder (default: build, relative to the repository root)
#   CMAKE_CUDA_ARCHITECTURES  e.g. 90a (default in CMakeLists.txt) or 80 for a quick non-Hopper build
#   CMAKE_BUILD_TYPE          Release (default) or Debug
#   JOBS                      parallel build jobs (default: nproc)
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPLITMLA_ROOT"

say() { printf '[setup] %s\n' "$*"; }

if ! command -v nvcc >/dev/null 2>&1; then
  say "ERROR: nvcc not found (looked on PATH, \$CUDA_HOME, \$CUDA_PATH, /usr/local/cuda)."
  say "Install the CUDA Toolkit (12.x or newer, for sm_90a) or put its bin folder on PATH."
  exit 1
fi

# --- What is missing? -------------------------------------------------------------------------
have_header() {  # have_header <relative path> : looks in the usual include roots
  local rel="$1" d
  for d in /usr/include /usr/local/include /usr/include/hdf5/serial /usr/include/hdf5/openmpi \
           ${HDF5_ROOT:+"$HDF5_ROOT/include"} ${BOOST_ROOT:+"$BOOST_ROOT/include"} \
           ${CONDA_PREFIX:+"$CONDA_PREFIX/include"}; do
    [[ -f "$d/$rel" ]] && return 0
  done
  return 1
}

missing=()
have_header hdf5.h || missing+=(libhdf5-dev)
have_header boost/test/included/unit_test.hpp || missing+=(libboost-test-dev)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v ninja >/dev/null 2>&1 || missing+=(ninja-build)
# Python virtual environments under the build folder (the main job's notebook export, the h5py
# interop test): never pip-installed into the system's Python. Debian ships ensurepip apart.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if ((${#missing[@]})); then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    say "ERROR: missing ${missing[*]}."
    say "Install them, e.g.: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
else
  say "tools and headers present: nothing to install"
fi

# CMakeLists.txt asks for 3.25 or newer.
cmake_version="$(cmake --version | head -n1 | awk '{print $3}')"
if [[ "$(printf '%s\n3.25\n' "$cmake_version" | sort -V | head -n1)" != "3.25" ]]; then
  say "ERROR: CMake $cmake_version is older than 3.25 (pip install cmake, or Kitware's apt repository)."
  exit 1
fi

# --- Configure and build. ---------------------------------------------------------------------
cfg=(-S . -B "$BUILD_DIR" -G Ninja)
[[ -n "${CMAKE_CUDA_ARCHITECTURES:-}" ]] && cfg+=("-DCMAKE_CUDA_ARCHITECTURES=${CMAKE_CUDA_ARCHITECTURES}")
[[ -n "${CMAKE_BUILD_TYPE:-}" ]] && cfg+=("-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}")

if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  say "ERROR: $BUILD_DIR was configured with another generator; remove it or set BUILD_DIR."
  exit 1
fi

say "cmake $(printf '%q ' "${cfg[@]}")"
cmake "${cfg[@]}"
say "building with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS"
say "build ready in $BUILD_DIR (nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), cmake $cmake_version)"
