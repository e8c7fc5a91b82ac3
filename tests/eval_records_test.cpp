// Prompt sets (built-in and JSONL), request records as CSV and JSON, and the per-configuration summary.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "eval/config_summary.h"
#include "eval/prompts.h"
#include "eval/records.h"
#include "hearth/error.h"

namespace hearth::eval {
namespace {

std::string write_tmp(const std::string& name, const std::string& text) {
  std::filesystem::create_directories(HEARTH_TEST_TMP);
  const std::string path = std::string(HEARTH_TEST_TMP) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(EvalPrompts, DefaultSetIsVaried) {
  const std::vector<Prompt> p = default_prompts();
  std::set<std::string> ids, kinds;
  for (const Prompt& x : p) {
    ids.insert(x.id), kinds.insert(x.kind);
    EXPECT_FALSE(x.text.empty());
    EXPECT_GT(x.max_tokens, 0);
  }
  EXPECT_EQ(ids.size(), p.size());
  EXPECT_EQ(kinds, (std::set<std::string>{"short", "long"}));
}

TEST(EvalPrompts, Jsonl) {
  const std::string path =
      write_tmp("prompts.jsonl",
                "# comment\n{\"prompt\": \"a\"}\n\n{\"prompt\": \"b\", \"id\": \"x\", \"max_tokens\": 9, "
                "\"kind\": \"long\"}\n{\"prompt\": \"c\", \"id\": 7}\n");
  const std::vector<Prompt> p = load_prompts_jsonl(path, 33);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].id, "p1");
  EXPECT_EQ(p[0].max_tokens, 33);
  EXPECT_EQ(p[1].id, "x");
  EXPECT_EQ(p[1].max_tokens, 9);
  EXPECT_EQ(p[1].kind, "long");
  EXPECT_EQ(p[2].id, "7");
}

TEST(EvalPrompts, BadJsonlNamesTheLine) {
  auto message = [](const std::string& text) {
    try {
      load_prompts_jsonl(write_tmp("bad.jsonl", text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{\"prompt\": \"a\"}\n{\"prompt\": \n").find("bad.jsonl:2: invalid JSON"), std::string::npos);
  EXPECT_NE(message("[1, 2]\n").find(":1: expected an object"), std::string::npos);
  EXPECT_NE(message("{\"prompt\": \"a\", \"max_tokens\": -3}\n").find("max_tokens"), std::string::npos);
  EXPECT_NE(
      message("{\"prompt\": \"a\", \"id\": \"d\"}\n{\"prompt\": \"b\", \"id\": \"d\"}\n").find("duplicate id 'd'"),
      std::string::npos);
  EXPECT_NE(message("\n# nothing\n").find("holds no prompts"), std::string::npos);
  EXPECT_THROW(load_prompts_jsonl(std::string(HEARTH_TEST_TMP) + "/missing.jsonl"), Error);
}

RequestRecord record(const std::string& config, double tps, double jpt, bool ok = true) {
  RequestRecord r;
  r.config = config;
  r.target = "hearth";
  r.model = "m.gguf";
  r.prompt_id = "p1";
  r.rep = 1;
  r.m.ok = ok;
  r.m.gen_tps = tps;
  r.m.gen_tokens = 10;
  r.j_per_token = jpt;
  r.device = "CPU";
  r.n_gpu_layers = 0;
  if (!ok) r.m.error = "HTTP 500: \"bad\", really";
  return r;
}

TEST(EvalRecords, CsvQuotesAndLeavesUnknownEmpty) {
  const std::string csv = records_csv({record("a, \"quoted\"", 12.5, kUnknown), record("b", 1, 2, false)});
  const std::string header = csv.substr(0, csv.find('\n'));
  EXPECT_EQ(header.rfind("config,target,model,prompt_id,rep,ok,error,prompt_tokens,prompt_tps,gen_tokens,gen_tps", 0),
            0u);
  EXPECT_NE(header.find(",ttft_ms,total_ms,temperature,n_gpu_layers,device,energy_source,mean_power_w,energy_j,"
                        "j_per_token,wh_per_token,usd_per_mtok"),
            std::string::npos);
  EXPECT_NE(csv.find("\n\"a, \"\"quoted\"\"\",hearth,m.gguf,p1,1,true,,0,,10,12.5,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",false,\"HTTP 500: \"\"bad\"\", really\","), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
}

TEST(EvalRecords, JsonHasEveryFieldAndNullForUnknown) {
  const auto j = nlohmann::json::parse(records_json({record("a", 12.5, kUnknown), record("b", 1, 2, false)}));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["config"], "a");
  EXPECT_EQ(j[0]["gen_tps"], 12.5);
  EXPECT_TRUE(j[0]["j_per_token"].is_null());
  EXPECT_TRUE(j[0]["ttft_ms"].is_null());
  EXPECT_EQ(j[0]["ok"], true);
  EXPECT_EQ(j[1]["ok"], false);
  EXPECT_EQ(j[1]["j_per_token"], 2.0);
  EXPECT_EQ(j[0].size(), 22u);
}

TEST(EvalSummary, GroupsByConfigInOrder) {
  std::vector<RequestRecord> rs;
  for (double v : {10.0, 11.0, 12.0, 13.0, 14.0}) rs.push_back(record("b", v, v / 100));
  rs.push_back(record("a", 5, 0.5));
  rs.push_back(record("b", 0, 0, false));
  const std::vector<ConfigSummary> s = summarize_configs(rs, 0.36);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].config, "b");
  EXPECT_EQ(s[0].n_ok, 5u);
  EXPECT_EQ(s[0].n_failed, 1u);
  EXPECT_DOUBLE_EQ(s[0].gen_tps.median, 12.0);
  EXPECT_DOUBLE_EQ(s[0].gen_tps.q1, 11.0);
  EXPECT_DOUBLE_EQ(s[0].gen_tps.q3, 13.0);
  // 0.12 J/token = 0.12 / 3600 Wh; per 1M tokens at 0.36 USD/kWh: 0.12e6 / 3.6e6 kWh * 0.36 = 0.012 USD
  EXPECT_NEAR(s[0].cost.usd_per_million_tokens, 0.012, 1e-12);
  EXPECT_EQ(s[0].device, "CPU");
  EXPECT_EQ(format_median_iqr(s[0].gen_tps, 1), "12.0 ± 2.0");
  EXPECT_FALSE(format_mean_std(s[0].gen_tps, 1).empty());
  EXPECT_EQ(format_ratio(0.6, 0.012), "50x");
  EXPECT_EQ(format_ratio(0.6, kUnknown), "-");
}

TEST(EvalSummary, MeanStdOnlyWithoutOutliers) {
  std::vector<RequestRecord> rs;
  for (double v : {10.0, 10.5, 11.0, 10.2, 10.8, 100.0}) rs.push_back(record("c", v, kUnknown));
  const std::vector<ConfigSummary> s = summarize_configs(rs, 0.14);
  ASSERT_EQ(s[0].gen_tps.outliers.size(), 1u);
  EXPECT_EQ(format_mean_std(s[0].gen_tps, 2), "");
  EXPECT_TRUE(std::isnan(s[0].cost.usd_per_million_tokens));  // unknown energy is never free
  const std::string table = summary_table_text(s, {{"hosted", 0.6, "src", "2026-01-01"}});
  EXPECT_NE(table.find("configuration"), std::string::npos);
  EXPECT_NE(table.find("hosted 0.60"), std::string::npos);
}

}  // namespace
}  // namespace hearth::eval
