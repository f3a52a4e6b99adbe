// The shared command-line parser (lib/tools/cli.hpp): both value forms, flags, positionals and
// "--", and every usage error returning 2 with the parsed state left as it was.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "tools/cli.hpp"

namespace cli = splitmla::cli;

namespace {

// argv from a list of words; argv[0] is the program.
struct Argv {
  explicit Argv(std::vector<std::string> words) : words_(std::move(words)) {
    ptrs_.push_back(const_cast<char*>("prog"));
    for (std::string& w : words_) ptrs_.push_back(w.data());
  }
  int argc() const { return static_cast<int>(ptrs_.size()); }
  char** argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> words_;
  std::vector<char*> ptrs_;
};

struct Parsed {
  std::string out;
  int reps = 100;
  double budget = 1.0;
  bool append = false;
  std::vector<std::string> files;
};

int parse(const std::vector<std::string>& words, Parsed* p, bool with_positionals = true) {
  cli::Parser parser("prog", "prog [--out F] [--reps N] [--budget S] [--append] FILE...");
  parser.option("--out", "F", "output", &p->out)
      .int_option("--reps", "replays", 50, 1000, &p->reps)
      .number_option("--budget", "seconds", 0.5, 10.0, &p->budget)
      .flag("--append", "append", &p->append);
  if (with_positionals) parser.positionals("FILE", &p->files);
  Argv a(words);
  return parser.parse(a.argc(), a.argv());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_parser)

BOOST_AUTO_TEST_CASE(value_options_take_both_forms) {
  Parsed p;
  BOOST_TEST(parse({"--out=a.csv", "--reps", "60", "--budget=2.5", "x.h5"}, &p) == -1);
  BOOST_TEST(p.out == "a.csv");
  BOOST_TEST(p.reps == 60);
  BOOST_TEST(p.budget == 2.5);
  BOOST_TEST(p.files == std::vector<std::string>{"x.h5"});
  Parsed q;
  BOOST_TEST(parse({"--out", "b.csv", "--reps=70"}, &q) == -1);
  BOOST_TEST(q.out == "b.csv");
  BOOST_TEST(q.reps == 70);
}

BOOST_AUTO_TEST_CASE(a_value_may_hold_an_equals_sign_or_be_empty) {
  Parsed p;
  BOOST_TEST(parse({"--out=k=v.csv"}, &p) == -1);
  BOOST_TEST(p.out == "k=v.csv");
  BOOST_TEST(parse({"--out="}, &p) == -1);
  BOOST_TEST(p.out == "");
}

BOOST_AUTO_TEST_CASE(flags_and_positionals_mix_and_double_dash_ends_options) {
  Parsed p;
  BOOST_TEST(parse({"a.h5", "--append", "--", "--b.h5", "-"}, &p) == -1);
  BOOST_TEST(p.append);
  BOOST_TEST(p.files == (std::vector<std::string>{"a.h5", "--b.h5", "-"}));
}

BOOST_AUTO_TEST_CASE(help_and_version_return_zero) {
  Parsed p;
  BOOST_TEST(parse({"--help"}, &p) == cli::kExitOk);
  BOOST_TEST(parse({"-h"}, &p) == cli::kExitOk);
  BOOST_TEST(parse({"--version"}, &p) == cli::kExitOk);
  BOOST_TEST(parse({"x.h5", "--help", "--bogus"}, &p) == cli::kExitOk);  // stops at --help
}

BOOST_AUTO_TEST_CASE(usage_errors_return_two) {
  Parsed p;
  BOOST_TEST(parse({"--bogus"}, &p) == cli::kExitUsage);              // unknown option
  BOOST_TEST(parse({"--bogus=1"}, &p) == cli::kExitUsage);            // unknown, = form
  BOOST_TEST(parse({"-x"}, &p) == cli::kExitUsage);                   // unknown short option
  BOOST_TEST(parse({"--out"}, &p) == cli::kExitUsage);                // missing value
  BOOST_TEST(parse({"--append=yes"}, &p) == cli::kExitUsage);         // flag given a value
  BOOST_TEST(parse({"--reps", "49"}, &p) == cli::kExitUsage);         // below the range
  BOOST_TEST(parse({"--reps", "1001"}, &p) == cli::kExitUsage);       // above the range
  BOOST_TEST(parse({"--reps", "60x"}, &p) == cli::kExitUsage);        // trailing text
  BOOST_TEST(parse({"--reps="}, &p) == cli::kExitUsage);              // empty number
  BOOST_TEST(parse({"--budget", "nan"}, &p) == cli::kExitUsage);      // not in range
  BOOST_TEST(parse({"a.h5"}, &p, false) == cli::kExitUsage);          // no positionals taken
  // Nothing was applied by the rejected values.
  BOOST_TEST(p.reps == 100);
  BOOST_TEST(p.budget == 1.0);
  BOOST_TEST(p.files.empty());
}

BOOST_AUTO_TEST_CASE(number_parsers_reject_partial_and_out_of_range_text) {
  long long i = 0;
  BOOST_TEST(cli::parse_int("-5", -10, 10, &i));
  BOOST_TEST(i == -5);
  BOOST_TEST(!cli::parse_int("99999999999999999999", 0, 1LL << 62, &i));  // overflows
  BOOST_TEST(!cli::parse_int("1.5", 0, 10, &i));
  BOOST_TEST(!cli::parse_int(" ", 0, 10, &i));
  double d = 0;
  BOOST_TEST(cli::parse_number("1e3", 0, 1e4, &d));
  BOOST_TEST(d == 1000.0);
  BOOST_TEST(!cli::parse_number("inf", 0, 1e300, &d));
  BOOST_TEST(!cli::parse_number("3s", 0, 10, &d));
}

BOOST_AUTO_TEST_SUITE_END()
