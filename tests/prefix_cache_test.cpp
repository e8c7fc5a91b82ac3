// Prompt caching's bookkeeping: which free sequence a prompt goes to, how much of it is reused, and what a
// sequence is known to hold as tokens are recorded.
#include <gtest/gtest.h>

#include "runtime/prefix_cache.h"

namespace hearth {
namespace {

void fill(PrefixCache& c, int seq, const std::vector<int32_t>& tokens) {
  for (size_t i = 0; i < tokens.size(); ++i) c.record(seq, static_cast<int>(i), tokens[i]);
}

auto all_free = [](int) { return true; };

TEST(PrefixCache, LongestPrefixWinsAndTheLastTokenIsEvaluated) {
  PrefixCache c(3);
  fill(c, 0, {1, 5, 6, 7});
  fill(c, 1, {1, 5, 9});
  auto ch = c.choose({1, 5, 6, 7, 8, 9}, true, all_free);
  EXPECT_EQ(ch.seq, 0);
  EXPECT_EQ(ch.reuse, 4u);
  // The same prompt again: all but its last token.
  ch = c.choose({1, 5, 6, 7}, true, all_free);
  EXPECT_EQ(ch.seq, 0);
  EXPECT_EQ(ch.reuse, 3u);
  EXPECT_EQ(c.held(0), 3u) << "what lies beyond reuse is forgotten";
  // Without cache_prompt: the same sequence, nothing reused.
  ch = c.choose({1, 5, 6, 7}, false, all_free);
  EXPECT_EQ(ch.seq, 0);
  EXPECT_EQ(ch.reuse, 0u);
}

TEST(PrefixCache, ASharedBosDoesNotEvictAnotherConversation) {
  PrefixCache c(2);
  fill(c, 0, {1, 2, 3, 4, 5, 6});
  auto ch = c.choose({1, 9, 9}, true, all_free);
  EXPECT_EQ(ch.seq, 1) << "the empty sequence, not the conversation that shares BOS";
  EXPECT_EQ(ch.reuse, 0u);
  fill(c, 1, {1, 9, 9, 9, 9, 9});
  // Both hold other conversations: the least recently used one (0) goes, reusing what it can.
  ch = c.choose({1, 2, 7}, true, all_free);
  EXPECT_EQ(ch.seq, 0);
  EXPECT_EQ(ch.reuse, 2u);
  // Busy sequences are skipped; none free: no choice.
  ch = c.choose({1, 2, 3}, true, [](int s) { return s == 1; });
  EXPECT_EQ(ch.seq, 1);
  EXPECT_EQ(c.choose({1}, true, [](int) { return false; }).seq, -1);
}

TEST(PrefixCache, RecordFollowsPositionsAndAGapForgets) {
  PrefixCache c(1);
  fill(c, 0, {1, 2, 3});
  c.record(0, 1, 7);  // rewritten from position 1
  EXPECT_EQ(c.held(0), 2u);
  EXPECT_EQ(c.choose({1, 7, 8}, true, all_free).reuse, 2u);
  c.record(0, 5, 4);  // positions 2..4 unknown
  EXPECT_EQ(c.held(0), 0u);
  c.record(0, 0, 1);
  EXPECT_EQ(c.held(0), 1u);
  c.forget(0);
  EXPECT_EQ(c.held(0), 0u);
}

}  // namespace
}  // namespace hearth
