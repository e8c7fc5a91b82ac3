// The HTML report: self-contained (no external resources), escaped, one box per configuration in both plots,
// and rendered by headless Chromium (skipped when no chromium is installed; CI installs Debian's package).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "eval/box_plot_svg.h"
#include "eval/config_summary.h"
#include "eval/report_html.h"
#include "test_util.h"

namespace hearth::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::vector<RequestRecord> sample_records() {
  std::vector<RequestRecord> rs;
  const std::vector<std::pair<std::string, std::vector<double>>> configs = {
      {"hearth <m>.gguf t=2 T=0", {30, 31, 32, 33, 34, 90}},  // 90: an outlier
      {"endpoint llama-server T=0", {28, 29, 30, 31, 29.5, 30.5}}};
  for (const auto& [config, speeds] : configs)
    for (size_t i = 0; i < speeds.size(); ++i) {
      RequestRecord r;
      r.config = config;
      r.target = "hearth";
      r.prompt_id = "p" + std::to_string(i);
      r.rep = 1;
      r.m.gen_tps = speeds[i];
      r.m.gen_tokens = 64;
      r.m.prompt_tokens = 20;
      r.m.prompt_tps = 200;
      r.m.ttft_ms = 100;
      r.m.total_ms = 2000;
      r.energy_j = 24;
      r.j_per_token = 12.0 / speeds[i];
      r.device = "CPU";
      rs.push_back(r);
    }
  RequestRecord failed = rs.back();
  failed.m.ok = false;
  failed.m.error = "timed out after 5 s";
  rs.push_back(failed);
  return rs;
}

std::string sample_report() {
  const std::vector<RequestRecord> rs = sample_records();
  ReportInfo info;
  info.title = "test report";
  info.energy_note = "estimate: 12 W";
  info.n_prompts = 6;
  info.reps = 1;
  return render_html_report(rs, summarize_configs(rs, 0.14), {{"gpt-4o-mini", 0.6, "https://example", "2026-01-01"}},
                            info);
}

TEST(EvalReport, SelfContainedWithPlotsAndCostTable) {
  const std::string html = sample_report();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<svg class=\"boxplot\""), 2u);  // tokens/s and J/token
  EXPECT_EQ(count(html, "<g class=\"box\""), 4u);        // two configurations in each
  EXPECT_GE(count(html, "class=\"outlier\""), 2u);       // the 90 tokens/s request in both plots
  EXPECT_NE(html.find("hearth &lt;m&gt;.gguf"), std::string::npos);
  EXPECT_EQ(html.find("<m>"), std::string::npos);
  EXPECT_NE(html.find("gpt-4o-mini"), std::string::npos);
  EXPECT_NE(html.find("timed out after 5 s"), std::string::npos);
  EXPECT_NE(html.find("estimate: 12 W"), std::string::npos);
  // Nothing fetched from the network: no scripts, stylesheets or images by URL.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex("(src|href)=\"https?:")));
}

TEST(EvalReport, BoxPlotOfNoDataSaysSo) {
  const std::string svg = box_plot_svg("t", "u", {{"empty", Summary{}}});
  EXPECT_NE(svg.find("no data"), std::string::npos);
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
    if (test::run_command(std::string("command -v ") + name + " >/dev/null 2>&1").status == 0) return name;
  return "";
}

TEST(EvalReport, RendersInHeadlessChromium) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (Debian: apt-get install chromium)";
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(HEARTH_TEST_TMP) / "eval-report";
  fs::create_directories(dir);
  const fs::path html = dir / "report.html", png = dir / "report.png";
  std::ofstream(html) << sample_report();
  fs::remove(png);
  const std::string flags = " --headless --disable-gpu --no-sandbox --hide-scrollbars 2>/dev/null ";
  // The DOM after parsing and layout: both plots and their boxes are there.
  const test::CommandResult dom =
      test::run_command("timeout 120 " + chromium + flags + "--dump-dom file://" + html.string());
  ASSERT_EQ(dom.status, 0);
  EXPECT_EQ(count(dom.out, "class=\"boxplot\""), 2u);
  EXPECT_EQ(count(dom.out, "class=\"box\""), 4u);
  EXPECT_NE(dom.out.find("test report"), std::string::npos);
  // A screenshot: the page paints to a PNG of plausible size.
  const test::CommandResult shot =
      test::run_command("timeout 120 " + chromium + flags + "--window-size=1200,900 --screenshot=" + png.string() +
                        " file://" + html.string());
  ASSERT_EQ(shot.status, 0);
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 10000u);
  std::ifstream f(png, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

}  // namespace
}  // namespace hearth::eval
