// LoadParams::progress: the loader reports the fraction of the weights bound, rising from 0 to 1 (what
// `hearth run` shows on a terminal while a big model loads), and a callback that returns false cancels the load.
#include <gtest/gtest.h>

#include "hearth/model.h"
#include "test_util.h"

namespace hearth {
namespace {

std::string stories() { return test::fixture("stories260K/stories260K.gguf"); }

LoadParams cpu() {
  LoadParams lp;
  lp.n_threads = 1;
  lp.n_gpu_layers = 0;
  return lp;
}

TEST(LoadProgress, RisesFromZeroToOne) {
  HEARTH_REQUIRE_FIXTURE(stories());
  for (const bool repack : {true, false}) {
    std::vector<float> seen;
    LoadParams lp = cpu();
    lp.repack = repack;
    lp.progress = [&](float f) {
      seen.push_back(f);
      return true;
    };
    auto m = Model::load(stories(), lp);
    ASSERT_GE(seen.size(), 3u);  // 0, one per tensor bound, 1
    EXPECT_EQ(seen.front(), 0.0f);
    EXPECT_EQ(seen.back(), 1.0f);
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]) << i;
    // Every tensor but the last step: the fraction before the final 1 is most of the file.
    EXPECT_GT(seen[seen.size() - 2], 0.5f);
  }
}

TEST(LoadProgress, FalseCancelsTheLoad) {
  HEARTH_REQUIRE_FIXTURE(stories());
  LoadParams lp = cpu();
  int calls = 0;
  lp.progress = [&](float f) {
    ++calls;
    return f < 0.2f;
  };
  try {
    Model::load(stories(), lp);
    ADD_FAILURE() << "the load was not cancelled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cancelled"), std::string::npos) << e.what();
  }
  EXPECT_GE(calls, 2);
}

}  // namespace
}  // namespace hearth
