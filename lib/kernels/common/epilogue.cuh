// The part1 kernels' shared epilogue piece: the store of one query row's lse.
#pragma once

#include <cstdint>

#include "kernels/common/params.hpp"

namespace splitmla::kernels {

// Query row `row` (token-major: token row / num_heads, head row % num_heads) of request b: `l` to
// `lse` (when given) when the piece is the whole request, else to the piece's partial slot.
__device__ __forceinline__ void store_row_lse(const Part1Params& p, const Piece& pc, int b, int row,
                                              float l) {
  const int t = p.q_len == 1 ? 0 : row / p.num_heads, h = row - t * p.num_heads;
  if (pc.slot < 0) {
    if (p.lse != nullptr)
      p.lse[static_cast<int64_t>(b) * p.lse_stride_batch + static_cast<int64_t>(t) * p.lse_stride_token +
            static_cast<int64_t>(h) * p.lse_stride_head] = l;
  } else {
    p.part_lse[static_cast<int64_t>(pc.slot) * p.rows + row] = l;
  }
}

}  // namespace splitmla::kernels
