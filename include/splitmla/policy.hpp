// The one spelling of a split policy, for every command line and report: "auto", "forced:N"
// (N split pieces, 1..kMaxForcedSplits) or "chunk:N" (pieces of N tokens, 1..2^30).
// policy_text prints what parse_policy reads, so parse_policy(policy_text(p)) == p.
#pragma once

#include <string>

#include "splitmla/export.hpp"
#include "splitmla/status.hpp"
#include "splitmla/types.hpp"

namespace splitmla {

// kSuccess and *policy set, or kBadPolicy with a message naming the field and the text
// (status_message); kNullPointer for a null `policy`.
SPLITMLA_API Status parse_policy(const std::string& text, SplitPolicy* policy);

// "auto", "forced:N" or "chunk:N".
SPLITMLA_API std::string policy_text(SplitPolicy policy);

// The kind alone, "auto" / "forced" / "chunk" (the drivers' CSV `policy` column).
SPLITMLA_API const char* policy_kind_name(SplitPolicyKind kind) noexcept;

}  // namespace splitmla
