// The model store: names, profiles, import/list/cp/create/rm, garbage collection, atomicity of failed
// imports, and where the store directory comes from. The model is the stories260K fixture.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hearth/error.h"
#include "hearth/model.h"
#include "hearth/store.h"
#include "store/sha256.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

// Every file under dir whose name starts with ".tmp-" (left-overs of a failed write).
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(it->path().string());
  return out;
}

size_t count_files(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

// The digest `sha256sum` computes: a reference independent of our helper.
std::string sha256sum(const std::string& path) {
  auto r = test::run_command("sha256sum '" + path + "'");
  return r.status == 0 ? r.out.substr(0, 64) : "";
}

void write_file(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << s;
}

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(HEARTH_TEST_TMP) / (std::string("store-") +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(StoreNames, ValidNamesAndTags) {
  EXPECT_EQ(parse_model_name("llama3").str(), "llama3:latest");
  EXPECT_EQ(parse_model_name("llama3:8b-q4_0").str(), "llama3:8b-q4_0");
  EXPECT_EQ(parse_model_name("org/Model.v2:Q4_K_M").name, "org/Model.v2");
  EXPECT_EQ(parse_model_name("org/Model.v2:Q4_K_M").tag, "Q4_K_M");
}

TEST(StoreNames, RejectsPathTraversalAndOddCharacters) {
  for (const char* bad : {"", "../x", "a/../b", "/etc/passwd", "a:", ":b", "a:b/c", "a b", ".hidden", "a//b",
                          "x:..", "a/", "a\\b", "name:tag:x/../y", "-flag"}) {
    EXPECT_THROW(parse_model_name(bad), Error) << "'" << bad << "'";
  }
  try {
    parse_model_name("../../x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("../../x"), std::string::npos) << e.what();
  }
}

TEST(StoreProfile, ParsesModelfileLikeText) {
  Profile p = parse_profile(
      "# a comment\n"
      "FROM stories:latest\n"
      "SYSTEM \"\"\"You are terse.\nAnswer in one line.\"\"\"\n"
      "parameter temperature 0\n"
      "PARAMETER stop \"<|end|>\"\n"
      "PARAMETER stop \"User:\"\n"
      "PARAMETER num_ctx 128\n"
      "TEMPLATE chatml\n");
  EXPECT_EQ(p.from, "stories:latest");
  EXPECT_EQ(p.system, "You are terse.\nAnswer in one line.");
  EXPECT_EQ(p.tmpl, "chatml");
  ASSERT_EQ(p.parameters.size(), 4u);
  EXPECT_EQ(p.parameters[0], std::make_pair(std::string("temperature"), std::string("0")));
  EXPECT_EQ(p.parameters[1].second, "<|end|>");
  EXPECT_EQ(p.parameters[2].second, "User:");
  EXPECT_EQ(format_parameters(p.parameters), "temperature 0\nstop \"<|end|>\"\nstop \"User:\"\nnum_ctx 128\n");
  EXPECT_EQ(parse_profile("FROM x\nSYSTEM \"one line\"\n").system, "one line");
}

TEST(StoreProfile, ClearErrors) {
  auto message = [](const std::string& text) {
    try {
      parse_profile(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("FROM x\nADAPTER y\n").find("line 2"), std::string::npos);
  EXPECT_NE(message("FROM x\nPARAMETER temperature hot\n").find("must be a number"), std::string::npos);
  EXPECT_NE(message("FROM x\nPARAMETER top_k 1.5\n").find("must be an integer"), std::string::npos);
  EXPECT_NE(message("FROM x\nPARAMETER warmth 1\n").find("unknown parameter 'warmth'"), std::string::npos);
  EXPECT_NE(message("FROM x\nPARAMETER temperature\n").find("needs a name and a value"), std::string::npos);
  EXPECT_NE(message("SYSTEM \"\"\"never closed\n").find("unterminated"), std::string::npos);
  EXPECT_NE(message("FROM a\nFROM b\n").find("more than one FROM"), std::string::npos);
}

// Issue 15: a profile with temperature "NaN" or "inf" was accepted (the model then wrote only spaces), and
// integers wrapped. Non-finite and out-of-range values are refused naming the range.
TEST(StoreProfile, NonFiniteAndOutOfRangeParametersAreRefused) {
  auto message = [](const std::string& param) {
    try {
      parse_profile("FROM x\nPARAMETER " + param + "\n");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (const char* bad : {"temperature NaN", "temperature inf", "temperature \"nan\"", "temperature -1",
                          "temperature 1e999", "top_p 1.5", "min_p -0.1", "repeat_penalty 0", "repeat_penalty -1",
                          "frequency_penalty 1e308", "presence_penalty -inf", "top_k 4294967297",
                          "repeat_last_n -2", "num_predict 99999999999", "seed -5", "seed 99999999999999999999"}) {
    const std::string m = message(bad);
    const std::string key = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(m.find("parameter '" + key + "' must be"), std::string::npos) << bad << ": " << m;
  }
  EXPECT_NE(message("temperature NaN").find("from 0 to 100"), std::string::npos) << message("temperature NaN");
  EXPECT_NE(message("repeat_penalty 0").find("greater than 0"), std::string::npos);
  EXPECT_NE(message("top_k 4294967297").find("between -1 and 2147483647"), std::string::npos);
  for (const char* good : {"temperature 0", "temperature 1.5", "top_k -1", "top_k 0", "repeat_penalty 1.1",
                           "repeat_last_n -1", "num_predict -1", "seed -1", "seed 42", "frequency_penalty -2"})
    EXPECT_EQ(message(good), "no error") << good;
}

TEST_F(Store, ImportListFindShow) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  EXPECT_TRUE(store.list().empty());
  StoreModel m = store.import_file(stories(), "stories");
  EXPECT_EQ(m.name, "stories:latest");
  const std::string want = sha256sum(stories());
  ASSERT_EQ(want.size(), 64u);
  EXPECT_EQ(m.digest, "sha256:" + want);
  EXPECT_EQ(m.size, fs::file_size(stories()));
  EXPECT_EQ(m.path, (dir_ / "blobs" / ("sha256-" + want)).string());
  EXPECT_EQ(sha256sum(m.path), want);  // the blob is the file, byte for byte
  EXPECT_TRUE(fs::exists(dir_ / "manifests" / "stories" / "latest.json"));
  EXPECT_FALSE(m.loose);
  auto all = store.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "stories:latest");
  ASSERT_TRUE(store.find("stories").has_value());
  ASSERT_TRUE(store.find("stories:latest").has_value());
  EXPECT_FALSE(store.find("stories:v2").has_value());
  EXPECT_FALSE(store.find("other").has_value());
  EXPECT_EQ(inspect_model(store.get("stories").path).arch, "llama");
  EXPECT_THROW(store.get("other"), Error);
  // Importing the same file under a second name stores it once.
  store.import_file(stories(), "stories:copy");
  EXPECT_EQ(count_files(dir_ / "blobs"), 1u);
  EXPECT_TRUE(temp_files(dir_).empty());
}

TEST_F(Store, CopySharesTheBlob) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  store.import_file(stories(), "stories");
  StoreModel c = store.copy("stories", "team/stories:v1");
  EXPECT_EQ(c.name, "team/stories:v1");
  EXPECT_EQ(c.digest, store.get("stories").digest);
  EXPECT_EQ(count_files(dir_ / "blobs"), 1u);
  EXPECT_EQ(store.list().size(), 2u);
  EXPECT_THROW(store.copy("absent", "x"), Error);
  EXPECT_THROW(store.copy("stories", "../x"), Error);
}

TEST_F(Store, RemoveCollectsUnusedBlobs) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  store.import_file(stories(), "a");
  store.copy("a", "b/c:d");
  store.remove("a");
  EXPECT_FALSE(store.find("a").has_value());
  EXPECT_EQ(count_files(dir_ / "blobs"), 1u);  // b/c:d still uses it
  store.remove("b/c:d");
  EXPECT_EQ(count_files(dir_ / "blobs"), 0u);
  EXPECT_FALSE(fs::exists(dir_ / "manifests" / "b"));  // empty name directories go too
  EXPECT_THROW(store.remove("a"), Error);
  EXPECT_THROW(store.remove("../../etc"), Error);
}

TEST_F(Store, GcDeletesOnlyUnreferencedBlobs) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  StoreModel m = store.import_file(stories(), "a");
  const fs::path orphan = dir_ / "blobs" / ("sha256-" + std::string(64, 'e'));
  write_file(orphan, "left by an interrupted run");
  EXPECT_EQ(store.gc(), 1u);
  EXPECT_FALSE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(m.path));
  // The temporary file of an import whose process died goes; one of a live process (this one) stays.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const fs::path dead = dir_ / "blobs" / (".tmp-import-" + std::to_string(child) + "-0");
  const fs::path live = dir_ / "blobs" / (".tmp-import-" + std::to_string(getpid()) + "-7");
  write_file(dead, "half a model");
  write_file(live, "being written");
  EXPECT_EQ(store.gc(), 1u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  fs::remove(live);
  // A manifest it cannot read might use any blob: nothing is deleted then.
  write_file(orphan, "x");
  write_file(dir_ / "manifests" / "broken" / "latest.json", "{not json");
  EXPECT_EQ(store.gc(), 0u);
  EXPECT_TRUE(fs::exists(orphan));
  // ... and the broken one is not listed, while `get` names the problem.
  EXPECT_EQ(store.list().size(), 1u);
  try {
    store.get("broken");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt manifest"), std::string::npos) << e.what();
  }
}

TEST_F(Store, LooseGgufFilesAreListed) {
  HEARTH_REQUIRE_FIXTURE(stories());
  fs::create_directories(dir_);
  fs::copy_file(stories(), dir_ / "loose.gguf");
  ModelStore store(dir_.string());
  store.import_file(stories(), "registered");
  auto all = store.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "registered:latest");
  EXPECT_EQ(all[1].name, "loose");
  EXPECT_TRUE(all[1].loose);
  EXPECT_TRUE(all[1].digest.empty());
  ASSERT_TRUE(store.find("loose").has_value());
  ASSERT_TRUE(store.find("loose:latest").has_value());
  ASSERT_TRUE(store.find("loose.gguf").has_value());
  EXPECT_EQ(store.find("loose")->path, (dir_ / "loose.gguf").string());
  EXPECT_THROW(store.remove("loose"), Error);  // a user's file is never deleted by rm
  EXPECT_TRUE(fs::exists(dir_ / "loose.gguf"));
  // cp of a loose file registers it.
  StoreModel c = store.copy("loose", "now-registered");
  EXPECT_FALSE(c.loose);
  EXPECT_EQ(c.digest, "sha256:" + sha256sum(stories()));
}

TEST_F(Store, CreateProfileInheritsAndOverrides) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  store.import_file(stories(), "stories");
  StoreModel a = store.create("terse", parse_profile("FROM stories\nSYSTEM Be terse.\nPARAMETER temperature 0\n"
                                                     "PARAMETER stop END\nPARAMETER top_k 5\n"));
  EXPECT_EQ(a.system, "Be terse.");
  EXPECT_EQ(a.from, "stories");
  EXPECT_EQ(a.digest, store.get("stories").digest);
  EXPECT_EQ(format_parameters(a.parameters), "temperature 0\nstop \"END\"\ntop_k 5\n");
  // A profile on a profile: the base's settings stay unless given again.
  StoreModel b = store.create("terser:v2", parse_profile("FROM terse\nPARAMETER temperature 0.5\n"));
  EXPECT_EQ(b.system, "Be terse.");
  EXPECT_EQ(format_parameters(b.parameters), "stop \"END\"\ntop_k 5\ntemperature 0.5\n");
  EXPECT_EQ(count_files(dir_ / "blobs"), 1u);
  // FROM a path imports the file.
  StoreModel c = store.create("from-file", parse_profile("FROM " + stories() + "\nSYSTEM hi\n"));
  EXPECT_EQ(c.digest, a.digest);
  // Errors register nothing.
  EXPECT_THROW(store.create("x", parse_profile("FROM absent\n")), Error);
  EXPECT_THROW(store.create("y", parse_profile("SYSTEM no base\n")), Error);
  Profile bad;
  bad.from = "stories";
  bad.parameters = {{"temperature", "warm"}};
  EXPECT_THROW(store.create("z", bad), Error);
  EXPECT_FALSE(store.find("x") || store.find("y") || store.find("z"));
  EXPECT_TRUE(temp_files(dir_).empty());
}

TEST_F(Store, FailedImportsLeaveNothing) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  // Not a GGUF.
  write_file(dir_.string() + "-src/notes.gguf", "hello, this is not a model");
  EXPECT_THROW(store.import_file(dir_.string() + "-src/notes.gguf", "notes"), Error);
  // A truncated GGUF: the header is fine, the tensor data is cut off.
  {
    std::ifstream in(stories(), std::ios::binary);
    std::string half(fs::file_size(stories()) / 2, '\0');
    in.read(half.data(), static_cast<std::streamsize>(half.size()));
    write_file(dir_.string() + "-src/half.gguf", half);
  }
  try {
    store.import_file(dir_.string() + "-src/half.gguf", "half");
    FAIL() << "a truncated file was imported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a readable GGUF"), std::string::npos) << e.what();
  }
  // A failure in the middle of the copy (the progress callback aborts it, as a full disk or ^C would).
  EXPECT_THROW(store.import_file(stories(), "aborted",
                                 [](const std::string&, uint64_t, uint64_t) { throw Error("simulated failure"); }),
               Error);
  // Missing file and bad name: refused before anything is written.
  EXPECT_THROW(store.import_file("/nonexistent/model.gguf", "m"), Error);
  EXPECT_THROW(store.import_file(stories(), "bad name"), Error);
  EXPECT_TRUE(store.list().empty());
  EXPECT_EQ(count_files(dir_ / "blobs"), 0u);
  EXPECT_TRUE(temp_files(dir_).empty()) << temp_files(dir_)[0];
  EXPECT_FALSE(fs::exists(dir_ / "manifests"));
  fs::remove_all(dir_.string() + "-src");
}

TEST_F(Store, LeftoverTempFilesAreNotModels) {
  HEARTH_REQUIRE_FIXTURE(stories());
  ModelStore store(dir_.string());
  store.import_file(stories(), "a");
  // What a crash between write and rename leaves: temporary names, never listed or collected as blobs.
  write_file(dir_ / "manifests" / "a" / ".tmp-write-1-0", "{\"digest\": \"sha256:00\"}");
  write_file(dir_ / "blobs" / ".tmp-import-1-0", "partial");
  auto all = store.list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name, "a:latest");
  store.gc();
  EXPECT_TRUE(fs::exists(store.get("a").path));
}

// Saves and restores the environment variables the directory resolution reads.
class StoreDir : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* k : kVars) {
      const char* v = std::getenv(k);
      saved_.emplace_back(k, v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(k);
    }
    // Per process: ctest runs the test cases of this suite as parallel processes.
    root_ = fs::path(HEARTH_TEST_TMP) / ("store-dir-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    setenv("HOME", (root_ / "home").c_str(), 1);
  }
  void TearDown() override {
    for (auto& [k, v] : saved_)
      if (v) setenv(k, v->c_str(), 1);
      else unsetenv(k);
    fs::remove_all(root_);
  }
  static constexpr const char* kVars[] = {"HEARTH_MODELS", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HOME"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
  fs::path root_;
};

TEST_F(StoreDir, FlagThenEnvThenConfigThenDefault) {
  const std::string home = (root_ / "home").string();
  EXPECT_EQ(resolve_models_dir().dir, home + "/.local/share/hearth/models");
  EXPECT_EQ(resolve_models_dir().source, "default");
  setenv("XDG_DATA_HOME", (root_ / "data").c_str(), 1);
  EXPECT_EQ(resolve_models_dir().dir, (root_ / "data" / "hearth" / "models").string());
  write_file(root_ / "home" / ".config" / "hearth" / "config", "# hearth\n\nmodels = ~/my models\n");
  EXPECT_EQ(resolve_models_dir().dir, home + "/my models");
  EXPECT_EQ(resolve_models_dir().source.rfind("config ", 0), 0u);
  setenv("XDG_CONFIG_HOME", (root_ / "xdg").c_str(), 1);
  write_file(root_ / "xdg" / "hearth" / "config", "other = 1\nmodels=\"/srv/models\"\n");
  EXPECT_EQ(resolve_models_dir().dir, "/srv/models");
  setenv("HEARTH_MODELS", "/env/models", 1);
  EXPECT_EQ(resolve_models_dir().dir, "/env/models");
  EXPECT_EQ(resolve_models_dir().source, "HEARTH_MODELS");
  EXPECT_EQ(resolve_models_dir("/flag/models").dir, "/flag/models");
  EXPECT_EQ(resolve_models_dir("/flag/models").source, "--models");
}

TEST_F(StoreDir, CliImportListShowRmUseTheStore) {
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string dir = (root_ / "cli-store").string();
  const std::string h = std::string(HEARTH_BINARY) + " ";
  auto run = [&](const std::string& args) { return test::run_command(h + args + " --models '" + dir + "' 2>&1"); };
  EXPECT_EQ(run("import " + stories() + " --name stories:v1").status, 0);
  write_file(root_ / "p" / "terse.profile", "FROM stories:v1\nSYSTEM Be terse.\nPARAMETER temperature 0\n");
  EXPECT_EQ(run("create terse -f " + (root_ / "p" / "terse.profile").string()).status, 0);
  EXPECT_EQ(run("cp stories:v1 copy").status, 0);
  auto list = run("list");
  EXPECT_EQ(list.status, 0);
  const std::string id = sha256sum(stories()).substr(0, 12);
  for (const char* name : {"stories:v1", "terse:latest", "copy:latest"}) EXPECT_NE(list.out.find(name), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(id), std::string::npos) << list.out;
  auto show = run("show terse");
  EXPECT_EQ(show.status, 0);
  EXPECT_NE(show.out.find("Be terse."), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("temperature 0"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("llama"), std::string::npos) << show.out;
  EXPECT_EQ(run("rm terse copy stories:v1").status, 0);
  EXPECT_EQ(count_files(fs::path(dir) / "blobs"), 0u);
  auto bad = run("import /nonexistent.gguf --name x");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("no such file"), std::string::npos) << bad.out;
  EXPECT_NE(run("rm absent").status, 0);
}

}  // namespace
}  // namespace hearth
