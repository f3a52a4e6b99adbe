// Uses the installed SplitMLA the way an application would: the umbrella header, the status
// text and host-side validation. Exit 0 only when every answer is the expected one.
#include <splitmla/splitmla.hpp>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

}  // namespace

int main() {
  std::printf("SplitMLA headers %s (%d), library %s\n", SPLITMLA_VERSION_STRING,
              SPLITMLA_VERSION_NUMBER, splitmla::version());
  expect(std::strcmp(splitmla::version(), SPLITMLA_VERSION_STRING) == 0,
         "the installed library's version() matches the installed headers");

  expect(std::strcmp(splitmla::dtype_name(splitmla::DType::kBFloat16), "bfloat16") == 0,
         "dtype_name(kBFloat16) is \"bfloat16\"");
  expect(std::strcmp(splitmla::dtype_name(splitmla::DType::kFloat16), "float16") == 0,
         "dtype_name(kFloat16) is \"float16\"");
  expect(std::strcmp(splitmla::status_name(splitmla::Status::kBadNumHeads), "kBadNumHeads") == 0,
         "status_name(kBadNumHeads) is \"kBadNumHeads\"");

  // A configuration whose only fault is num_heads = 0. The device ordinal and SM count are
  // given, so the host checks need no GPU.
  splitmla::DecodeConfig config;
  config.dtype = splitmla::DType::kBFloat16;
  config.num_heads = 0;
  config.q_len = 1;
  config.page_size = 64;
  config.max_batch = 4;
  config.max_pages_per_seq = 8;
  config.device = 0;
  config.num_sms = 132;
  const splitmla::Status s = splitmla::can_implement(config);
  const std::string message = splitmla::status_message(s);
  std::printf("can_implement(num_heads = 0): %s\n", message.c_str());
  expect(s == splitmla::Status::kBadNumHeads, "can_implement rejects num_heads = 0 with kBadNumHeads");
  expect(message.find("num_heads = 0") != std::string::npos, "the message names num_heads and its value");

  // The same configuration with a valid head count passes and needs some workspace.
  config.num_heads = 16;
  const splitmla::Status ok = splitmla::can_implement(config);
  std::printf("can_implement(num_heads = 16): %s\n", splitmla::status_message(ok).c_str());
  expect(ok == splitmla::Status::kSuccess, "can_implement accepts num_heads = 16");
  size_t bytes = 0;
  const splitmla::Status ws = splitmla::workspace_size(config, &bytes);
  std::printf("workspace_size: %s, %zu bytes\n", splitmla::status_name(ws), bytes);
  expect(ws == splitmla::Status::kSuccess && bytes > 0, "workspace_size reports a non-zero size");

  std::printf("%s\n", failures == 0 ? "consumer: all checks passed" : "consumer: FAILED");
  return failures == 0 ? 0 : 1;
}
