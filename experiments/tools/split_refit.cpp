// splitmla_split_refit: re-fits the automatic split policy's constants to a split-count study
// (splitmla_study's CSV), on the CPU.
//
//   splitmla_split_refit [options] STUDY.csv
//
// For every candidate set of constants (a grid over the request overhead, the minimum share, the
// split penalty, the per-piece cost and the even shape's minimum length and slack of
// lib/core/split_rule.hpp) it runs the auto rule itself
// (split_rule's functions, the passes of lib/kernels/planner/planner.cu on the host) at every
// (heads, batch, context) point of the study, all requests of a point being `context` long as in
// the study, and estimates the time of the resulting plan from the measured forced counts:
//
//   effective splits s = pieces / batch (1 when the rule keeps requests whole);
//   --lookup interp (default): the measured forced times at the two forced counts around s,
//                        interpolated linearly in log2(count) (clamped to the smallest and
//                        largest count measured);
//   --lookup nearest:    the measured time of the forced count nearest to s in log2.
//   --measured-auto:     besides, where the candidate's plan is the plan the study's auto row
//                        measured (same pieces, same most splits of one request), that row's
//                        measured time. Today's constants then score exactly what the auto rows
//                        measured; a changed plan is still read off the forced counts.
//
// The forced-count estimate does not see how a plan's pieces fall on the CTAs: auto cuts at
// share boundaries, so with more pieces than work CTAs a CTA may hold two short pieces. The tool
// prints how the estimate compares with the measured auto rows ("estimate check"): read a
// candidate's score with that in mind, and confirm a new fit with the study itself.
//
// Each candidate is scored against the best forced count of every point: the points whose
// estimate is within --tol (10%) of it, the worst ratio and the geometric mean ratio; ranked by
// points within, then geometric mean, then worst ratio. The per-piece cost may differ per head
// count (per kernel family where a `part1` column says which kernel ran): one value per group.
//
// The work CTA count of a point is what the planner uses: SMs / row blocks (plan_bounds). Row
// blocks come from a forced row (grid_ctas / (batch * splits)); SMs from the point's auto row
// (grid_ctas = work_ctas * row blocks), or --num-sms when the CSV has no auto rows.
//
// The study's own auto rows are also summarised: measured auto time against the best forced count
// (the figure the README quotes), and whether the rule run here with the constants the study was
// planned with (today's, or --study-constants for a study made before they changed) gives the
// plan the device planner gave (pieces and most splits of one request): a check of this tool.
//
// Exits 0 after printing, 1 when the CSV cannot be used, 2 on a usage error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/split_rule.hpp"
#include "tools/cli.hpp"
#include "tools/csv.hpp"

namespace {

namespace sr = splitmla::split_rule;

struct Options {
  std::string overheads = "0,32,64,128,256,512";
  std::string min_per_cta = "32,64,128,256,512,1024,2048";
  std::string penalties = "0,64,192,512,1024,2048,4096";
  std::string piece_costs = "0,32,64,128,256,512,1024";
  std::string even_min_lens = std::to_string(sr::kAutoEvenMinLen);
  std::string even_slacks = std::to_string(sr::kAutoEvenSlack);
  bool shared_piece_cost = false;
  std::string lookup = "interp";
  double tol = 0.10;
  int top = 10;
  int num_sms = 0;
  bool measured_auto = false;
  std::string study_constants;  // empty: today's (lib/core/split_rule.hpp)
  std::vector<std::string> files;
};

struct Point {
  std::string group;  // heads (and part1 kernel where the CSV says): the piece-cost group
  int heads = 0, batch = 0;
  long long context = 0;
  std::map<int, double> forced;  // split count -> measured time (us)
  int row_blocks = 0;
  int work_ctas = 0;
  bool have_auto = false;
  double auto_time = 0;
  int auto_pieces = 0, auto_splits = 0;
  // The part1 key tile the rule aligns pieces to (Plan::key_tile): the study's key_tile column,
  // or for a study made before it had one, the 16-bit tile of the point's part1 family (mma_sync
  // 32, wgmma 64; 1 when the CSV does not say which kernel ran). planned_tile: the tile the
  // study's own auto rows were planned with (its column; 1, no alignment, before it existed).
  int key_tile = 1, planned_tile = 1;
  double best = 0;
  int best_count = 0;
};

struct Plan {
  int pieces = 0, splits_max = 0;
  bool whole = false;
};

// The device planner's auto passes for one batch (split_rule::plan_auto_host): pieces and most
// pieces of one request.
Plan plan_auto(const std::vector<long long>& n, int work_ctas, sr::AutoConstants k,
               int key_tile) {
  k.key_tile = key_tile;
  Plan plan;
  auto count_pieces = [&](size_t, long long, long long, int count, const sr::AutoPlanHost&) {
    plan.pieces += count;
    plan.splits_max = std::max(plan.splits_max, count);
  };
  plan.whole = sr::plan_auto_host(n, work_ctas, k, count_pieces).whole;
  return plan;
}

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "splitmla_split_refit: %s\n", why.c_str());
  std::exit(splitmla::cli::kExitFail);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "splitmla_split_refit: %s\ntry 'splitmla_split_refit --help'\n",
               why.c_str());
  std::exit(splitmla::cli::kExitUsage);
}

std::vector<int> int_list(const std::string& name, const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > (1L << 30))
      usage(name + " " + text + ": expected comma-separated integers in 0..2^30");
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) usage(name + " is empty");
  return out;
}

// Reads the study CSV (lines starting with '#' are comments) into points.
std::vector<Point> read_points(const std::string& path, int num_sms) {
  std::ifstream in(path);
  if (!in) fail(path + ": cannot open");
  std::string line;
  std::vector<std::string> header;
  std::map<std::string, int> col;
  std::map<std::string, Point> points;
  std::vector<std::string> order;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> cells = splitmla::tools::split_csv_line(line);
    if (header.empty()) {
      header = cells;
      for (size_t i = 0; i < header.size(); ++i) col[header[i]] = static_cast<int>(i);
      for (const char* need : {"heads", "batch", "context", "policy", "splits", "time_us",
                               "grid_ctas"})
        if (!col.count(need)) fail(path + ": no '" + need + "' column");
      continue;
    }
    auto get = [&](const char* name) -> std::string {
      auto it = col.find(name);
      if (it == col.end() || it->second >= static_cast<int>(cells.size())) return "";
      return cells[it->second];
    };
    auto num = [&](const char* name) -> long long {
      const std::string s = get(name);
      char* end = nullptr;
      const long long v = std::strtoll(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0')
        fail(path + ":" + std::to_string(line_no) + ": " + name + " = '" + s +
             "', expected an integer");
      return v;
    };
    const std::string policy = get("policy");
    if (policy != "forced" && policy != "auto") continue;  // chunk rows: not a split count
    const int heads = static_cast<int>(num("heads"));
    const int batch = static_cast<int>(num("batch"));
    const long long context = num("context");
    const std::string part1 = get("part1");
    const std::string variant = get("variant");
    const std::string group =
        "heads " + std::to_string(heads) + (part1.empty() ? "" : " " + part1);
    const std::string key = variant + "|" + group + "|" + std::to_string(batch) + "|" +
                            std::to_string(context);
    const double t = std::atof(get("time_us").c_str());
    if (!(t > 0)) fail(path + ":" + std::to_string(line_no) + ": time_us = '" + get("time_us") + "'");
    if (!points.count(key)) order.push_back(key);
    Point& p = points[key];
    p.group = group;
    p.heads = heads;
    p.batch = batch;
    p.context = context;
    if (!get("key_tile").empty()) {
      p.key_tile = p.planned_tile = static_cast<int>(num("key_tile"));
      if (p.key_tile < 1)
        fail(path + ":" + std::to_string(line_no) + ": key_tile = " + get("key_tile"));
    } else {
      p.key_tile = part1 == "wgmma" ? 64 : part1 == "mma_sync" ? 32 : 1;
      p.planned_tile = 1;
    }
    const long long grid = num("grid_ctas");
    if (policy == "forced") {
      const int s = static_cast<int>(num("splits"));
      p.forced[s] = t;
      const long long pieces = static_cast<long long>(batch) * s;
      if (grid % pieces != 0)
        fail(path + ":" + std::to_string(line_no) + ": grid_ctas " + std::to_string(grid) +
             " is not a multiple of batch x splits");
      const int rb = static_cast<int>(grid / pieces);
      if (p.row_blocks != 0 && p.row_blocks != rb)
        fail(path + ":" + std::to_string(line_no) + ": row blocks " + std::to_string(rb) +
             " differ from " + std::to_string(p.row_blocks) + " of the same point");
      p.row_blocks = rb;
    } else {
      p.have_auto = true;
      p.auto_time = t;
      p.auto_splits = static_cast<int>(num("splits"));
      p.auto_pieces = get("pieces").empty() ? 0 : static_cast<int>(num("pieces"));
      p.work_ctas = static_cast<int>(grid);  // work CTAs x row blocks; divided below
    }
  }
  std::vector<Point> out;
  for (const std::string& key : order) {
    Point p = points[key];
    if (p.forced.empty() || p.row_blocks == 0) {
      std::fprintf(stderr, "note: %s batch %d context %lld has no forced rows: left out\n",
                   p.group.c_str(), p.batch, p.context);
      continue;
    }
    if (num_sms > 0) {
      p.work_ctas = std::max(1, num_sms / p.row_blocks);
    } else if (p.have_auto) {
      p.work_ctas = std::max(1, p.work_ctas / p.row_blocks);
    } else {
      fail(path + ": " + p.group + " batch " + std::to_string(p.batch) + " context " +
           std::to_string(p.context) + " has no auto row: give --num-sms");
    }
    p.best = 1e300;
    for (const auto& [s, t] : p.forced)
      if (t < p.best) {
        p.best = t;
        p.best_count = s;
      }
    out.push_back(p);
  }
  if (out.empty()) fail(path + ": no point with forced rows");
  return out;
}

// The estimated time of a plan with `s` effective splits per request (see the header comment).
double estimate(const Point& p, double s, bool interp) {
  const auto& f = p.forced;
  if (s <= f.begin()->first) return f.begin()->second;
  if (s >= f.rbegin()->first) return f.rbegin()->second;
  auto hi = f.lower_bound(static_cast<int>(std::ceil(s)));
  auto lo = std::prev(hi);
  if (hi->first == s) return hi->second;
  const double x0 = std::log2(lo->first), x1 = std::log2(hi->first), x = std::log2(s);
  const double u = (x - x0) / (x1 - x0);
  if (!interp) return u < 0.5 ? lo->second : hi->second;
  return lo->second + u * (hi->second - lo->second);
}

// The time a candidate's plan is scored with at point p (estimate, or the measured auto time
// where --measured-auto and the plan is the measured one).
double plan_time(const Point& p, const Plan& plan, bool interp, bool measured_auto) {
  if (measured_auto && p.have_auto && plan.pieces == p.auto_pieces &&
      plan.splits_max == p.auto_splits)
    return p.auto_time;
  return estimate(p, double(plan.pieces) / p.batch, interp);
}

struct Score {
  int within = 0, n = 0;
  double worst = 0, log_sum = 0;
  double geomean() const { return std::exp(log_sum / n); }
  void add(double ratio, double tol) {
    ++n;
    if (ratio <= 1.0 + tol) ++within;
    worst = std::max(worst, ratio);
    log_sum += std::log(ratio);
  }
  bool better(const Score& o) const {
    if (within != o.within) return within > o.within;
    if (std::abs(log_sum - o.log_sum) > 1e-12) return log_sum < o.log_sum;
    return worst < o.worst;
  }
};

std::string score_text(const Score& s, double tol) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%d of %d within %g%% (%.1f%%), worst %.3f, geomean %.4f",
                s.within, s.n, tol * 100, 100.0 * s.within / s.n, s.worst, s.geomean());
  return buf;
}

struct Candidate {
  int overhead, min_per_cta, penalty;
  std::vector<int> piece_cost;  // one per group
  int even_min_len, even_slack;
  Score score;
};

// The constants of a candidate for one group's piece cost.
sr::AutoConstants constants(int overhead, int min_per_cta, int penalty, int piece_cost,
                            int even_min_len, int even_slack) {
  sr::AutoConstants k{overhead, min_per_cta, penalty, piece_cost};
  k.even_min_len = even_min_len;
  k.even_slack = even_slack;
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  splitmla::cli::Parser cli(
      "splitmla_split_refit", "splitmla_split_refit [options] STUDY.csv",
      "Re-fits the auto split rule's constants (lib/core/split_rule.hpp) to a split-count "
      "study: runs the rule for a grid of candidates at every point and scores the estimated "
      "time against the best forced count.");
  cli.option("--overheads", "LIST", "request overheads to try, comma-separated (default " + o.overheads + ")", &o.overheads)
      .option("--min-per-cta", "LIST", "minimum shares to try (default " + o.min_per_cta + ")", &o.min_per_cta)
      .option("--penalties", "LIST", "split penalties to try (default " + o.penalties + ")", &o.penalties)
      .option("--piece-costs", "LIST", "per-piece costs to try, 0 = off (default " + o.piece_costs + ")", &o.piece_costs)
      .option("--even-min-lens", "LIST",
              "even-shape minimum piece lengths to try (default " + o.even_min_lens + ")",
              &o.even_min_lens)
      .option("--even-slacks", "LIST",
              "even-shape slacks to try, pieces up to share + share / SLACK, 0 = off (default " +
                  o.even_slacks + ")",
              &o.even_slacks)
      .flag("--shared-piece-cost", "one per-piece cost for all head counts (default: one each)",
            &o.shared_piece_cost)
      .option("--lookup", "interp|nearest", "how a plan's time is read off the forced counts (default interp)",
              &o.lookup)
      .number_option("--tol", "a point counts as within when ratio <= 1 + TOL (default 0.10)", 0, 10, &o.tol)
      .int_option("--top", "candidates to print (default 10)", 1, 1000, &o.top)
      .int_option("--num-sms", "SMs (default: from the study's auto rows)", 0, 1 << 20,
                  &o.num_sms)
      .option("--study-constants", "O,M,P,C[,E,S]",
              "the constants the study's auto rows were planned with: request overhead, minimum "
              "share, split penalty, per-piece cost, and the even shape's minimum length and "
              "slack (without them: no even shape, as before it existed; default: today's)",
              &o.study_constants)
      .flag("--measured-auto",
            "use the study's measured auto time where a candidate's plan is the measured one",
            &o.measured_auto)
      .positionals("STUDY.csv", &o.files);
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) return rc;
  if (o.files.size() != 1) usage("expected one study CSV, got " + std::to_string(o.files.size()));
  if (o.lookup != "interp" && o.lookup != "nearest")
    usage("--lookup " + o.lookup + ": expected interp or nearest");
  const bool interp = o.lookup == "interp";
  const std::vector<int> overheads = int_list("--overheads", o.overheads);
  const std::vector<int> mins = int_list("--min-per-cta", o.min_per_cta);
  const std::vector<int> penalties = int_list("--penalties", o.penalties);
  const std::vector<int> piece_costs = int_list("--piece-costs", o.piece_costs);
  const std::vector<int> even_mins = int_list("--even-min-lens", o.even_min_lens);
  const std::vector<int> even_slacks = int_list("--even-slacks", o.even_slacks);
  for (int m : mins)
    if (m < 1) usage("--min-per-cta: a share of at least 1 unit");
  // The constants the study was planned with (today's unless --study-constants says otherwise).
  sr::AutoConstants planned{};
  const bool given = !o.study_constants.empty();
  if (given) {
    const std::vector<int> v = int_list("--study-constants", o.study_constants);
    if (v.size() != 4 && v.size() != 6)
      usage("--study-constants " + o.study_constants + ": expected 4 or 6 integers");
    if (v[1] < 1) usage("--study-constants: a minimum share of at least 1 unit");
    planned = constants(v[0], v[1], v[2], v[3], v.size() == 6 ? v[4] : 0, v.size() == 6 ? v[5] : 0);
  }
  const char* which = given ? "the study's (--study-constants)" : "today's";

  const std::vector<Point> points = read_points(o.files[0], o.num_sms);
  std::vector<std::string> groups;
  for (const Point& p : points)
    if (std::find(groups.begin(), groups.end(), p.group) == groups.end()) groups.push_back(p.group);
  std::vector<int> group_of(points.size());
  for (size_t i = 0; i < points.size(); ++i)
    group_of[i] = static_cast<int>(std::find(groups.begin(), groups.end(), points[i].group) -
                                   groups.begin());

  std::printf("%s: %zu points in %zu groups (", o.files[0].c_str(), points.size(), groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    int count = 0;
    for (int gi : group_of) count += gi == static_cast<int>(g);
    std::printf("%s%s: %d", g ? ", " : "", groups[g].c_str(), count);
  }
  std::printf("); lookup %s on log2(splits)%s; within = ratio <= %g\n", o.lookup.c_str(),
              o.measured_auto ? ", measured auto time where the plan is the measured one" : "",
              1.0 + o.tol);

  // The study's own auto rows: measured, and the plan this rule gives with `planned`.
  Score measured, calib;
  int with_auto = 0, same_plan = 0;
  for (const Point& p : points) {
    if (!p.have_auto) continue;
    ++with_auto;
    measured.add(p.auto_time / p.best, o.tol);
    const Plan plan = plan_auto(std::vector<long long>(p.batch, p.context), p.work_ctas, planned, p.planned_tile);
    if (plan.pieces == p.auto_pieces && plan.splits_max == p.auto_splits) ++same_plan;
    else
      std::printf("  plan differs: %s batch %d context %lld: rule %d pieces (most %d), study %d "
                  "(most %d)\n", p.group.c_str(), p.batch, p.context, plan.pieces,
                  plan.splits_max, p.auto_pieces, p.auto_splits);
    calib.add(p.auto_time / estimate(p, double(plan.pieces) / p.batch, interp), 0);
  }
  if (with_auto > 0) {
    std::printf("measured auto (the study's auto rows): %s\n", score_text(measured, o.tol).c_str());
    std::printf("rule with %s constants gives the study's auto plan at %d of %d points\n", which,
                same_plan, with_auto);
    std::printf("estimate check: measured auto / estimate of its plan: geomean %.4f, "
                "worst %.3f\n", calib.geomean(), calib.worst);
  }

  // Plans depend on the constants and the point only: cache the effective splits per point for
  // each (overhead, min, penalty, piece cost), then combine the per-group piece costs.
  const size_t np = piece_costs.size(), ng = groups.size();
  // Ranked by score; among equal scores, grid order (the lists as given) decides.
  std::vector<Candidate> ranked;
  Score best_seen;
  long long ties = 0;  // candidates with the best score
  auto consider = [&](Candidate c) {
    if (ties == 0 || c.score.better(best_seen)) {
      best_seen = c.score;
      ties = 1;
    } else if (!best_seen.better(c.score)) {
      ++ties;
    }
    ranked.push_back(c);
    std::stable_sort(ranked.begin(), ranked.end(),
              [](const Candidate& a, const Candidate& b) { return a.score.better(b.score); });
    if (ranked.size() > static_cast<size_t>(o.top)) ranked.pop_back();
  };
  Candidate current{planned.request_overhead, planned.min_per_cta, planned.split_penalty,
                    std::vector<int>(ng, planned.piece_cost), planned.even_min_len,
                    planned.even_slack, {}};
  bool current_in_grid = false;
  long long tried = 0;
  for (int oh : overheads)
    for (int mn : mins)
      for (int pen : penalties)
        for (int emin : even_mins)
          for (int eslack : even_slacks) {
            // ratios[pc][point]
            std::vector<std::vector<double>> ratio(np, std::vector<double>(points.size()));
            for (size_t c = 0; c < np; ++c) {
              const sr::AutoConstants k = constants(oh, mn, pen, piece_costs[c], emin, eslack);
              for (size_t i = 0; i < points.size(); ++i) {
                const Point& p = points[i];
                const Plan plan =
                    plan_auto(std::vector<long long>(p.batch, p.context), p.work_ctas, k, p.key_tile);
                ratio[c][i] = plan_time(p, plan, interp, o.measured_auto) / p.best;
              }
            }
            // Every combination of per-group piece costs (or one shared value).
            std::vector<size_t> pick(ng, 0);
            while (true) {
              Candidate cand{oh, mn, pen, {}, emin, eslack, {}};
              for (size_t g = 0; g < ng; ++g) cand.piece_cost.push_back(piece_costs[pick[g]]);
              for (size_t i = 0; i < points.size(); ++i)
                cand.score.add(ratio[pick[group_of[i]]][i], o.tol);
              ++tried;
              bool is_current = oh == current.overhead && mn == current.min_per_cta &&
                                pen == current.penalty && emin == current.even_min_len &&
                                eslack == current.even_slack;
              for (int v : cand.piece_cost) is_current = is_current && v == planned.piece_cost;
              if (is_current) {
                current.score = cand.score;
                current_in_grid = true;
              }
              consider(cand);
              if (o.shared_piece_cost) {
                if (++pick[0] == np) break;
                for (size_t g = 1; g < ng; ++g) pick[g] = pick[0];
                continue;
              }
              size_t g = 0;
              while (g < ng && ++pick[g] == np) pick[g++] = 0;
              if (g == ng) break;
            }
          }
  if (!current_in_grid) {
    for (size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      const Plan plan = plan_auto(std::vector<long long>(p.batch, p.context), p.work_ctas, planned, p.key_tile);
      current.score.add(plan_time(p, plan, interp, o.measured_auto) / p.best, o.tol);
    }
  }

  auto describe = [&](const Candidate& c) {
    std::string s = "overhead " + std::to_string(c.overhead) + " min_per_cta " +
                    std::to_string(c.min_per_cta) + " penalty " + std::to_string(c.penalty) +
                    " even " + std::to_string(c.even_min_len) + "/" +
                    std::to_string(c.even_slack) + " piece_cost";
    if (o.shared_piece_cost) return s + " " + std::to_string(c.piece_cost[0]);
    for (size_t g = 0; g < ng; ++g)
      s += (g ? ", " : " ") + groups[g] + ": " + std::to_string(c.piece_cost[g]);
    return s;
  };
  std::printf("%s constants (%s): %s\n", given ? "study" : "current", describe(current).c_str(),
              score_text(current.score, o.tol).c_str());
  std::printf("%lld candidates tried; best:\n", tried);
  for (size_t i = 0; i < ranked.size(); ++i)
    std::printf("%2zu. %s: %s\n", i + 1, describe(ranked[i]).c_str(),
                score_text(ranked[i].score, o.tol).c_str());

  if (ties == 1)
    std::printf("the best score is the best candidate's alone\n");
  else
    std::printf("%lld candidates share the best score (the data cannot tell them apart)\n", ties);

  // Where the best candidate misses.
  if (!ranked.empty()) {
    const Candidate& b = ranked.front();
    std::printf("best candidate, point by point (misses):\n");
    int shown = 0;
    for (size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      const sr::AutoConstants k = constants(b.overhead, b.min_per_cta, b.penalty,
                                            b.piece_cost[group_of[i]], b.even_min_len,
                                            b.even_slack);
      const Plan plan = plan_auto(std::vector<long long>(p.batch, p.context), p.work_ctas, k, p.key_tile);
      const double s = double(plan.pieces) / p.batch;
      const double r = plan_time(p, plan, interp, o.measured_auto) / p.best;
      if (r > 1.0 + o.tol) {
        std::printf("  %s batch %d context %lld: %.2f splits/request, best forced %d, ratio %.3f\n",
                    p.group.c_str(), p.batch, p.context, s, p.best_count, r);
        ++shown;
      }
    }
    if (shown == 0) std::printf("  none\n");
  }
  return 0;
}
