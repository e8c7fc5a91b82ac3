// Several devices: --split-mode row (every matrix cut by rows across devices), layer and none, run on stand-in
// devices (CPU backends here; GPU 0 opened several times where a GPU is present), against one device and
// against llama2.c's output; and the fallback to the CPU where no GPU can be used.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "backend/row_split.h"
#include "hearth/model.h"
#include "hearth/session.h"
#include "quant/quant.h"
#include "greedy_util.h"
#include "test_util.h"

namespace hearth {
namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

TEST(RowSplitRanges, FollowSharesOnGranuleBoundaries) {
  EXPECT_EQ(row_split_ranges(32, {1, 1}, 16), (Ranges{{0, 16}, {16, 32}}));
  EXPECT_EQ(row_split_ranges(100, {3, 1}, 16), (Ranges{{0, 80}, {80, 100}}));
  EXPECT_EQ(row_split_ranges(100, {0, 1}, 16), (Ranges{{0, 0}, {0, 100}}));
  EXPECT_EQ(row_split_ranges(100, {1, 0}, 16), (Ranges{{0, 96}, {96, 100}}));
  EXPECT_EQ(row_split_ranges(8, {1, 1, 1}, 16), (Ranges{{0, 0}, {0, 0}, {0, 8}}));
  EXPECT_EQ(row_split_ranges(4096, {1, 1, 2}, 16), (Ranges{{0, 1024}, {1024, 2048}, {2048, 4096}}));
}

TEST(RowSplitBackend, RejectsBadShares) {
  auto a = make_cpu_backend(1), b = make_cpu_backend(1);
  EXPECT_THROW(make_row_split_backend({a.get(), b.get()}, {1}), Error);
  EXPECT_THROW(make_row_split_backend({a.get(), b.get()}, {0, 0}), Error);
  EXPECT_THROW(make_row_split_backend({a.get(), b.get()}, {-1, 2}), Error);
  EXPECT_THROW(make_row_split_backend({}, {}), Error);
  EXPECT_THROW(make_row_split_backend({a.get(), b.get()}, {1, 1}, 2), Error);
}

// Stand-in devices: CPU backends, or GPU 0 opened again for each where a GPU is present.
std::unique_ptr<Backend> stand_in(int i) {
  return cuda_device_count() > 0 ? make_cuda_backend(0) : make_cpu_backend(2, "CPU#" + std::to_string(i));
}

using test::random_normal;

// y = W x on one backend, W given in host memory and bound as the model binds it (packed where it can be).
std::vector<float> run_matmul(Backend& be, const Weight& host_w, const std::vector<float>& x, int n_tokens) {
  Weight w = host_w;
  void* dev_w = nullptr;
  if (const void* h = be.split_weight(host_w, true)) {
    w.packed = h;
    w.data = nullptr;
  } else {
    if (!be.is_host()) {
      dev_w = be.alloc(w.nbytes);
      be.to_device(dev_w, host_w.data, w.nbytes);
      w.data = dev_w;
    }
    w.packed = be.pack_weight(w);
  }
  std::vector<float> y(static_cast<size_t>(n_tokens) * w.rows());
  auto* dx = static_cast<float*>(be.alloc(x.size() * sizeof(float)));
  auto* dy = static_cast<float*>(be.alloc(y.size() * sizeof(float)));
  be.to_device(dx, x.data(), x.size() * sizeof(float));
  be.matmul(w, dx, dy, n_tokens);
  be.to_host(y.data(), dy, y.size() * sizeof(float));
  for (void* p : {static_cast<void*>(dx), static_cast<void*>(dy), dev_w}) be.release(p);
  return y;
}

// The parts of a split matmul compute the same rows with the same kernels as one device: equal results, for
// one token (parts written straight into y) and batches (strided into y), with the main device holding a part
// or none, for every weight type.
TEST(RowSplitBackend, MatmulEqualsOneDevice) {
  const DType types[] = {DType::F32, DType::F16, DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::Q2_K};
  struct Split {
    std::vector<double> shares;
    int main;
  };
  const std::vector<Split> splits = {{{3, 1}, 0}, {{1, 1, 1}, 0}, {{0, 1}, 0}, {{1, 3}, 1}, {{1, 1, 1}, 2}};
  auto ref = stand_in(9);
  std::vector<std::unique_ptr<Backend>> devs;
  for (int i = 0; i < 3; ++i) devs.push_back(stand_in(i));
  for (DType type : types) {
    const int64_t rows = 300, cols = 512;
    auto wf = random_normal(rows * cols, 1);
    std::vector<uint8_t> wq(row_bytes(type, cols) * rows);
    for (int64_t r = 0; r < rows; ++r)
      quantize_row_ref(type, wf.data() + r * cols, wq.data() + r * row_bytes(type, cols), cols);
    Weight w;
    w.type = type;
    w.ne[0] = cols, w.ne[1] = rows;
    w.data = wq.data();
    w.nbytes = wq.size();
    for (int n_tokens : {1, 5, 40}) {
      auto x = random_normal(n_tokens * cols, 2 + n_tokens);
      std::vector<float> want = run_matmul(*ref, w, x, n_tokens);
      for (const auto& [shares, main] : splits) {
        std::vector<Backend*> parts;
        for (size_t i = 0; i < shares.size(); ++i) parts.push_back(devs[i].get());
        auto split = make_row_split_backend(parts, shares, main);
        std::vector<float> got = run_matmul(*split, w, x, n_tokens);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
          ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::abs(want[i])))
              << dtype_name(type) << " tokens " << n_tokens << " devices " << shares.size() << " main " << main
              << " element " << i;
      }
    }
  }
}

// Greedy ids from BOS, with the model loaded as lp says; the placement summary through `where`.
std::vector<int> greedy(const std::string& path, const LoadParams& lp, int n, PlacementSummary* where) {
  return test::greedy_from_bos(path, lp, n, false, where);
}

LoadParams two_devices(const std::string& mode, std::vector<float> split, int n_gpu_layers) {
  LoadParams lp;
  lp.n_threads = 2;
  lp.n_gpu_layers = n_gpu_layers;
  lp.logical_devices = 2;
  lp.split_mode = mode;
  lp.tensor_split = std::move(split);
  return lp;
}

// stories260K on two devices gives llama2.c's greedy ids: whole layers per device, every matrix split by rows,
// and a partial offload with the first layers on the CPU.
TEST(MultiDevice, Stories260KGreedyIdsOnTwoDevices) {
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(test::fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  ASSERT_EQ(expected.size(), 200u);
  PlacementSummary where;

  EXPECT_EQ(greedy(path, two_devices("layer", {1, 1}, 99), 200, &where), expected);
  ASSERT_EQ(where.layer_device.size(), 5u);
  EXPECT_NE(where.layer_device.front(), where.layer_device.back()) << where.text;
  EXPECT_NE(where.layer_device.front(), "CPU") << where.text;

  EXPECT_EQ(greedy(path, two_devices("row", {3, 1}, 99), 200, &where), expected);
  for (const std::string& d : where.layer_device) EXPECT_NE(d.find('+'), std::string::npos) << where.text;
  EXPECT_NE(where.output_device.find('+'), std::string::npos) << where.text;

  EXPECT_EQ(greedy(path, two_devices("row", {1, 1}, 3), 200, &where), expected);
  EXPECT_EQ(where.layer_device[0], "CPU") << where.text;
  EXPECT_NE(where.layer_device[4].find('+'), std::string::npos) << where.text;

  EXPECT_EQ(greedy(path, two_devices("none", {}, 99), 200, &where), expected);
  for (const std::string& d : where.layer_device) EXPECT_EQ(d, where.layer_device.front()) << where.text;
}

// --main-gpu: the device of --split-mode none, and the one that runs all but the matrix products in row mode.
TEST(MultiDevice, MainGpu) {
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto expected = test::read_ids(test::fixture("stories260K/expected/run_t0_n200.generated_ids.txt"));
  expected.resize(60);
  PlacementSummary where;
  LoadParams lp = two_devices("none", {}, 99);
  lp.main_gpu = 1;
  EXPECT_EQ(greedy(path, lp, 60, &where), expected);
  // The stand-ins are named CPU#i, or CUDA0#i where GPU 0 stands in.
  EXPECT_NE(where.text.find("--split-mode none: " + where.layer_device[0].substr(0, 4)), std::string::npos)
      << where.text;
  EXPECT_NE(where.text.find("#1 only"), std::string::npos) << where.text;

  lp = two_devices("row", {1, 1}, 99);
  lp.main_gpu = 1;
  EXPECT_EQ(greedy(path, lp, 60, &where), expected);
  EXPECT_NE(where.text.find("the rest on"), std::string::npos) << where.text;

  lp.main_gpu = 2;
  try {
    Model::load(path, lp);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("main GPU 2 does not exist (2 usable GPUs)"), std::string::npos) << e.what();
  }
}

// A quantized file (k-quants, packed on the CPU): both splits give one stand-in device's ids.
TEST(MultiDevice, QuantizedSplitsMatchOneDevice) {
  std::string path = test::fixture("stories260K/quantized-by-llama.cpp-c392e50/stories260K-Q4_K_M.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  LoadParams one = two_devices("layer", {}, 99);
  one.logical_devices = 1;
  auto want = greedy(path, one, 100, nullptr);
  EXPECT_EQ(greedy(path, two_devices("row", {1, 1}, 99), 100, nullptr), want);
  EXPECT_EQ(greedy(path, two_devices("layer", {}, 99), 100, nullptr), want);
}

TEST(MultiDevice, BadSplitOptionsAreErrors) {
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  auto error_of = [&](const LoadParams& lp) -> std::string {
    try {
      Model::load(path, lp);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_of(two_devices("rows", {}, 99)).find("'rows' is not layer, row or none"), std::string::npos);
  for (const auto& split : std::vector<std::vector<float>>{{-1, 2}, {1, NAN}})
    EXPECT_NE(error_of(two_devices("layer", split, 99)).find("shares must be numbers >= 0"), std::string::npos);
  EXPECT_NE(error_of(two_devices("row", {0, 0}, 99)).find("at least one share must be above 0"), std::string::npos);
}

// -ngl with no usable GPU runs on the CPU and says why.
TEST(MultiDevice, NoGpuFallsBackToCpuWithTheReason) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(cuda_unavailable_reason().empty());
  std::string path = test::fixture("stories260K/stories260K.gguf");
  HEARTH_REQUIRE_FIXTURE(path);
  LoadParams lp;
  lp.n_gpu_layers = 99;
  lp.split_mode = "row";
  auto model = Model::load(path, lp);
  for (const std::string& d : model->placement().layer_device) EXPECT_EQ(d, "CPU");
  EXPECT_NE(model->placement().text.find("no usable GPU (" + cuda_unavailable_reason() + "), running on CPU"),
            std::string::npos)
      << model->placement().text;
}

}  // namespace
}  // namespace hearth
