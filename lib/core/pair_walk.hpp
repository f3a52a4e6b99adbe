// part2's walk over (multi-split request j, query row) pairs jh = j * rows + row with a grid
// stride (lib/kernels/part2/part2.cu): first, first + stride, ... stepped as (j, row) without a
// division a step. Host and device code; tests/core/test_plan_rows.cpp checks it against the
// division.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SPLITMLA_PW_HD __host__ __device__ __forceinline__
#else
#define SPLITMLA_PW_HD inline
#endif

namespace splitmla::pair_walk {

struct Cursor {
  int64_t j;   // request index of the current pair (into the multi list)
  int32_t row; // its row, 0 <= row < rows
  int64_t dj;  // stride / rows
  int32_t dr;  // stride % rows
  int32_t rows;

  // The cursor at pair `first` (first >= 0, stride >= 1, rows >= 1): the walk's two divisions.
  SPLITMLA_PW_HD static Cursor at(int64_t first, int64_t stride, int32_t rows) {
    Cursor c;
    c.rows = rows;
    c.j = first / rows;
    c.row = static_cast<int32_t>(first - c.j * rows);
    c.dj = stride / rows;
    c.dr = static_cast<int32_t>(stride - c.dj * rows);
    return c;
  }
  // To the pair `stride` further on.
  SPLITMLA_PW_HD void advance() {
    row += dr;
    j += dj;
    if (row >= rows) {
      row -= rows;
      ++j;
    }
  }
};

}  // namespace splitmla::pair_walk
