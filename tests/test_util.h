// Helpers shared by the tests: fixture paths and running the CLI.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::test {

inline std::string fixture(const std::string& rel) { return std::string(HEARTH_FIXTURES) + "/" + rel; }

#define HEARTH_REQUIRE_FIXTURE(path)                                                       \
  do {                                                                                     \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture not found: " << (path);   \
  } while (0)

// n normally distributed values (mean 0, deviation sigma), the same for the same seed.
inline std::vector<float> random_normal(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<int> read_ids(const std::string& path) {
  std::ifstream f(path);
  std::vector<int> ids;
  for (int v; f >> v;) ids.push_back(v);
  return ids;
}

struct CommandResult {
  int status = -1;
  std::string out;  // stdout only
};

// Runs a shell command, capturing stdout (stderr goes to a file next to the test's tmp dir).
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace hearth::test
