// Internal pieces of the experiment drivers' common code, shared by its translation units
// (common_floor.cu defines them): launch sizing, device-side random fill, medians, the L2 flush.
#pragma once

#include <cuda_runtime_api.h>
#include <vector_types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "splitmla/types.hpp"

namespace splitmla::experiments::detail {

// Blocks for n items of `threads` threads: at most 16 per SM of the current device.
int grid_for(size_t n, int threads);
// Uniform values in [-scale, scale) rounded to dtype d, a pure function of (seed, index).
void fill_random(void* p, size_t n, uint64_t seed, DType d, float scale, cudaStream_t s);
double median(std::vector<double> v);  // -1 for an empty vector

// A reusable read of an L2-sized buffer, run between timed replays when asked.
struct L2Flusher {
  uint4* buf = nullptr;
  size_t words = 0;
  uint32_t* sink = nullptr;
  int grid = 0;
  explicit L2Flusher(size_t l2_bytes);
  ~L2Flusher();
  L2Flusher(const L2Flusher&) = delete;
  L2Flusher& operator=(const L2Flusher&) = delete;
  void launch(cudaStream_t s) const;
};

}  // namespace splitmla::experiments::detail
