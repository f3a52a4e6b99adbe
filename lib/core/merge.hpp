// The merge algebra of split-KV attention, defined once for the part1 epilogue, part2 and the CPU
// reference (float on the GPU, double on the CPU), -inf guards included.
//
// A partial state is (lse, o): o the normalized output of a set of positions, lse the natural-log
// sum of their exponentiated scores. An empty set is (-inf, anything): it contributes nothing.
// NaN in any lse (a request with bad device data) makes the merged state NaN: loud, never plausible.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define SPLITMLA_HD __host__ __device__ __forceinline__
#else
#define SPLITMLA_HD inline
#endif

namespace splitmla::merge {

SPLITMLA_HD float hd_exp(float x) { return expf(x); }
SPLITMLA_HD double hd_exp(double x) { return exp(x); }
SPLITMLA_HD float hd_log(float x) { return logf(x); }
SPLITMLA_HD double hd_log(double x) { return log(x); }
SPLITMLA_HD float hd_exp2(float x) { return exp2f(x); }
SPLITMLA_HD double hd_exp2(double x) { return exp2(x); }
SPLITMLA_HD float hd_log2(float x) { return log2f(x); }
SPLITMLA_HD double hd_log2(double x) { return log2(x); }
template <class T> SPLITMLA_HD T neg_inf() { return -static_cast<T>(INFINITY); }
template <class T> SPLITMLA_HD T quiet_nan() { return static_cast<T>(NAN); }
template <class T> SPLITMLA_HD bool is_nan(T x) { return x != x; }

// Online softmax inside one split, base-2 domain: when the running max moves from m_old to
// m_new, the old sum and accumulator are multiplied by this factor. m_old = -inf (nothing seen
// yet) gives 0, never exp2(-inf - -inf) = NaN.
template <class T>
SPLITMLA_HD T rescale_exp2(T m_old, T m_new) {
  return m_old == neg_inf<T>() ? T(0) : hd_exp2(m_old - m_new);
}
// exp2(s - m) for one score; m = -inf means every score so far is masked: 0.
template <class T>
SPLITMLA_HD T prob_exp2(T s, T m) {
  return m == neg_inf<T>() ? T(0) : hd_exp2(s - m);
}
// The GPU kernels' lazy running max: a row's reference max m moves only when a tile's max
// exceeds it by more than this (base 2), so exp2(s - m) <= 2^8 (exact range in bf16 and fp16 P)
// and most tiles leave the old state's factor at exactly 1. m is only the exponent's reference:
// lse = m + log2(sum) is the same up to rounding.
constexpr float kLazyMaxStep = 8.f;

// Closing a split: 1/sum for the accumulator (0 when the split is empty: o = 0) and its
// natural-log lse from the base-2 max and the sum (-inf when empty).
template <class T>
SPLITMLA_HD T inv_sum(T sum) { return sum > T(0) ? T(1) / sum : T(0); }
template <class T>
SPLITMLA_HD T split_lse_from_exp2(T m2, T sum) {
  return sum > T(0) ? (m2 + hd_log2(sum)) * T(0.6931471805599453) : neg_inf<T>();
}

// Merging splits (part2 and the reference): first the max over lse, then weighted sums.
template <class T>
struct MergeState {
  T m = neg_inf<T>();   // max over the splits' lse
  T sum = T(0);         // sum of weights exp(lse_s - m)
  bool nan = false;     // any split carried NaN

  SPLITMLA_HD void see_lse(T lse) {
    if (is_nan(lse)) nan = true;
    else if (lse > m) m = lse;
  }
  // Weight of a split once every lse has been seen: 0 for an empty split, whatever m is.
  SPLITMLA_HD T weight(T lse) const {
    return (lse == neg_inf<T>() || m == neg_inf<T>()) ? T(0) : hd_exp(lse - m);
  }
  SPLITMLA_HD void add_weight(T w) { sum += w; }
  // acc += w * o, skipping empty splits so that garbage in their o cannot leak in.
  SPLITMLA_HD static T accumulate(T acc, T w, T o) { return w != T(0) ? acc + w * o : acc; }
  // Final output element and lse.
  SPLITMLA_HD T out(T acc) const {
    if (nan) return quiet_nan<T>();
    return m == neg_inf<T>() ? T(0) : acc / sum;
  }
  // The same output with the division done once a row: out_with(acc, inv()) = acc * (1 / sum),
  // within an ulp of out(acc) (part2 scales 16 columns a lane by it).
  SPLITMLA_HD T inv() const { return inv_sum(sum); }
  SPLITMLA_HD T out_with(T acc, T inv) const {
    if (nan) return quiet_nan<T>();
    return m == neg_inf<T>() ? T(0) : acc * inv;
  }
  SPLITMLA_HD T lse() const {
    if (nan) return quiet_nan<T>();
    return m == neg_inf<T>() ? neg_inf<T>() : m + hd_log(sum);
  }
};

}  // namespace splitmla::merge
