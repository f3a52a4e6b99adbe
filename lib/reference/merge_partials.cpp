// float64 reference of the context-parallel merge (declared in splitmla/cp.hpp): part of the
// reference library, so that the decode library carries no CPU reference.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/guard.hpp"
#include "core/merge.hpp"
#include "splitmla/cp.hpp"

namespace splitmla {

using detail::fail;

Status reference_merge_partials(const std::vector<HostOutputs>& parts, int32_t rows,
                                int32_t num_heads, bool lse_base2, HostOutputs* merged) {
  if (merged == nullptr) return fail(Status::kNullPointer, "merged = nullptr");
  if (parts.empty() || static_cast<int64_t>(parts.size()) > kMaxMergeSources)
    return fail(Status::kBadShape, "parts.size() = %zu, must be in 1..%d", parts.size(),
                kMaxMergeSources);
  if (rows < 1 || num_heads < 1)
    return fail(Status::kBadShape, "rows = %d, num_heads = %d, must be >= 1", rows, num_heads);
  const size_t rh = static_cast<size_t>(rows) * static_cast<size_t>(num_heads);
  for (size_t s = 0; s < parts.size(); ++s)
    if (parts[s].out.size() != rh * kHeadDimV || parts[s].lse.size() != rh)
      return fail(Status::kBadShape, "parts[%zu]: out has %zu values, lse %zu; expected %zu and %zu",
                  s, parts[s].out.size(), parts[s].lse.size(), rh * kHeadDimV, rh);
  return detail::guarded("reference_merge_partials", Status::kBadShape, [&]() -> Status {
    HostOutputs m;
    m.out.assign(rh * kHeadDimV, 0.f);
    m.lse.assign(rh, 0.f);
    std::vector<double> l(parts.size()), acc(kHeadDimV);
    for (size_t i = 0; i < rh; ++i) {
      merge::MergeState<double> st;
      for (size_t s = 0; s < parts.size(); ++s) {
        double v = parts[s].lse[i];
        if (lse_base2) v *= 0.6931471805599453;
        if (v == std::numeric_limits<double>::infinity()) v = -v;
        l[s] = v;
        st.see_lse(v);
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (size_t s = 0; s < parts.size(); ++s) {
        const double w = st.weight(l[s]);
        st.add_weight(w);
        for (int c = 0; c < kHeadDimV; ++c)
          acc[static_cast<size_t>(c)] = merge::MergeState<double>::accumulate(
              acc[static_cast<size_t>(c)], w, parts[s].out[i * kHeadDimV + static_cast<size_t>(c)]);
      }
      for (int c = 0; c < kHeadDimV; ++c)
        m.out[i * kHeadDimV + static_cast<size_t>(c)] =
            static_cast<float>(st.out(acc[static_cast<size_t>(c)]));
      m.lse[i] = static_cast<float>(st.lse());
    }
    *merged = std::move(m);
    return Status::kSuccess;
  });
}

}  // namespace splitmla
