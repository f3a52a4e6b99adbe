// Comparison of a decode's outputs with the reference (docs/semantics.md section 7).
//
// First the special values: an element whose class (finite, -inf, +inf, NaN) differs between got
// and ref is a special mismatch, whatever the tolerances. Then, on elements finite in both,
// out must satisfy |got - ref| <= atol + rtol*|ref| and lse |got - ref| <= lse_atol.
// The worst element is the one with the largest error relative to its own bound (the one that
// fails first as tolerances tighten); max_*_err are the largest absolute errors.
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "splitmla/reference.hpp"

namespace splitmla {
namespace {

enum class ValueClass { kFinite, kNegInf, kPosInf, kNaN };

ValueClass classify(float x) {
  if (std::isnan(x)) return ValueClass::kNaN;
  if (std::isinf(x)) return x < 0 ? ValueClass::kNegInf : ValueClass::kPosInf;
  return ValueClass::kFinite;
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// "(b=.., t=.., h=.., d=..)" for an out index, "(b=.., t=.., h=..)" for an lse index.
std::string name_element(const HostProblem& p, int64_t index, bool is_out) {
  int64_t row = index;
  int64_t d = -1;
  if (is_out) {
    d = index % kHeadDimV;
    row = index / kHeadDimV;
  }
  const int64_t h = row % p.num_heads;
  const int64_t t = (row / p.num_heads) % p.q_len;
  const int64_t b = row / (int64_t{p.num_heads} * p.q_len);
  if (is_out) {
    return format("(b=%lld, t=%lld, h=%lld, d=%lld)", static_cast<long long>(b),
                  static_cast<long long>(t), static_cast<long long>(h),
                  static_cast<long long>(d));
  }
  return format("(b=%lld, t=%lld, h=%lld)", static_cast<long long>(b),
                static_cast<long long>(t), static_cast<long long>(h));
}

struct TensorResult {
  int64_t special = 0, violations = 0, first_special = -1, worst = -1;
  double max_err = 0.0, worst_ratio = -1.0;
};

TensorResult compare_tensor(const std::vector<float>& got, const std::vector<float>& ref,
                            double atol, double rtol) {
  TensorResult r;
  for (size_t i = 0; i < ref.size(); ++i) {
    const ValueClass cg = classify(got[i]), cr = classify(ref[i]);
    if (cg != cr) {
      if (r.first_special < 0) r.first_special = static_cast<int64_t>(i);
      ++r.special;
      continue;
    }
    if (cr != ValueClass::kFinite) continue;  // same special value: exact match
    const double err = std::fabs(static_cast<double>(got[i]) - static_cast<double>(ref[i]));
    const double bound = atol + rtol * std::fabs(static_cast<double>(ref[i]));
    if (err > bound) ++r.violations;
    if (err > r.max_err) r.max_err = err;
    const double ratio = bound > 0.0 ? err / bound : (err > 0.0 ? INFINITY : 0.0);
    if (ratio > r.worst_ratio) {
      r.worst_ratio = ratio;
      r.worst = static_cast<int64_t>(i);
    }
  }
  return r;
}

std::string describe(const HostProblem& p, const char* name, const TensorResult& r,
                     const std::vector<float>& got, const std::vector<float>& ref, double atol,
                     double rtol, bool is_out, const char* got_name, const char* ref_name) {
  std::string text = format("%s: %lld special mismatches, %lld of %zu outside tolerance, "
                            "max |err| %.6g",
                            name, static_cast<long long>(r.special),
                            static_cast<long long>(r.violations), ref.size(), r.max_err);
  if (r.first_special >= 0) {
    const int64_t i = r.first_special;
    text += format("; first special mismatch %s: %s %.9g %s %.9g",
                   name_element(p, i, is_out).c_str(), got_name, got[i], ref_name, ref[i]);
  }
  if (r.worst >= 0 && r.worst_ratio > 0.0) {  // name it only when something differs
    const int64_t i = r.worst;
    const double bound = atol + rtol * std::fabs(static_cast<double>(ref[i]));
    text += format("; worst %s: %s %.9g %s %.9g |err| %.6g bound %.6g",
                   name_element(p, i, is_out).c_str(), got_name, got[i], ref_name, ref[i],
                   std::fabs(static_cast<double>(got[i]) - ref[i]), bound);
  }
  return text + "\n";
}

}  // namespace

Tolerance Tolerance::for_dtype(DType d) {
  Tolerance t;
  if (d == DType::kFloat16) {
    t.out_atol = 2e-3;
    t.out_rtol = 2e-3;
  } else {
    t.out_atol = 1e-2;
    t.out_rtol = 1e-2;
  }
  t.lse_atol = 1e-3;
  return t;
}

namespace {

CompareReport compare_impl(const HostProblem& p, const HostOutputs& got, const HostOutputs& ref,
                           const Tolerance& tol, const char* got_name, const char* ref_name) {
  CompareReport rep;
  const int64_t rows = int64_t{p.batch} * p.q_len * p.num_heads;
  const bool shape_ok = p.batch > 0 && p.q_len > 0 && p.num_heads > 0;
  const size_t want_out = shape_ok ? static_cast<size_t>(rows * kHeadDimV) : 0;
  const size_t want_lse = shape_ok ? static_cast<size_t>(rows) : 0;
  if (!shape_ok || got.out.size() != want_out || ref.out.size() != want_out ||
      got.lse.size() != want_lse || ref.lse.size() != want_lse) {
    rep.ok = false;
    rep.text = format("compare: FAIL, size mismatch: problem [batch=%d, q_len=%d, heads=%d] "
                      "expects out %zu and lse %zu elements; %s out %zu lse %zu, "
                      "%s out %zu lse %zu\n",
                      p.batch, p.q_len, p.num_heads, want_out, want_lse, got_name,
                      got.out.size(), got.lse.size(), ref_name, ref.out.size(), ref.lse.size());
    return rep;
  }

  const TensorResult o = compare_tensor(got.out, ref.out, tol.out_atol, tol.out_rtol);
  const TensorResult l = compare_tensor(got.lse, ref.lse, tol.lse_atol, 0.0);
  rep.special_mismatches = o.special + l.special;
  rep.out_violations = o.violations;
  rep.lse_violations = l.violations;
  rep.max_out_err = o.max_err;
  rep.max_lse_err = l.max_err;
  rep.worst_out_index = o.worst;
  rep.worst_lse_index = l.worst;
  rep.ok = rep.special_mismatches == 0 && rep.out_violations == 0 && rep.lse_violations == 0;

  rep.text = format("compare: %s (%s; out atol %g rtol %g; lse atol %g)\n",
                    rep.ok ? "ok" : "FAIL", dtype_name(p.dtype), tol.out_atol, tol.out_rtol,
                    tol.lse_atol);
  rep.text += describe(p, "out", o, got.out, ref.out, tol.out_atol, tol.out_rtol, true, got_name,
                       ref_name);
  rep.text += describe(p, "lse", l, got.lse, ref.lse, tol.lse_atol, 0.0, false, got_name,
                       ref_name);
  return rep;
}

}  // namespace

// The report's strings are the only allocations: if one fails the report says FAIL (ok = false)
// with whatever text could be kept, and nothing escapes.
CompareReport compare_outputs(const HostProblem& p, const HostOutputs& got,
                              const HostOutputs& ref, const Tolerance& tol, const char* got_name,
                              const char* ref_name) {
  try {
    return compare_impl(p, got, ref, tol, got_name, ref_name);
  } catch (...) {
    CompareReport rep;
    rep.ok = false;
    try {
      rep.text = "compare: FAIL, out of host memory while writing the report\n";
    } catch (...) {
    }
    return rep;
  }
}

}  // namespace splitmla
