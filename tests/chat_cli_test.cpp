// `hearth run` without a prompt: the chat and its slash commands (as `ollama run` has them), driven through
// stdin; the reply equals generate() on the same chat-formatted conversation.
#include <gtest/gtest.h>

#include <fstream>

#include "hearth/generate.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

// The greedy reply of n tokens to the conversation.
std::string reference_reply(const std::vector<ChatMessage>& messages, int n) {
  GenerateParams g;
  g.n_predict = n;
  g.sampling.temperature = 0;
  return test::one_process_text(stories(), [&](const Model& m) { return m.tokenize_chat(messages, true); }, g, 2048, 2);
}

std::string chat(const std::string& script) {
  // One file per test: ctest runs the tests of this file as processes side by side.
  const std::string in = std::string(HEARTH_TEST_TMP) + "/chat_script_" +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".txt";
  std::filesystem::create_directories(HEARTH_TEST_TMP);
  std::ofstream(in) << script;
  auto r = test::run_command(std::string(HEARTH_BINARY) + " run -m " + stories() + " < " + in + " 2>/dev/null");
  EXPECT_EQ(r.status, 0) << r.out;
  return r.out;
}

TEST(ChatCli, SlashCommandsSetWhatTheReplyUses) {
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string out = chat(
      "/set parameter temperature 0\n"
      "/set parameter num_predict 12\n"
      "/set parameter top_k many\n"
      "/set system Tell a story.\n"
      "Once upon a time\n"
      "/show parameters\n"
      "/bye\n"
      "this line is never read\n");
  EXPECT_NE(out.find("Set parameter 'temperature' to '0'."), std::string::npos) << out;
  EXPECT_NE(out.find("Usage: /set parameter NAME VALUE"), std::string::npos) << out;
  EXPECT_NE(out.find("top_k 40\n"), std::string::npos) << "a bad value changes nothing:\n" << out;
  EXPECT_NE(out.find("num_predict 12\n"), std::string::npos) << out;
  const std::string reply = reference_reply({{"system", "Tell a story."}, {"user", "Once upon a time"}}, 12);
  ASSERT_FALSE(reply.empty());
  EXPECT_NE(out.find("Set the system message.\n" + reply + "\n"), std::string::npos) << out << "\nwant: " << reply;
  EXPECT_EQ(out.find("never read"), std::string::npos);
}

TEST(ChatCli, ClearMultiLineAndUnknownCommands) {
  HEARTH_REQUIRE_FIXTURE(stories());
  const std::string out = chat(
      "/set parameter temperature 0\n"
      "/set parameter num_predict 8\n"
      "The dog\n"
      "/clear\n"
      "\"\"\"A cat\n"
      "and a bird\"\"\"\n"
      "/nope\n"
      "/show system\n");
  // After /clear the conversation is the multi-line message alone.
  const std::string reply = reference_reply({{"user", "A cat\nand a bird"}}, 8);
  EXPECT_NE(out.find("Cleared the conversation.\n" + reply + "\n"), std::string::npos) << out << "\nwant: " << reply;
  EXPECT_NE(out.find("Unknown command '/nope'. Type /? for help."), std::string::npos) << out;
  EXPECT_NE(out.find("(no system message)"), std::string::npos) << out;
}

}  // namespace
}  // namespace hearth
