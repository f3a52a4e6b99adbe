// Parsing and printing a split policy (include/splitmla/policy.hpp).
#include "splitmla/policy.hpp"

#include <cerrno>
#include <cstdlib>

#include "core/error.hpp"
#include "core/guard.hpp"

namespace splitmla {
namespace {

using detail::fail;

Status parse_policy_impl(const std::string& text, SplitPolicy* policy) {
  if (text == "auto") {
    *policy = SplitPolicy::automatic();
    return Status::kSuccess;
  }
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (colon != std::string::npos && (kind == "forced" || kind == "chunk")) {
    const std::string num = text.substr(colon + 1);
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(num.c_str(), &end, 10);
    const long hi = kind == "forced" ? kMaxForcedSplits : (1L << 30);
    if (!num.empty() && end != nullptr && *end == '\0' && errno == 0 && v >= 1 && v <= hi) {
      *policy = kind == "forced" ? SplitPolicy::forced(static_cast<int32_t>(v))
                                 : SplitPolicy::chunk(static_cast<int32_t>(v));
      return Status::kSuccess;
    }
    return fail(Status::kBadPolicy, "policy = '%s': N must be an integer in 1..%ld", text.c_str(),
                hi);
  }
  return fail(Status::kBadPolicy, "policy = '%s', expected auto, forced:N or chunk:N",
              text.c_str());
}

}  // namespace

Status parse_policy(const std::string& text, SplitPolicy* policy) {
  if (policy == nullptr) return fail(Status::kNullPointer, "policy = null");
  return detail::guarded("parse_policy", Status::kBadPolicy,
                         [&] { return parse_policy_impl(text, policy); });
}

const char* policy_kind_name(SplitPolicyKind kind) noexcept {
  switch (kind) {
    case SplitPolicyKind::kAuto: return "auto";
    case SplitPolicyKind::kForced: return "forced";
    case SplitPolicyKind::kChunk: return "chunk";
  }
  return "unknown";
}

std::string policy_text(SplitPolicy policy) {
  if (policy.kind == SplitPolicyKind::kAuto) return "auto";
  return std::string(policy_kind_name(policy.kind)) + ":" + std::to_string(policy.value);
}

}  // namespace splitmla
