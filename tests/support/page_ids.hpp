// Page-table helpers of every adversarial problem: how many pages a length needs, the out-of-range
// page ids that fill the table entries no visible position uses, and the NaN bits that fill the
// KV rows nobody may read. Header-only (the fixture generator shares it).
#pragma once

#include <climits>
#include <cstdint>

namespace splitmla::testsupport {

inline int32_t pages_needed(int64_t len, int32_t page_size) {
  return len <= 0 ? 0 : static_cast<int32_t>((len + page_size - 1) / page_size);
}

// The bad page ids, a cycle of five: just past the cache, -1, the int32 extremes, far past.
inline constexpr int kBadPageIds = 5;
inline int32_t bad_page_id(int32_t num_pages, int64_t k) {
  switch (((k % kBadPageIds) + kBadPageIds) % kBadPageIds) {
    case 0: return num_pages;
    case 1: return -1;
    case 2: return INT_MAX;
    case 3: return INT_MIN;
    default: return num_pages + 1000;
  }
}

inline constexpr uint16_t kPoisonHalf = 0xFFFF;  // NaN in both bf16 and fp16

}  // namespace splitmla::testsupport
