// The memory-fit check: estimates from a model's shape against fake free memory, and the meminfo reader on
// fake /proc/meminfo files.
#include "placement/memory_fit.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hearth/model.h"
#include "test_util.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

// A TinyLlama-1.1B shape (DESIGN.md), Q4_0-sized weights.
ModelInfo tinyllama() {
  ModelInfo i;
  i.n_ctx_train = 2048;
  i.n_embd = 2048;
  i.n_layer = 22;
  i.n_head = 32;
  i.n_head_kv = 4;
  i.head_dim = 64;
  i.n_ff = 5632;
  i.n_vocab = 32000;
  i.weight_bytes = 637ull << 20;
  return i;
}

std::string write_meminfo(const std::string& name, const std::string& text) {
  fs::create_directories(HEARTH_TEST_TMP);
  const std::string path = std::string(HEARTH_TEST_TMP) + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(MemoryFit, KvCacheIsKAndVInF16ForEverySequence) {
  const MemoryNeed m = estimate_memory_need(tinyllama(), 4096, 4, 512);
  // 2 (K, V) x 2 bytes x 22 layers x (4 heads x 64) x 4096 positions x 4 sequences.
  EXPECT_EQ(m.kv, 2ull * 2 * 22 * 256 * 4096 * 4);
  EXPECT_EQ(m.weights, 637ull << 20);
  EXPECT_EQ(m.n_ctx, 4096);
  EXPECT_EQ(m.n_seq, 4);
  EXPECT_GT(m.compute, 64ull << 20);
  EXPECT_EQ(m.total(), m.weights + m.kv + m.compute);
  // n_ctx 0: the trained context, at most 4096.
  EXPECT_EQ(estimate_memory_need(tinyllama(), 0, 1, 512).n_ctx, 2048);
}

TEST(MemoryFit, AgreesWithTheLoadedModelsKvBytes) {
  const std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  LoadParams lp;
  lp.n_threads = 1;
  lp.n_gpu_layers = 0;
  auto model = Model::load(path, lp);
  const MemoryNeed m = estimate_memory_need(inspect_model(path), 256, 3, 64);
  EXPECT_EQ(m.kv, 3 * model->kv_bytes(256));
  EXPECT_EQ(m.weights, model->info().weight_bytes);
}

TEST(MemoryFit, RefusalNamesTheNumbers) {
  MemoryNeed need = estimate_memory_need(tinyllama(), 4096, 4, 512);
  MemoryAvailable avail;
  avail.host = need.total() - 1;
  const std::string msg = memory_fit_error(need, avail);
  ASSERT_FALSE(msg.empty());
  EXPECT_NE(msg.find("model needs " + format_bytes(need.total())), std::string::npos) << msg;
  EXPECT_NE(msg.find(format_bytes(need.weights) + " weights"), std::string::npos) << msg;
  EXPECT_NE(msg.find(format_bytes(need.kv) + " KV cache for 4 x 4096 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find(format_bytes(avail.host) + " available"), std::string::npos) << msg;
  avail.host = need.total();
  EXPECT_EQ(memory_fit_error(need, avail), "");
  // GPU memory counts: the planner puts there what fits and the rest on the host.
  avail.host = need.total() / 2;
  avail.gpu = need.total() - avail.host;
  EXPECT_EQ(memory_fit_error(need, avail), "");
  avail.gpu -= 1;
  EXPECT_NE(memory_fit_error(need, avail).find("GPU"), std::string::npos);
}

TEST(MemoryFit, FormatsBytes) {
  EXPECT_EQ(format_bytes(3ull << 30), "3.0 GiB");
  EXPECT_EQ(format_bytes(1536ull << 20), "1.5 GiB");
  EXPECT_EQ(format_bytes(320ull << 20), "320.0 MiB");
  EXPECT_EQ(format_bytes(12 * 1024), "12.0 KiB");
}

TEST(MemoryFit, ReadsMemAvailableFromAMeminfoFile) {
  const std::string ok = write_meminfo("meminfo_ok",
                                       "MemTotal:       16318412 kB\nMemFree:          512000 kB\n"
                                       "MemAvailable:    3145728 kB\nBuffers:          100 kB\n");
  EXPECT_EQ(read_mem_available(ok), 3145728ull * 1024);
  EXPECT_FALSE(read_mem_available(write_meminfo("meminfo_none", "MemTotal: 100 kB\n")).has_value());
  EXPECT_FALSE(read_mem_available(write_meminfo("meminfo_bad", "MemAvailable: lots\n")).has_value());
  EXPECT_FALSE(read_mem_available(std::string(HEARTH_TEST_TMP) + "/no_such_meminfo").has_value());
  // The real one, on Linux.
  if (fs::exists("/proc/meminfo")) {
    EXPECT_GT(read_mem_available().value_or(0), 0u);
  }
}

TEST(MemoryFit, CheckModelFitsRefusesWithFakeMemory) {
  const std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  LoadParams lp;
  lp.n_gpu_layers = 0;
  lp.n_ctx = 256;
  const std::string tiny = write_meminfo("meminfo_tiny", "MemAvailable:       1024 kB\n");
  MemoryNeed need;
  const std::string msg = check_model_fits(path, lp, 2, 64, tiny, &need);
  EXPECT_NE(msg.find("model needs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.0 MiB available"), std::string::npos) << msg;
  EXPECT_EQ(need.n_seq, 2);
  const std::string plenty = write_meminfo("meminfo_plenty", "MemAvailable:    67108864 kB\n");
  EXPECT_EQ(check_model_fits(path, lp, 2, 64, plenty), "");
}

}  // namespace
}  // namespace hearth
