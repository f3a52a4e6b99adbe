// One command-line convention for every SplitMLA executable (the splitmla_fixture tool and the
// experiment drivers). Header-only, no dependency beyond the standard library.
//
//   --help, -h        usage on stdout, exit 0
//   --version         "<program> (SplitMLA) X.Y.Z" on stdout (the loaded library's version()),
//                     exit 0
//   --opt value       and --opt=value alike
//   --                ends the options: what follows is positional
//   unknown options, missing or malformed values, unexpected positionals: a message naming the
//   argument on stderr, then "try '<program> --help'", exit 2
//
// Exit codes shared by every executable: 0 success, 1 failure, 2 usage error, 77 skipped
// (no CUDA device; CTest's SKIP_RETURN_CODE). Messages about failures go to stderr.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "splitmla/version.hpp"

namespace splitmla::cli {

enum Exit : int { kExitOk = 0, kExitFail = 1, kExitUsage = 2, kExitSkipped = 77 };

// Parses `text` as a whole decimal integer in [lo, hi].
inline bool parse_int(const std::string& text, long long lo, long long hi, long long* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || v < lo || v > hi) return false;
  *value = v;
  return true;
}

// Parses `text` as a whole finite number in [lo, hi].
inline bool parse_number(const std::string& text, double lo, double hi, double* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == nullptr || *end != '\0' || !(v >= lo && v <= hi)) return false;
  *value = v;
  return true;
}

class Parser {
 public:
  // A value option's handler: applies `value`, returns "" or what is wrong with it.
  using Setter = std::function<std::string(const std::string& value)>;

  // `program`: the name in messages ("splitmla_fixture replay"); `synopsis`: the usage line(s)
  // after "usage: "; `about`: optional text printed under them by --help.
  Parser(std::string program, std::string synopsis, std::string about = "")
      : program_(std::move(program)), synopsis_(std::move(synopsis)), about_(std::move(about)) {}

  // A flag without a value.
  Parser& flag(const std::string& name, const std::string& help, std::function<void()> on) {
    options_.push_back({name, "", help, false, [on](const std::string&) {
                          on();
                          return std::string();
                        }});
    return *this;
  }
  Parser& flag(const std::string& name, const std::string& help, bool* target) {
    return flag(name, help, [target] { *target = true; });
  }

  // An option taking one value (`metavar` names it in the usage text).
  Parser& option(const std::string& name, const std::string& metavar, const std::string& help,
                 Setter set) {
    options_.push_back({name, metavar, help, true, std::move(set)});
    return *this;
  }
  Parser& option(const std::string& name, const std::string& metavar, const std::string& help,
                 std::string* target) {
    return option(name, metavar, help, [target](const std::string& v) {
      *target = v;
      return std::string();
    });
  }
  // Integer option in [lo, hi].
  template <class Int>
  Parser& int_option(const std::string& name, const std::string& help, long long lo, long long hi,
                     Int* target) {
    return option(name, "N", help, [=](const std::string& v) {
      long long x = 0;
      if (!parse_int(v, lo, hi, &x))
        return "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
      *target = static_cast<Int>(x);
      return std::string();
    });
  }
  // Number option in [lo, hi].
  Parser& number_option(const std::string& name, const std::string& help, double lo, double hi,
                        double* target) {
    return option(name, "X", help, [=](const std::string& v) {
      double x = 0;
      if (!parse_number(v, lo, hi, &x))
        return "must be a number in " + trim_number(lo) + ".." + trim_number(hi);
      *target = x;
      return std::string();
    });
  }

  // Accept positional arguments (`metavar` names them in --help); without this call a
  // positional argument is a usage error.
  Parser& positionals(const std::string& metavar, std::vector<std::string>* out) {
    positional_name_ = metavar;
    positionals_ = out;
    return *this;
  }

  // Parses argv[first..argc). Returns -1 when the program should go on; otherwise the exit code
  // to return at once: 0 after --help or --version, kExitUsage after a usage error (printed).
  int parse(int argc, char** argv, int first = 1) const {
    bool options_done = false;
    for (int i = first; i < argc; ++i) {
      const std::string a = argv[i];
      if (options_done || a.size() < 2 || a[0] != '-') {
        if (positionals_ == nullptr) return usage_error("unexpected argument '" + a + "'");
        positionals_->push_back(a);
        continue;
      }
      if (a == "--") {
        options_done = true;
        continue;
      }
      if (a == "--help" || a == "-h") {
        print_help(stdout);
        return kExitOk;
      }
      if (a == "--version") {
        std::printf("%s (SplitMLA) %s\n", program_.c_str(), splitmla::version());
        return kExitOk;
      }
      const size_t eq = a.find('=');
      const std::string name = a.substr(0, eq);
      const Option* o = find(name);
      if (o == nullptr) return usage_error("unknown option '" + name + "'");
      std::string value;
      if (!o->takes_value) {
        if (eq != std::string::npos) return usage_error(name + " takes no value");
      } else if (eq != std::string::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return usage_error(name + " needs a value (" + o->metavar + ")");
      }
      const std::string why = o->set(value);
      if (!why.empty())
        return usage_error(o->takes_value ? name + " " + value + ": " + why : name + ": " + why);
    }
    return -1;
  }

  // Prints "<program>: <message>" and the --help hint on stderr; returns kExitUsage.
  int usage_error(const std::string& message) const {
    std::fprintf(stderr, "%s: %s\nusage: %s\ntry '%s --help'\n", program_.c_str(),
                 message.c_str(), synopsis_.c_str(), program_.c_str());
    return kExitUsage;
  }

  void print_help(std::FILE* f) const {
    std::fprintf(f, "usage: %s\n", synopsis_.c_str());
    if (!about_.empty()) std::fprintf(f, "\n%s\n", about_.c_str());
    std::fprintf(f, "\noptions:\n");
    for (const Option& o : options_) {
      const std::string head = o.takes_value ? o.name + " " + o.metavar : o.name;
      std::fprintf(f, "  %-24s %s\n", head.c_str(), o.help.c_str());
    }
    std::fprintf(f, "  %-24s %s\n  %-24s %s\n", "--help, -h", "this text", "--version",
                 "the SplitMLA version");
    if (positionals_ != nullptr)
      std::fprintf(f, "  %-24s %s\n", (positional_name_ + "...").c_str(),
                   "operands (after '--' even when they start with '-')");
    std::fprintf(f, "\nexit status: 0 success, 1 failure, 2 usage error, 77 skipped (no CUDA "
                    "device)\n");
  }

  const std::string& program() const { return program_; }

 private:
  struct Option {
    std::string name, metavar, help;
    bool takes_value;
    Setter set;
  };

  const Option* find(const std::string& name) const {
    for (const Option& o : options_)
      if (o.name == name) return &o;
    return nullptr;
  }

  static std::string trim_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }

  std::string program_, synopsis_, about_;
  std::vector<Option> options_;
  std::string positional_name_;
  std::vector<std::string>* positionals_ = nullptr;
};

}  // namespace splitmla::cli
