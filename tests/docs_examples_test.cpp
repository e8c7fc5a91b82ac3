// Keeps README.md and docs/*.md true to the binary: every `hearth ...` command they show (in sh code blocks
// and inline code) names a real subcommand and only flags that subcommand's --help lists; the cheap ones
// (info, one-shot run) run against stories260K; and every endpoint path they name is routed by the server.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "serve_test_util.h"
#include "test_util.h"

namespace hearth::test {
namespace {

namespace fs = std::filesystem;

struct DocCommand {
  std::string where;                // "README.md:12"
  std::vector<std::string> tokens;  // after the hearth binary: subcommand, arguments
};

std::vector<std::string> doc_files() {
  std::vector<std::string> files = {std::string(HEARTH_SOURCE_DIR) + "/README.md"};
  for (const auto& e : fs::directory_iterator(std::string(HEARTH_SOURCE_DIR) + "/docs"))
    if (e.path().extension() == ".md") files.push_back(e.path().string());
  std::sort(files.begin() + 1, files.end());
  return files;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Shell words (quotes and backslashes as sh reads them; a # that starts a word starts a comment). A word that
// is a shell operator (|, &&, ;, >..., <...) ends the command.
std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string w;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\'' || c == '"') {
      const size_t end = line.find(c, i + 1);
      w += line.substr(i + 1, (end == std::string::npos ? line.size() : end) - i - 1);
      i = end == std::string::npos ? line.size() : end;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      w += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(w);
      w.clear();
      in_word = false;
    } else if (c == '#' && !in_word) {
      break;
    } else {
      w += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(w);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& t = words[i];
    if (t == "|" || t == "&&" || t == "||" || t == ";" || t[0] == '>' || t[0] == '<' || t.rfind("2>", 0) == 0) {
      words.resize(i);
      break;
    }
  }
  return words;
}

bool is_hearth(const std::string& word) {
  return word == "hearth" || (word.size() > 7 && word.compare(word.size() - 7, 7, "/hearth") == 0);
}

// The hearth command in these words, if they are one: `[VAR=x...] [sudo -u USER] [mpirun OPTS] hearth SUB ...`.
bool hearth_command(std::vector<std::string> words, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < words.size() && words[i].find('=') != std::string::npos && words[i][0] != '-') ++i;
  if (i < words.size() && words[i] == "sudo") {
    ++i;
    while (i < words.size() && words[i][0] == '-') i += words[i] == "-u" ? 2 : 1;
    while (i < words.size() && words[i].find('=') != std::string::npos) ++i;
  }
  if (i < words.size() && words[i] == "mpirun")
    while (i < words.size() && !is_hearth(words[i])) ++i;
  if (i + 1 >= words.size() || !is_hearth(words[i]) || words[i + 1][0] == '-') return false;
  out.assign(words.begin() + static_cast<long>(i) + 1, words.end());
  // Placeholders written as [--flag VALUE]: the brackets are not part of the flag.
  for (std::string& t : out) {
    while (!t.empty() && (t.front() == '[')) t.erase(0, 1);
    while (!t.empty() && (t.back() == ']' || t.back() == ',' || t.back() == '.')) t.pop_back();
  }
  return true;
}

// Every hearth command shown in sh code blocks (with \ continuations) and in inline code spans.
std::vector<DocCommand> doc_commands() {
  std::vector<DocCommand> out;
  for (const std::string& file : doc_files()) {
    const std::vector<std::string> lines = lines_of(read_text(file));
    const std::string name = fs::path(file).filename().string();
    bool in_block = false, shell_block = false;
    std::string pending;
    for (size_t n = 0; n < lines.size(); ++n) {
      const std::string& l = lines[n];
      const std::string where = name + ":" + std::to_string(n + 1);
      if (l.rfind("```", 0) == 0) {
        in_block = !in_block;
        const std::string lang = l.substr(3);
        shell_block = in_block && (lang == "sh" || lang == "bash" || lang == "shell" || lang.empty());
        continue;
      }
      std::vector<std::string> cmd;
      if (in_block) {
        if (!shell_block) continue;
        std::string full = pending + l;
        if (!full.empty() && full.back() == '\\') {
          pending = full.substr(0, full.size() - 1) + " ";
          continue;
        }
        pending.clear();
        if (hearth_command(shell_words(full), cmd)) out.push_back({where, cmd});
        continue;
      }
      static const std::regex span("`([^`]+)`");
      for (auto it = std::sregex_iterator(l.begin(), l.end(), span); it != std::sregex_iterator(); ++it)
        if (hearth_command(shell_words((*it)[1]), cmd)) out.push_back({where, cmd});
    }
  }
  return out;
}

// What the CLI's main() reads as another flag or subcommand before parsing (llama.cpp's spellings).
const std::map<std::string, std::string>& cli_aliases() {
  static const std::map<std::string, std::string> m = {
      {"-ngl", "--n-gpu-layers"}, {"-sm", "--split-mode"}, {"-ts", "--tensor-split"},
      {"-mg", "--main-gpu"},      {"-sys", "--system"},     {"-md", "--model-draft"}};
  return m;
}

// The flags `hearth SUB --help` lists (empty when SUB is not a subcommand: --help then fails).
const std::set<std::string>& help_flags(const std::string& sub) {
  static std::map<std::string, std::set<std::string>> cache;
  auto it = cache.find(sub);
  if (it != cache.end()) return it->second;
  std::set<std::string>& flags = cache[sub];
  const CommandResult r = run_command(std::string(HEARTH_BINARY) + " " + sub + " --help 2>/dev/null");
  if (r.status != 0) return flags;
  static const std::regex flag(R"((^|[\s,\[(])(--?[A-Za-z][A-Za-z0-9_-]*))");
  for (auto m = std::sregex_iterator(r.out.begin(), r.out.end(), flag); m != std::sregex_iterator(); ++m)
    flags.insert((*m)[2]);
  flags.insert("--help");
  return flags;
}

bool is_flag(const std::string& t) {
  return t.size() >= 2 && t[0] == '-' && !std::isdigit(static_cast<unsigned char>(t[1])) && t[1] != '.';
}

// `hearth bench --eval ...` is `hearth eval ...` (tools/hearth/main.cpp).
std::vector<std::string> normalized(std::vector<std::string> t) {
  if (!t.empty() && t[0] == "bench") {
    auto e = std::find(t.begin(), t.end(), "--eval");
    if (e != t.end()) {
      t.erase(e);
      t[0] = "eval";
    }
  }
  return t;
}

TEST(DocsExamples, CommandsNameRealSubcommandsAndFlags) {
  ASSERT_TRUE(fs::exists(HEARTH_BINARY)) << "build the CLI first: " << HEARTH_BINARY;
  const std::vector<DocCommand> cmds = doc_commands();
  ASSERT_GT(cmds.size(), 20u) << "the docs' examples were not found (did the extraction break?)";
  for (const DocCommand& c : cmds) {
    std::vector<std::string> t = normalized(c.tokens);
    // Prose may name several subcommands at once: `hearth run/bench/serve --pipeline`.
    std::istringstream subs(t[0]);
    for (std::string sub; std::getline(subs, sub, '/');) {
      const std::set<std::string>& flags = help_flags(sub);
      if (flags.empty()) {
        ADD_FAILURE() << c.where << ": `hearth " << sub << "` is not a subcommand (its --help fails)";
        continue;
      }
      for (size_t i = 1; i < t.size(); ++i) {
        if (!is_flag(t[i])) continue;
        std::string f = t[i].substr(0, t[i].find('='));
        auto alias = cli_aliases().find(f);
        if (alias != cli_aliases().end() && !flags.count(f)) f = alias->second;
        EXPECT_TRUE(flags.count(f)) << c.where << ": `hearth " << sub << "` has no flag " << t[i]
                                    << " (not in `hearth " << sub << " --help`)";
      }
    }
  }
}

// The examples that cost well under a second on stories260K: `info`, and `run` one-shot on the CPU, with the
// model files replaced by the fixture and at most 8 tokens generated.
TEST(DocsExamples, CheapCommandsRunOnStories) {
  HEARTH_REQUIRE_FIXTURE(stories_path());
  const std::set<std::string> cheap = {"-m", "--model", "-p", "--prompt", "-n", "-c", "-t", "--temp", "--seed",
                                       "--top-k", "--top-p", "--min-p", "--plan", "--json", "--repeat-penalty"};
  int ran = 0;
  for (const DocCommand& c : doc_commands()) {
    std::vector<std::string> t = c.tokens;
    if (t[0] != "info" && t[0] != "run") continue;
    bool ok = true, has_prompt = false, has_model = false;
    for (size_t i = 1; i < t.size(); ++i) {
      if (is_flag(t[i]) && !cheap.count(t[i])) ok = false;
      if (t[i] == "-p" || t[i] == "--prompt") has_prompt = true;
      if (t[i].size() > 5 && t[i].compare(t[i].size() - 5, 5, ".gguf") == 0) {
        t[i] = stories_path();
        has_model = true;
      }
      if (t[i] == "-n" && i + 1 < t.size()) t[i + 1] = "8";
    }
    if (!ok || !has_model || (t[0] == "run" && !has_prompt)) continue;
    std::string cmd = std::string(HEARTH_BINARY);
    for (const std::string& w : t) cmd += " '" + w + "'";
    if (t[0] == "run" && std::find(t.begin(), t.end(), "-n") == t.end()) cmd += " -n 8";
    if (t[0] == "run" && std::find(t.begin(), t.end(), "-t") == t.end()) cmd += " -t 1";
    const CommandResult r = run_command(cmd + " 2>&1 </dev/null");
    EXPECT_EQ(r.status, 0) << c.where << ": " << cmd << "\n" << r.out;
    EXPECT_FALSE(r.out.empty()) << c.where << ": " << cmd;
    ++ran;
  }
  EXPECT_GE(ran, 3) << "fewer cheap examples than expected: did the extraction break?";
}

const std::vector<std::string>& serving_docs() {
  static const std::vector<std::string> files = {std::string(HEARTH_SOURCE_DIR) + "/README.md",
                                                 std::string(HEARTH_SOURCE_DIR) + "/docs/serving.md"};
  return files;
}

// Endpoint paths in text: in inline code, after a method, or after a port (the curl examples' URLs).
std::set<std::string> endpoint_paths(const std::string& text) {
  static const std::regex path(
      R"((?:`|:\d+|\b(?:GET|POST|DELETE) )(/(?:v1|api)/[A-Za-z0-9_/.{}-]*[A-Za-z0-9}]|/health|/metrics)\b)");
  std::set<std::string> out;
  for (auto m = std::sregex_iterator(text.begin(), text.end(), path); m != std::sregex_iterator(); ++m)
    out.insert((*m)[1]);
  return out;
}

// A server with an empty store and no model: every route answers without generating anything.
struct EmptyServer {
  std::string dir = std::string(HEARTH_TEST_TMP) + "/docs_examples_store";
  std::unique_ptr<RunningServer> server;
  EmptyServer() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    ServerOptions o;
    o.port = 0;
    o.models_dir = dir;
    server = std::make_unique<RunningServer>(o);
  }
};

// Every endpoint path named in README.md or docs/serving.md (inline code, and the URLs of the curl examples)
// has a route: an answer other than the server's "no route for" 404, by GET, POST or DELETE.
TEST(DocsExamples, DocumentedEndpointsAreRouted) {
  std::set<std::string> paths;
  for (const std::string& file : serving_docs()) paths.merge(endpoint_paths(read_text(file)));
  ASSERT_GT(paths.size(), 15u) << "the documented endpoints were not found (did the extraction break?)";
  EmptyServer s;
  httplib::Client c = s.server->client();
  for (std::string p : paths) {
    for (const char* placeholder : {"{id}", "{model}", "{name}"})
      if (auto at = p.find(placeholder); at != std::string::npos) p.replace(at, std::strlen(placeholder), "nomodel");
    bool routed = false;
    std::string answers;
    for (const char* method : {"GET", "POST", "DELETE"}) {
      httplib::Result r = std::string(method) == "GET"    ? c.Get(p.c_str())
                          : std::string(method) == "POST" ? c.Post(p.c_str(), "{}", "application/json")
                                                          : c.Delete(p.c_str(), "{}", "application/json");
      ASSERT_TRUE(r) << method << " " << p << ": no answer";
      answers += std::string(method) + " " + std::to_string(r->status) + " " + r->body.substr(0, 200) + "\n";
      if (r->body.find("no route for") == std::string::npos) routed = true;
    }
    EXPECT_TRUE(routed) << p << " is documented but not routed:\n" << answers;
  }
}

// An endpoint the docs say answers 501 (in the same sentence, clause or table cell as "501") does, and one
// that works is not said to: "embeddings ... answer 501" once stood in the README long after they worked.
TEST(DocsExamples, EndpointsSaidToAnswer501Do) {
  EmptyServer s;
  httplib::Client c = s.server->client();
  int checked = 0;
  for (const std::string& file : serving_docs()) {
    std::string text = read_text(file);
    std::replace(text.begin(), text.end(), '\n', ' ');
    static const std::regex clause_end(R"(\.\s|;|\|)");
    for (auto it = std::sregex_token_iterator(text.begin(), text.end(), clause_end, -1);
         it != std::sregex_token_iterator(); ++it) {
      const std::string clause = *it;
      if (clause.find("501") == std::string::npos) continue;
      for (const std::string& p : endpoint_paths(clause)) {
        httplib::Result r = c.Post(p.c_str(), "{}", "application/json");
        ASSERT_TRUE(r) << p;
        EXPECT_EQ(r->status, 501) << fs::path(file).filename().string() << " says " << p
                                  << " answers 501, but it answers " << r->status << " " << r->body
                                  << "\nin: " << clause;
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 1) << "no endpoint is documented as 501 (/api/push is): did the extraction break?";
}

}  // namespace
}  // namespace hearth::test
