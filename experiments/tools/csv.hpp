// One line of the CSV files the experiment drivers write (experiments/common.cu's CsvWriter):
// cells split at commas, double quotes around a cell with a comma, quote or newline (a doubled
// quote inside is one quote), a carriage return dropped. Header-only: the drivers and the host
// tools (splitmla_split_refit) read their files through it.
#pragma once

#include <string>
#include <vector>

namespace splitmla::tools {

inline std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cells.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else cells.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c != '\r') {
      cells.back() += c;
    }
  }
  return cells;
}

}  // namespace splitmla::tools
