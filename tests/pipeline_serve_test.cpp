// hearth serve --pipeline under mpirun: rank 0 serves the HTTP APIs and the requests run through the stages. The
// text equals llama.cpp's greedy continuation (several requests at once, more than the sequences, so that some
// wait for the next round); a stage that stops answering turns the request in flight into an error response
// naming the stage, and the job ends. Skipped when hearth was built without MPI or mpirun is missing.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "mpi_test_util.h"
#include "serve_test_util.h"

namespace hearth {
namespace {

using test::json;
using test::post_json;

// `mpirun ... hearth serve --pipeline` in the background; the port is read from rank 0's "listening on" line.
class MpiServer {
 public:
  MpiServer(int np, const std::string& env, const std::string& args) {
    static int n = 0;
    log_ = std::string(HEARTH_TEST_TMP) + "/pipeline-serve-" + std::to_string(getpid()) + "-" + std::to_string(++n) +
           ".log";
    std::filesystem::create_directories(HEARTH_TEST_TMP);
    std::filesystem::remove(log_);
    const std::string cmd = "exec env " + test::mpirun(np, env) + " serve --pipeline --port 0 " + args + " 2>" + log_;
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const std::string marker = "listening on http://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline && !exited()) {
      const std::string text = log();
      if (auto at = text.find(marker); at != std::string::npos && text.find(' ', at + marker.size()) != std::string::npos) {
        port_ = std::stoi(text.substr(at + marker.size()));
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~MpiServer() {
    if (!exited()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string log() const { return test::read_text(log_); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60);
    return c;
  }
  // Waits up to timeout for the job to end; its exit status, or -1 when it is still running.
  int wait(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return exited() ? status_ : -1;
  }
  // Sends sig to rank 0 (the process under mpirun with OMPI_COMM_WORLD_RANK=0); false when it is not found.
  bool signal_rank0(int sig) const {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t pid = std::stoi(name);
      if (!descends_from(pid)) continue;
      std::ifstream env(e.path() / "environ", std::ios::binary);
      for (std::string var; std::getline(env, var, '\0');)
        if (var == "OMPI_COMM_WORLD_RANK=0") return kill(pid, sig) == 0;
    }
    return false;
  }

 private:
  bool descends_from(pid_t pid) const {
    for (int depth = 0; depth < 8 && pid > 1; ++depth) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string line;
      if (!std::getline(stat, line)) return false;
      // "pid (comm) state ppid ...": comm may hold spaces; the fields after its ')' are plain.
      std::istringstream rest(line.substr(line.rfind(')') + 2));
      std::string state;
      rest >> state >> pid;
      if (pid == pid_) return true;
    }
    return false;
  }
  bool exited() {
    if (status_ >= 0) return true;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
  }
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
  std::string log_;
};

json completion(int max_tokens) {
  return {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

TEST(PipelineServe, TwoRanksServeLlamaCppsText) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(test::stories());
  const std::string expected = test::llama_cpp_text();
  MpiServer server(2, "", "-m " + test::stories() + " -t 1 --parallel 2 -c 256");
  ASSERT_GT(server.port(), 0) << server.log();
  // Three at once on two sequences: two run in the first round, the third waits for the next.
  std::vector<std::future<httplib::Result>> replies;
  for (int i = 0; i < 3; ++i)
    replies.push_back(std::async(std::launch::async, [&] {
      auto c = server.client();
      return post_json(c, "/v1/completions", completion(200));
    }));
  for (auto& f : replies) {
    auto r = f.get();
    ASSERT_TRUE(r) << server.log();
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(test::trim(json::parse(r->body)["choices"][0]["text"].get<std::string>()), expected);
  }
  auto c = server.client();
  // Ollama's streaming chat answers too (text not compared: a chat template is applied).
  auto r = post_json(c, "/api/chat",
                     {{"model", "stories260K"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                      {"options", {{"num_predict", 8}}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto lines = test::parse_ndjson(r->body);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back()["done"].get<bool>()) << r->body;
  // Where it runs; embeddings are refused (no process holds every layer).
  r = c.Get("/api/ps");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("pipeline of 2 ranks"), std::string::npos) << r->body;
  r = post_json(c, "/v1/embeddings", {{"model", "stories260K"}, {"input", "hello"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 501) << r->body;
  // SIGTERM to rank 0: it stops serving and ends the stages; the job ends cleanly.
  ASSERT_TRUE(server.signal_rank0(SIGTERM));
  EXPECT_EQ(server.wait(std::chrono::seconds(30)), 0) << server.log();
  EXPECT_NE(server.log().find("hearth serve: stopped"), std::string::npos) << server.log();
}

TEST(PipelineServe, SilentStageGivesAnErrorResponse) {
  REQUIRE_MPI();
  HEARTH_REQUIRE_FIXTURE(test::stories());
  // Rank 2 stops answering after 30 micro-batches: the first request (1 prompt micro-batch + 9 tokens) is
  // served, the second stops half-way.
  MpiServer server(3, "HEARTH_TEST_PIPELINE_FAIL=2:hang:30",
                   "-m " + test::stories() + " -t 1 --parallel 1 -c 256 --stage-timeout 2");
  ASSERT_GT(server.port(), 0) << server.log();
  auto c = server.client();
  auto r = post_json(c, "/v1/completions", completion(10));
  ASSERT_TRUE(r) << server.log();
  EXPECT_EQ(r->status, 200) << r->body;
  const auto t0 = std::chrono::steady_clock::now();
  r = post_json(c, "/v1/completions", completion(100));
  ASSERT_TRUE(r) << server.log();
  // The status line went out before the failure (a whole response is sent chunked): the body is the error.
  auto body = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << r->body;
  EXPECT_NE(r->body.find("stage 2 (rank 2"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("did not answer within 2 s"), std::string::npos) << r->body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  // The job ends with an error (the pipeline cannot serve any more).
  const int status = server.wait(std::chrono::seconds(30));
  EXPECT_NE(status, -1) << "the job did not end:\n" << server.log();
  EXPECT_NE(status, 0) << server.log();
}

}  // namespace
}  // namespace hearth
