// Shared pieces of the experiment drivers (see common.hpp): failures, identity, dtype names, CSV.
// The rest: common_floor.cu (the floor and the shared device helpers), common_inputs.cu (inputs and
// validation), common_timing.cu (measure_point).
#include "common.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commit.hpp"  // SPLITMLA_BUILD_COMMIT, regenerated at every build
#include "tools/csv.hpp"

namespace splitmla::experiments {

// ---- failures -------------------------------------------------------------------------------

void die(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "error: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
  std::exit(1);
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) die("%s: %s (%s)", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

void check(Status s, const char* what) {
  if (s != Status::kSuccess) die("%s: %s", what, status_message(s).c_str());
}

// ---- identity -------------------------------------------------------------------------------

bool open_device(GpuInfo* info) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    std::fprintf(stderr, "skipped: no CUDA device (nothing to measure)\n");
    return false;
  }
  check_cuda(cudaSetDevice(0), "cudaSetDevice(0)");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  info->device = 0;
  info->name = prop.name;
  info->num_sms = prop.multiProcessorCount;
  info->l2_bytes = size_t(prop.l2CacheSize);
  info->total_mem = prop.totalGlobalMem;
  std::string lower;
  for (char c : info->name) lower += char(std::tolower(static_cast<unsigned char>(c)));
  std::istringstream words(lower);
  std::string w;
  while (words >> w) {
    if (w == "nvidia") continue;
    info->short_name = w;
    break;
  }
  if (info->short_name.empty()) info->short_name = "gpu";
  int version = 0;
  check_cuda(cudaRuntimeGetVersion(&version), "cudaRuntimeGetVersion");
  info->cuda = std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
  return true;
}

std::string build_commit() {
  if (const char* env = std::getenv("SPLITMLA_COMMIT"); env && *env) return env;
  std::string built = SPLITMLA_BUILD_COMMIT;
  return built.empty() ? "unknown" : built;
}

std::string today() {
  std::time_t t = std::time(nullptr);
  std::tm local{};
  localtime_r(&t, &local);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &local);
  return buf;
}

double elapsed_s() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---- policies -------------------------------------------------------------------------------

bool parse_dtype(const std::string& text, DType* d) {
  if (text == "bf16") *d = DType::kBFloat16;
  else if (text == "fp16") *d = DType::kFloat16;
  else return false;
  return true;
}

const char* dtype_short(DType d) { return d == DType::kBFloat16 ? "bf16" : "fp16"; }

// ---- CSV ------------------------------------------------------------------------------------

std::string fmt(double v, int decimals) {
  if (!(v >= 0.0) || !std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_int(int64_t v) { return std::to_string(v); }

void CsvWriter::open(const std::string& path, const std::vector<std::string>& header, bool append) {
  path_ = path;
  columns_ = header.size();
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  bool has_rows = false;
  if (append) {
    std::ifstream probe(path);
    std::string first;
    has_rows = bool(std::getline(probe, first)) && !first.empty();
  }
  f_ = std::fopen(path.c_str(), has_rows ? "a" : "w");
  if (!f_) die("cannot open %s for writing", path.c_str());
  if (!has_rows) row(header);
}

void CsvWriter::row(const std::vector<std::string>& cells) {
  if (cells.size() != columns_) die("CSV row has %zu cells, header %zu", cells.size(), columns_);
  for (size_t i = 0; i < cells.size(); ++i) {
    const bool quote = cells[i].find_first_of(",\"\n") != std::string::npos;
    if (i) std::fputc(',', f_);
    if (quote) {
      std::fputc('"', f_);
      for (char c : cells[i]) {
        if (c == '"') std::fputc('"', f_);
        std::fputc(c, f_);
      }
      std::fputc('"', f_);
    } else {
      std::fputs(cells[i].c_str(), f_);
    }
  }
  std::fputc('\n', f_);
  std::fflush(f_);
}

CsvWriter::~CsvWriter() {
  if (f_) std::fclose(f_);
}


std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  std::vector<std::map<std::string, std::string>> rows;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return rows;
  const std::vector<std::string> header = tools::split_csv_line(line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = tools::split_csv_line(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace splitmla::experiments
