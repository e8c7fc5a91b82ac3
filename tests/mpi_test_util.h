// Helpers for the tests that launch hearth under mpirun: skipping where hearth was built without MPI, the mpirun
// command line for this container, and llama.cpp's continuation of the stories260K prompt.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.h"

namespace hearth::test {

const std::string kMpiexec = HEARTH_TEST_MPIEXEC;

#define REQUIRE_MPI()                                                                                         \
  do {                                                                                                        \
    if (::hearth::test::kMpiexec.empty()) GTEST_SKIP() << "hearth was built without MPI (HEARTH_MPI=OFF or not found)"; \
    if (!std::filesystem::exists(::hearth::test::kMpiexec)) GTEST_SKIP() << "mpirun not found: " << ::hearth::test::kMpiexec; \
  } while (0)

// mpirun as root in a container: allowed explicitly, more ranks than cores, no CMA single-copy (ptrace-restricted).
inline std::string mpirun(int np, const std::string& env = "", const std::string& binary = HEARTH_BINARY) {
  return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none " +
         env + " timeout 120 " + kMpiexec + " --oversubscribe -np " + std::to_string(np) + " " + binary;
}

inline std::string stories() { return fixture("stories260K/stories260K.gguf"); }

inline std::string trim(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// What llama.cpp generates greedily after "Once upon a time" (200 tokens), without the prompt.
inline std::string llama_cpp_text() {
  std::string ref = read_text(
      fixture("stories260K/expected/llama.cpp-c392e50/stories260K.llama-simple_n200_prompt-Once-upon-a-time.txt"));
  const std::string prefix = "<s> Once upon a time";
  EXPECT_EQ(ref.rfind(prefix, 0), 0u);
  return trim(ref.substr(prefix.size()));
}

}  // namespace hearth::test
