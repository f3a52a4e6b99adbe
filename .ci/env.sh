# Sourced by the .ci scripts: repository root, build folder, job count, nvcc on PATH.
SPLITMLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
export BUILD_DIR JOBS

# nvcc may live outside PATH on a fresh machine (the toolkit's default is /usr/local/cuda).
if ! command -v nvcc >/dev/null 2>&1; then
  for splitmla_cuda_dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if [[ -n "$splitmla_cuda_dir" && -x "$splitmla_cuda_dir/bin/nvcc" ]]; then
      export PATH="$splitmla_cuda_dir/bin:$PATH"
      break
    fi
  done
  unset splitmla_cuda_dir
fi

# ctest_counts <ctest output log>: "N passed, N failed, N skipped" from ctest's per-test lines
# (ctest's own headline counts a skipped test as passed).
ctest_counts() {
  awk '/ Test +#[0-9]+: / {
         if ($0 ~ /\*\*\*Skipped/) s++; else if ($0 ~ / Passed +[0-9.]+ sec/) p++; else f++
       }
       END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$1"
}
