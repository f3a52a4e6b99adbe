// The CPU reference of docs/semantics.md sections 1-5, in float64.
//
// One routine computes part1 partials for any number of equal splits; the direct single pass is
// that routine with one split covering [0, n), whose layout is exactly [batch, q_len, heads, 512].
// part2 combines partials only through splitmla::merge::MergeState (core/merge.hpp), the same
// algebra the GPU uses, so the merge is defined in one place.
//
// Bad device data (a negative seq_len, one beyond the table's capacity, or a page id outside
// [0, num_pages) among the entries the request's visible positions need) makes every output of
// that request NaN, as on the GPU. Rows and table entries past the visible range are never read.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.hpp"
#include "core/guard.hpp"
#include "core/merge.hpp"
#include "core/visibility.hpp"
#include "reference/reference_f64.hpp"
#include "splitmla/reference.hpp"

namespace splitmla {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

int64_t q_elems(const HostProblem& p) {
  return int64_t{p.batch} * p.q_len * p.num_heads * kHeadDimQK;
}
int64_t kv_elems(const HostProblem& p) {
  return int64_t{p.num_pages} * p.page_size * kHeadDimQK;
}
int64_t table_elems(const HostProblem& p) { return int64_t{p.batch} * p.max_pages_per_seq; }
int64_t rows_per_split_set(const HostProblem& p) {  // (t, h) rows of one request and split
  return int64_t{p.q_len} * p.num_heads;
}

// The visible KV rows of one request, read through its block table and converted to float
// (exact for bf16 and fp16). Only entries 0 .. ceil(n / page_size) - 1 are read. Memory does not
// grow with n: up to kCachedRows rows are converted once and kept; a longer request (a valid
// problem may declare 2^31 - 1 positions whose rows all alias a few pages) is streamed, each row
// converted when it is used. Both give the same values.
constexpr int64_t kCachedRows = int64_t(1) << 14;    // 37.7 MB of float rows
constexpr int64_t kCachedScores = int64_t(1) << 16;  // 512 KB of double scores per (t, h) row

class RequestRows {
 public:
  // False when the request's device data is bad (its outputs are then NaN).
  bool load(const HostProblem& p, int32_t b) {
    p_ = &p;
    n_ = 0;  // the longest row's positions (the last token's when causal)
    for (int32_t t = 0; t < p.q_len; ++t) {
      const int64_t nt = visible_length(p, b, t);
      if (nt < 0) return false;
      n_ = std::max(n_, nt);
    }
    if (n_ < 0) return false;
    const int64_t pages = (n_ + p.page_size - 1) / p.page_size;
    table_ = p.block_table.data() + int64_t{b} * p.max_pages_per_seq;
    for (int64_t i = 0; i < pages; ++i) {
      if (table_[i] < 0 || table_[i] >= p.num_pages) return false;
    }
    cached_ = n_ <= kCachedRows;
    rows_.resize(cached_ ? static_cast<size_t>(n_ * kHeadDimQK) : 0);
    if (cached_) {
      for (int64_t j = 0; j < n_; ++j) convert(j, rows_.data() + j * kHeadDimQK);
    }
    return true;
  }
  // Row j as 576 floats; `scratch` (576 floats) holds it when the rows are streamed.
  const float* row(int64_t j, float* scratch) const {
    if (cached_) return rows_.data() + j * kHeadDimQK;
    convert(j, scratch);
    return scratch;
  }

 private:
  void convert(int64_t j, float* dst) const {
    const int64_t page = table_[j / p_->page_size];
    const int64_t r = page * p_->page_size + j % p_->page_size;
    const uint16_t* src = p_->kv_cache.data() + r * kHeadDimQK;
    for (int d = 0; d < kHeadDimQK; ++d) dst[d] = half_bits_to_float(p_->dtype, src[d]);
  }

  const HostProblem* p_ = nullptr;
  const int32_t* table_ = nullptr;
  int64_t n_ = 0;
  bool cached_ = false;
  std::vector<float> rows_;
};

// The scores softmax_scale * q.k_j of one (t, h) row, kept for up to kCachedScores positions
// and recomputed (the same float64 operations, so the same values) beyond.
class RowScores {
 public:
  void prepare(const HostProblem& p, const RequestRows& rows, const double* q, int64_t n) {
    p_ = &p;
    rows_ = &rows;
    q_ = q;
    cached_ = n <= kCachedScores;
    scores_.resize(cached_ ? static_cast<size_t>(n) : 0);
    if (cached_) {
      for (int64_t j = 0; j < n; ++j) scores_[j] = compute(j);
    }
  }
  double operator()(int64_t j) const { return cached_ ? scores_[j] : compute(j); }
  const float* value_row(int64_t j) const { return rows_->row(j, scratch_); }

 private:
  double compute(int64_t j) const {
    const float* k = rows_->row(j, scratch_);
    double dot = 0.0;
    for (int d = 0; d < kHeadDimQK; ++d) dot += q_[d] * static_cast<double>(k[d]);
    return p_->softmax_scale * dot;
  }

  const HostProblem* p_ = nullptr;
  const RequestRows* rows_ = nullptr;
  const double* q_ = nullptr;
  bool cached_ = false;
  std::vector<double> scores_;
  mutable float scratch_[kHeadDimQK];
};

// One split's partial over positions [lo, hi): its natural-log lse and normalized output.
// Empty (no position, or no finite score): lse = -inf, o = 0. NaN scores make both NaN.
void range_partial(const RowScores& scores, int64_t lo, int64_t hi, double* lse, double* o) {
  double m = kNegInf;
  bool nan = false;
  for (int64_t j = lo; j < hi; ++j) {
    const double sj = scores(j);
    if (std::isnan(sj)) nan = true;
    else if (sj > m) m = sj;
  }
  if (nan) {
    *lse = kNaN;
    std::fill(o, o + kHeadDimV, kNaN);
    return;
  }
  std::fill(o, o + kHeadDimV, 0.0);
  if (m == kNegInf) {
    *lse = kNegInf;
    return;
  }
  double sum = 0.0;
  for (int64_t j = lo; j < hi; ++j) {
    const double w = std::exp(scores(j) - m);
    sum += w;
    const float* v = scores.value_row(j);
    for (int d = 0; d < kHeadDimV; ++d) o[d] += w * static_cast<double>(v[d]);
  }
  for (int d = 0; d < kHeadDimV; ++d) o[d] /= sum;
  *lse = m + std::log(sum);
}

// part1 (and, with one split, the direct pass): out [batch, splits, q_len, heads, 512],
// lse [batch, splits, q_len, heads].
template <class T>
Status partials_impl(const HostProblem& p, int32_t num_splits, std::vector<T>* out,
                     std::vector<T>* lse) {
  SPLITMLA_TRY(validate_host_problem(p));
  if (num_splits < 1 || num_splits > kMaxForcedSplits) {
    return detail::fail(Status::kBadPolicy, "num_splits = %d, must be in 1..%d", num_splits,
                        kMaxForcedSplits);
  }
  const int64_t rows_per_split = rows_per_split_set(p);
  const int64_t lse_total = int64_t{p.batch} * num_splits * rows_per_split;
  out->assign(static_cast<size_t>(lse_total * kHeadDimV), T(0));
  lse->assign(static_cast<size_t>(lse_total), T(0));

  RequestRows rows;
  RowScores scores;
  std::vector<double> qd(kHeadDimQK), o(kHeadDimV);
  for (int32_t b = 0; b < p.batch; ++b) {
    const int64_t request_first = int64_t{b} * num_splits * rows_per_split;
    if (!rows.load(p, b)) {
      const int64_t count = num_splits * rows_per_split;
      std::fill_n(lse->begin() + request_first, count, static_cast<T>(kNaN));
      std::fill_n(out->begin() + request_first * kHeadDimV, count * kHeadDimV,
                  static_cast<T>(kNaN));
      continue;
    }
    for (int32_t t = 0; t < p.q_len; ++t) {
      const int64_t n = visible_length(p, b, t);
      const int64_t chunk = (n + num_splits - 1) / num_splits;
      for (int32_t h = 0; h < p.num_heads; ++h) {
        const uint16_t* qbits =
            p.q.data() + ((int64_t{b} * p.q_len + t) * p.num_heads + h) * kHeadDimQK;
        for (int d = 0; d < kHeadDimQK; ++d) qd[d] = half_bits_to_float(p.dtype, qbits[d]);
        scores.prepare(p, rows, qd.data(), n);
        for (int32_t s = 0; s < num_splits; ++s) {
          const int64_t lo = std::min<int64_t>(n, s * chunk);
          const int64_t hi = std::min<int64_t>(n, lo + chunk);
          double l = 0.0;
          range_partial(scores, lo, hi, &l, o.data());
          const int64_t idx = request_first + s * rows_per_split + int64_t{t} * p.num_heads + h;
          (*lse)[idx] = static_cast<T>(l);
          std::transform(o.begin(), o.end(), out->begin() + idx * kHeadDimV,
                         [](double x) { return static_cast<T>(x); });
        }
      }
    }
  }
  detail::clear_error();
  return Status::kSuccess;
}

// part2: merges [batch, splits, q_len, heads] partials into [batch, q_len, heads] outputs.
template <class In, class Out>
Status merge_impl(const HostProblem& p, int32_t num_splits, const std::vector<In>& split_out,
                  const std::vector<In>& split_lse, std::vector<Out>* out,
                  std::vector<Out>* lse) {
  SPLITMLA_TRY(validate_host_problem(p));
  if (num_splits < 1 || num_splits > kMaxForcedSplits) {
    return detail::fail(Status::kBadPolicy, "splits.num_splits = %d, must be in 1..%d",
                        num_splits, kMaxForcedSplits);
  }
  const int64_t rows_per_split = rows_per_split_set(p);
  const int64_t want_lse = int64_t{p.batch} * num_splits * rows_per_split;
  if (static_cast<int64_t>(split_lse.size()) != want_lse) {
    return detail::fail(Status::kBadShape,
                        "splits.split_lse.size() = %lld, must be batch*num_splits*q_len*"
                        "num_heads = %lld",
                        static_cast<long long>(split_lse.size()),
                        static_cast<long long>(want_lse));
  }
  if (static_cast<int64_t>(split_out.size()) != want_lse * kHeadDimV) {
    return detail::fail(Status::kBadShape,
                        "splits.split_out.size() = %lld, must be batch*num_splits*q_len*"
                        "num_heads*512 = %lld",
                        static_cast<long long>(split_out.size()),
                        static_cast<long long>(want_lse * kHeadDimV));
  }
  const int64_t rows_total = int64_t{p.batch} * rows_per_split;
  out->assign(static_cast<size_t>(rows_total * kHeadDimV), Out(0));
  lse->assign(static_cast<size_t>(rows_total), Out(0));

  std::vector<double> acc(kHeadDimV);
  for (int32_t b = 0; b < p.batch; ++b) {
    for (int64_t r = 0; r < rows_per_split; ++r) {  // r = t * num_heads + h
      auto split_idx = [&](int32_t s) {
        return (int64_t{b} * num_splits + s) * rows_per_split + r;
      };
      merge::MergeState<double> state;
      for (int32_t s = 0; s < num_splits; ++s) {
        state.see_lse(static_cast<double>(split_lse[split_idx(s)]));
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int32_t s = 0; s < num_splits; ++s) {
        const int64_t idx = split_idx(s);
        const double w = state.weight(static_cast<double>(split_lse[idx]));
        state.add_weight(w);
        const In* o = split_out.data() + idx * kHeadDimV;
        for (int d = 0; d < kHeadDimV; ++d) {
          acc[d] = merge::MergeState<double>::accumulate(acc[d], w, static_cast<double>(o[d]));
        }
      }
      const int64_t dst = int64_t{b} * rows_per_split + r;
      (*lse)[dst] = static_cast<Out>(state.lse());
      for (int d = 0; d < kHeadDimV; ++d) {
        (*out)[dst * kHeadDimV + d] = static_cast<Out>(state.out(acc[d]));
      }
    }
  }
  detail::clear_error();
  return Status::kSuccess;
}

}  // namespace

Status validate_host_problem(const HostProblem& p) {
  if (p.dtype != DType::kBFloat16 && p.dtype != DType::kFloat16) {
    return detail::fail(Status::kBadDType, "dtype = %d, must be bfloat16 (0) or float16 (1)",
                        static_cast<int>(p.dtype));
  }
  if (p.batch < 1 || p.batch > kMaxBatch) {
    return detail::fail(Status::kBadBatch, "batch = %d, must be in 1..%d", p.batch, kMaxBatch);
  }
  if (p.num_heads < 1 || p.num_heads > kMaxHeads) {
    return detail::fail(Status::kBadNumHeads, "num_heads = %d, must be in 1..%d", p.num_heads,
                        kMaxHeads);
  }
  if (p.page_size < 1 || p.page_size > kMaxPageSize || (p.page_size & (p.page_size - 1)) != 0) {
    return detail::fail(Status::kBadPageSize,
                        "page_size = %d, must be a power of two in 1..%d", p.page_size,
                        kMaxPageSize);
  }
  if (p.q_len < 1) {
    return detail::fail(Status::kBadShape, "q_len = %d, must be >= 1", p.q_len);
  }
  if (p.num_pages < 1) {
    return detail::fail(Status::kBadShape, "num_pages = %d, must be >= 1", p.num_pages);
  }
  if (p.max_pages_per_seq < 1) {
    return detail::fail(Status::kBadShape, "max_pages_per_seq = %d, must be >= 1",
                        p.max_pages_per_seq);
  }
  if (!std::isfinite(p.softmax_scale) || !(p.softmax_scale > 0.0)) {
    return detail::fail(Status::kBadSoftmaxScale, "softmax_scale = %g, must be finite and > 0",
                        p.softmax_scale);
  }
  struct SizeCheck {
    const char* name;
    size_t have;
    int64_t want;
    const char* formula;
  };
  const SizeCheck checks[] = {
      {"q", p.q.size(), q_elems(p), "batch*q_len*num_heads*576"},
      {"kv_cache", p.kv_cache.size(), kv_elems(p), "num_pages*page_size*576"},
      {"block_table", p.block_table.size(), table_elems(p), "batch*max_pages_per_seq"},
      {"seq_lens", p.seq_lens.size(), int64_t{p.batch}, "batch"},
  };
  for (const SizeCheck& c : checks) {
    if (static_cast<int64_t>(c.have) != c.want) {
      return detail::fail(Status::kBadShape, "%s.size() = %lld, must be %s = %lld", c.name,
                          static_cast<long long>(c.have), c.formula,
                          static_cast<long long>(c.want));
    }
  }
  detail::clear_error();
  return Status::kSuccess;
}

int64_t visible_length(const HostProblem& p, int32_t b, int32_t t) noexcept {
  if (b < 0 || static_cast<size_t>(b) >= p.seq_lens.size()) return -1;
  const int64_t capacity = int64_t{p.max_pages_per_seq} * p.page_size;
  return visibility::token_limit(p.seq_lens[b], capacity, p.q_len, t, p.causal);
}

Status reference_decode(const HostProblem& p, HostOutputs* out) {
  if (out == nullptr) return detail::fail(Status::kNullPointer, "out = null");
  return detail::guarded("reference_decode", Status::kBadShape,
                         [&] { return partials_impl<float>(p, 1, &out->out, &out->lse); });
}

Status reference_split_partials(const HostProblem& p, int32_t num_splits, HostSplits* splits) {
  if (splits == nullptr) return detail::fail(Status::kNullPointer, "splits = null");
  return detail::guarded("reference_split_partials", Status::kBadShape, [&] {
    SPLITMLA_TRY(partials_impl<float>(p, num_splits, &splits->split_out, &splits->split_lse));
    splits->num_splits = num_splits;
    return Status::kSuccess;
  });
}

Status reference_merge(const HostProblem& p, const HostSplits& splits, HostOutputs* out) {
  if (out == nullptr) return detail::fail(Status::kNullPointer, "out = null");
  return detail::guarded("reference_merge", Status::kBadShape, [&] {
    return merge_impl<float, float>(p, splits.num_splits, splits.split_out, splits.split_lse,
                                    &out->out, &out->lse);
  });
}

namespace reference_detail {

Status decode_f64(const HostProblem& p, OutputsF64* out) {
  if (out == nullptr) return detail::fail(Status::kNullPointer, "out = null");
  return detail::guarded("decode_f64", Status::kBadShape,
                         [&] { return partials_impl<double>(p, 1, &out->out, &out->lse); });
}

Status split_partials_f64(const HostProblem& p, int32_t num_splits, SplitsF64* splits) {
  if (splits == nullptr) return detail::fail(Status::kNullPointer, "splits = null");
  return detail::guarded("split_partials_f64", Status::kBadShape, [&] {
    SPLITMLA_TRY(partials_impl<double>(p, num_splits, &splits->split_out, &splits->split_lse));
    splits->num_splits = num_splits;
    return Status::kSuccess;
  });
}

Status merge_f64(const HostProblem& p, const SplitsF64& splits, OutputsF64* out) {
  if (out == nullptr) return detail::fail(Status::kNullPointer, "out = null");
  return detail::guarded("merge_f64", Status::kBadShape, [&] {
    return merge_impl<double, double>(p, splits.num_splits, splits.split_out, splits.split_lse,
                                      &out->out, &out->lse);
  });
}

}  // namespace reference_detail
}  // namespace splitmla
