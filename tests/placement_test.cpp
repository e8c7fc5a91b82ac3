// The layer planner: how many layers fit each GPU given measured free memory.
#include <gtest/gtest.h>

#include <algorithm>

#include "placement/plan.h"

namespace hearth {
namespace {

constexpr size_t MiB = 1 << 20;

ModelFootprint footprint(int n_layer, size_t layer, size_t output, size_t kv) {
  ModelFootprint fp;
  fp.layer_bytes.assign(n_layer, layer);
  fp.output_bytes = output;
  fp.kv_bytes_per_layer = kv;
  fp.act_bytes = 16 * MiB;
  return fp;
}

int count(const LayerAssignment& a, int dev) {
  return static_cast<int>(std::count(a.layer_device.begin(), a.layer_device.end(), dev));
}

TEST(Placement, NoGpuMeansCpu) {
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), {});
  EXPECT_EQ(count(a, 0), 22);
  EXPECT_EQ(a.output_device, 0);
}

TEST(Placement, EverythingFitsOnALargeGpu) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 80000 * MiB, 80000 * MiB}};
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 22);
  EXPECT_EQ(a.output_device, 1);
}

TEST(Placement, PartialOffloadPutsTheLastLayersOnTheGpu) {
  PlanRequest r;
  // 16 MiB activations + 64 MiB reserve; output 100; then 10 layers of 54 MiB (weights + KV) = 540.
  r.gpus = {{"CUDA0", (16 + 64 + 100 + 540 + 20) * MiB, 80000 * MiB}};
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 10);
  for (int l = 0; l < 12; ++l) EXPECT_EQ(a.layer_device[l], 0) << l;
  for (int l = 12; l < 22; ++l) EXPECT_EQ(a.layer_device[l], 1) << l;
  EXPECT_EQ(a.output_device, 1);
}

TEST(Placement, MemoryLimitCapsTheBudget) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 80000 * MiB, 80000 * MiB}};
  r.gpu_mem_limit = (16 + 64 + 100 + 5 * 54) * MiB;
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 5);
}

TEST(Placement, TooSmallForTheOutputHeadMeansCpu) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 120 * MiB, 80000 * MiB}};
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 0), 22);
  EXPECT_EQ(a.output_device, 0);
}

TEST(Placement, ExplicitLayerCountOverrides) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 80000 * MiB, 80000 * MiB}};
  r.n_gpu_layers = 7;
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 7);
  EXPECT_EQ(a.output_device, 0);
  r.n_gpu_layers = 99;
  a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 22);
  EXPECT_EQ(a.output_device, 1);
  EXPECT_EQ(a.text.find("warning"), std::string::npos) << a.text;
}

// -ngl beyond the budget is obeyed, with a warning that names both sizes.
TEST(Placement, ExplicitLayerCountBeyondTheBudgetWarns) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 80000 * MiB, 80000 * MiB}};
  r.gpu_mem_limit = 500 * MiB;
  r.n_gpu_layers = 10;
  auto a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 10);
  EXPECT_NE(a.text.find("warning: -ngl 10 needs 540.0 MiB of GPU memory, the budget is 420.0 MiB"), std::string::npos)
      << a.text;
  r.n_gpu_layers = 6;
  a = plan_layers(footprint(22, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(a.text.find("warning"), std::string::npos) << a.text;
}

// --split-mode row: the shares of every matrix, and the GPUs seen as one device that takes what fits each share.
TEST(Placement, RowSplitSharesAndCombinedDevice) {
  std::vector<DeviceInfo> gpus = {{"CUDA0", 30000 * MiB, 80000 * MiB}, {"CUDA1", 10000 * MiB, 24000 * MiB}};
  EXPECT_EQ(row_split_shares(gpus, {}, 0), (std::vector<double>{30000.0 * MiB, 10000.0 * MiB}));
  EXPECT_EQ(row_split_shares(gpus, {}, 8000 * MiB), (std::vector<double>{8000.0 * MiB, 8000.0 * MiB}));
  EXPECT_EQ(row_split_shares(gpus, {1}, 0), (std::vector<double>{1, 0}));
  EXPECT_EQ(row_split_shares(gpus, {0, 0}, 0), (std::vector<double>{1, 1}));
  // 1:1 over 30 and 10 GiB free: the second GPU is full when the model is 20 GiB.
  DeviceInfo d = row_split_device(gpus, {1, 1}, 0, "CUDA0+CUDA1");
  EXPECT_EQ(d.name, "CUDA0+CUDA1");
  EXPECT_EQ(d.free_bytes, 20000 * MiB);
  EXPECT_EQ(d.total_bytes, 104000 * MiB);
  EXPECT_EQ(row_split_device(gpus, {3, 1}, 0, "x").free_bytes, 40000 * MiB);
  EXPECT_EQ(row_split_device(gpus, {1, 0}, 0, "x").free_bytes, 30000 * MiB);
  EXPECT_EQ(row_split_device(gpus, {1, 1}, 4000 * MiB, "x").free_bytes, 8000 * MiB);
  EXPECT_EQ(describe_shares({3, 1}), "0.75/0.25");
}

TEST(Placement, TwoGpusSplitByTensorSplit) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 80000 * MiB, 80000 * MiB}, {"CUDA1", 80000 * MiB, 80000 * MiB}};
  r.tensor_split = {3, 1};
  auto a = plan_layers(footprint(20, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1), 15);
  EXPECT_EQ(count(a, 2), 5);
  // Contiguous ranges, first GPU first.
  EXPECT_TRUE(std::is_sorted(a.layer_device.begin(), a.layer_device.end()));
}

TEST(Placement, TwoGpusSplitByFreeMemory) {
  PlanRequest r;
  r.gpus = {{"CUDA0", 40000 * MiB, 80000 * MiB}, {"CUDA1", 20000 * MiB, 80000 * MiB}};
  auto a = plan_layers(footprint(30, 50 * MiB, 100 * MiB, 4 * MiB), r);
  EXPECT_EQ(count(a, 1) + count(a, 2), 30);
  EXPECT_NEAR(count(a, 1), 20, 1);
}

}  // namespace
}  // namespace hearth
