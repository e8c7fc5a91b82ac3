// The hearth command line as a user meets it: help and "did you mean" for a missing or misspelt subcommand,
// llama.cpp's multi-letter flags (-cnv, -fa, -ngl, ...), Ollama's `hearth run NAME "prompt"`, store names in
// every command that takes a model (and what it says when a name is not there), checks that come before the
// model loads, and `hearth ps` without a server.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

// hearth ARGS with stdout and stderr together.
test::CommandResult hearth(const std::string& args) {
  return test::run_command(std::string(HEARTH_BINARY) + " " + args + " 2>&1 </dev/null");
}

bool has(const std::string& out, const std::string& part) { return out.find(part) != std::string::npos; }

// A model store of this test's own holding stories260K as "tiny".
class CliStore : public ::testing::Test {
 protected:
  void SetUp() override {
    HEARTH_REQUIRE_FIXTURE(stories());
    dir_ = fs::path(HEARTH_TEST_TMP) /
           (std::string("cli-store-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto r = hearth("import " + stories() + " --name tiny --models '" + dir_.string() + "'");
    ASSERT_EQ(r.status, 0) << r.out;
  }
  void TearDown() override { fs::remove_all(dir_); }
  // hearth ARGS with this store as $HEARTH_MODELS.
  test::CommandResult in_store(const std::string& args) const {
    return test::run_command("HEARTH_MODELS='" + dir_.string() + "' " + HEARTH_BINARY + " " + args +
                             " 2>&1 </dev/null");
  }
  fs::path dir_;
};

TEST(CliHelp, NoSubcommandPrintsTheHelp) {
  auto r = hearth("");
  EXPECT_EQ(r.status, 1) << r.out;  // as `git` alone: the usage, and a failure status
  EXPECT_FALSE(has(r.out, "A subcommand is required")) << r.out;
  EXPECT_TRUE(has(r.out, "Usage: hearth")) << r.out;
  for (const char* sub : {"run", "serve", "pull", "bench", "info"}) EXPECT_TRUE(has(r.out, sub)) << r.out;
}

TEST(CliHelp, MisspeltSubcommandSuggestsTheNearestOne) {
  auto r = hearth("rnu -m x.gguf");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "did you mean 'run'?")) << r.out;
  EXPECT_FALSE(has(r.out, "A subcommand is required")) << r.out;
  r = hearth("serv");
  EXPECT_TRUE(has(r.out, "did you mean 'serve'?")) << r.out;
  r = hearth("frobnicate");  // nothing near: no suggestion, but the list of commands
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "'frobnicate' is not a hearth command")) << r.out;
  EXPECT_FALSE(has(r.out, "did you mean")) << r.out;
}

TEST(CliHelp, HelpNamesTheProgramAndLlamaCppFlags) {
  auto r = hearth("run --help");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "Usage: hearth run")) << r.out;
  for (const char* flag : {"-ngl", "-md", "-cnv", "-fa", "-sys"})
    EXPECT_TRUE(has(r.out, flag)) << flag << "\n" << r.out;
  r = hearth("--help");
  EXPECT_TRUE(has(r.out, "Usage: hearth")) << r.out;
}

TEST(CliFlags, LlamaCppMultiLetterFlagsAreNotSplit) {
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string m = " -m " + stories() + " -p 'Once upon a time' -n 4 --temp 0 -t 1";
  auto r = hearth("run" + m + " -fa");
  EXPECT_EQ(r.status, 0) << r.out;
  r = hearth("run" + m + " -fa on -ngl 0 -c 128");
  EXPECT_EQ(r.status, 0) << r.out;
  r = hearth("run" + m + " -no-cnv");
  EXPECT_EQ(r.status, 0) << r.out;
  // -cnv: the chat, as without -p (llama.cpp's conversation mode); -p is its first message. stdin is empty: it
  // answers the first message and ends.
  r = hearth("run -m " + stories() + " -cnv -p 'Hello' -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "chat")) << r.out;
  // A llama.cpp flag hearth has no use for says so, instead of reading as -c with the value "tk".
  r = hearth("run" + m + " -ctk q8_0");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "-ctk")) << r.out;
  EXPECT_TRUE(has(r.out, "F16")) << r.out;
  EXPECT_FALSE(has(r.out, "hearth: loaded")) << r.out;
  r = hearth("run" + m + " -ctk f16 -ctv f16");
  EXPECT_EQ(r.status, 0) << r.out;
  r = hearth("run" + m + " -xyz");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "unknown option '-xyz'")) << r.out;
}

TEST(CliRun, BadJsonSchemaFailsBeforeTheModelLoads) {
  HEARTH_REQUIRE_FIXTURE(stories());
  auto r = hearth("run -m " + stories() + " -p hi -n 4 --json-schema '{\"type\": \"no-such-type\"}'");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "no-such-type")) << r.out;
  EXPECT_FALSE(has(r.out, "hearth: loaded")) << r.out;
  r = hearth("run -m " + stories() + " -p hi -n 4 --json-schema '{not json'");
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(has(r.out, "hearth: loaded")) << r.out;
}

TEST_F(CliStore, RunTakesOllamasNameAndPromptForm) {
  auto r = in_store("run tiny 'Once upon a time' -n 8 --temp 0 -t 1");
  ASSERT_EQ(r.status, 0) << r.out;
  // The load line names the model as the user did, not by its blob.
  EXPECT_TRUE(has(r.out, "hearth: loaded tiny (")) << r.out;
  EXPECT_FALSE(has(r.out, "sha256-")) << r.out;
  // Several words after the name are one prompt, as `ollama run NAME why is the sky blue`.
  r = in_store("run tiny Once upon a time -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.status, 0) << r.out;
  // -m NAME with the prompt after it.
  r = in_store("run -m tiny 'Once upon a time' -n 4 --temp 0 -t 1");
  EXPECT_EQ(r.status, 0) << r.out;
  r = in_store("run tiny 'Once' -p 'upon' -n 4");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "prompt")) << r.out;
}

TEST_F(CliStore, EveryModelCommandTakesStoreNames) {
  auto r = in_store("ls");  // an alias is a command too
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "tiny:latest")) << r.out;
  r = in_store("info tiny");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "architecture:   llama")) << r.out;
  r = test::run_command(std::string(HEARTH_BINARY) + " info tiny --models '" + dir_.string() + "' 2>&1");
  EXPECT_EQ(r.status, 0) << r.out;
  r = in_store("bench -m tiny -p 8 -n 4 -r 1 -t 1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(has(r.out, "tg4")) << r.out;
  const std::string out = (dir_ / "tiny-q8_0.gguf").string();
  r = in_store("quantize tiny " + out + " q8_0");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(CliStore, UnknownNameSaysWhereTheStoreIsAndHowToPull) {
  for (const std::string cmd : {"run llama3.2 -p hi", "run -m llama3.2 -p hi", "info llama3.2", "bench -m llama3.2"}) {
    auto r = in_store(cmd);
    EXPECT_NE(r.status, 0) << cmd;
    EXPECT_FALSE(has(r.out, "No such file or directory")) << cmd << "\n" << r.out;
    EXPECT_TRUE(has(r.out, "'llama3.2' is not a file and not in the model store " + dir_.string())) << cmd << "\n"
                                                                                                     << r.out;
    EXPECT_TRUE(has(r.out, "hearth pull")) << cmd << "\n" << r.out;
  }
  // A path that cannot be a store name is a missing file.
  auto r = in_store("info /nonexistent/model.gguf");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "/nonexistent/model.gguf: cannot open")) << r.out;
}

TEST(CliPs, NoServerSaysSoPlainly) {
  auto r = hearth("ps --port 9");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.out, "no hearth server answers at http://127.0.0.1:9: connection refused")) << r.out;
  EXPECT_TRUE(has(r.out, "is `hearth serve` running?")) << r.out;
}

}  // namespace
}  // namespace hearth
