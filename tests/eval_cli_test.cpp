// `hearth eval` from the command line: the lists of settings (threads, -ngl, split modes, temperatures) become one
// configuration each, in the CSV of every request; a bad list is a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "test_util.h"

namespace hearth {
namespace {

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

TEST(EvalCli, SettingListsBecomeConfigurations) {
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string dir = std::string(HEARTH_TEST_TMP) + "/eval-cli";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/prompts.jsonl") << "{\"prompt\": \"Once upon a time\", \"id\": \"a\", \"max_tokens\": 4}\n";
  auto r = test::run_command(std::string(HEARTH_BINARY) + " eval -m " + stories() +
                             " -t 1 -ngl 0 --split-mode layer,row --temp 0,0.5 -r 1 --no-warmup --power none --prompts " +
                             dir + "/prompts.jsonl --out-dir " + dir + "/out 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream csv(dir + "/out/requests.csv");
  std::string line;
  std::getline(csv, line);  // header
  std::set<std::string> configs;
  while (std::getline(csv, line)) configs.insert(line.substr(0, line.find(',')));
  EXPECT_EQ(configs.size(), 4u) << r.out;  // 2 split modes x 2 temperatures
  bool layer = false, row = false;
  for (const std::string& c : configs) layer |= c.find("split=layer") != std::string::npos, row |= c.find("split=row") != std::string::npos;
  EXPECT_TRUE(layer && row) << r.out;
  r = test::run_command(std::string(HEARTH_BINARY) + " eval -m " + stories() + " --split-mode layer,diagonal 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("'diagonal' is not layer, row or none"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hearth
