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
  std::printf("SplitMLA headers %d.%d.%d\n", SPLITMLA_VERSION_MAJOR, SPLITMLA_VERSION_MINOR,
              SPLITMLA_VERSION_PATCH);

  expect(std::strcmp(splitmla::dtype_name(splitmla::DType::kBFloat16), "bfloat16") == 0,
         "dtype_name(kBFloat16) is \"bfloat16\"");
  expect(std::strcmp(splitmla::dtype_name(splitmla::DType::kFloat16), "float16") == 0,
         "dtype_name(kFloat16) is \"float16\"");
  expect(std::strcmp(splitmla::status_name(splitmla::Status::kBadNumHeads), "kBadNumHeads") == 0,
         "status_name(kBadNumHeads) is \"kBadNumHeads\"");

  std::printf("%s\n", failures == 0 ? "consumer: all checks passed" : "consumer: FAILED");
  return failures == 0 ? 0 : 1;
}
