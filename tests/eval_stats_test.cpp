// Summary statistics against values computed by hand (R type 7 quantiles: h = (n - 1) q,
// Q(q) = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]), x ascending and 0-based).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "eval/stats.h"

using hearth::eval::quantile_sorted;
using hearth::eval::summarize;

namespace {
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kTol = 1e-12;
}  // namespace

TEST(EvalStats, QuantileInterpolation) {
  const std::vector<double> x = {10, 20, 30, 40};  // n = 4, h = 3 q
  EXPECT_DOUBLE_EQ(quantile_sorted(x, 0.0), 10);    // h = 0
  EXPECT_DOUBLE_EQ(quantile_sorted(x, 1.0), 40);    // h = 3: the last value
  EXPECT_DOUBLE_EQ(quantile_sorted(x, 1.0 / 3), 20);  // h = 1
  EXPECT_NEAR(quantile_sorted(x, 0.1), 13, kTol);   // h = 0.3: 10 + 0.3 * 10
  EXPECT_NEAR(quantile_sorted(x, 0.5), 25, kTol);   // h = 1.5: 20 + 0.5 * 10
  EXPECT_DOUBLE_EQ(quantile_sorted(x, -1), 10);     // clamped
  EXPECT_DOUBLE_EQ(quantile_sorted(x, 2), 40);
  EXPECT_TRUE(std::isnan(quantile_sorted(std::vector<double>{}, 0.5)));
}

TEST(EvalStats, HighOutlier) {
  // 1..9 and 100, n = 10, h = 9 q.
  const std::vector<double> v = {100, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto s = summarize(v);
  EXPECT_EQ(s.n, 10u);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 100);
  EXPECT_NEAR(s.q1, 3.25, kTol);      // h = 2.25: 3 + 0.25 * (4 - 3)
  EXPECT_NEAR(s.median, 5.5, kTol);   // h = 4.5: 5 + 0.5 * (6 - 5)
  EXPECT_NEAR(s.q3, 7.75, kTol);      // h = 6.75: 7 + 0.75 * (8 - 7)
  EXPECT_NEAR(s.iqr, 4.5, kTol);      // 7.75 - 3.25
  // Fences: 3.25 - 6.75 = -3.5 and 7.75 + 6.75 = 14.5; only 100 lies outside.
  EXPECT_DOUBLE_EQ(s.whisker_lo, 1);
  EXPECT_DOUBLE_EQ(s.whisker_hi, 9);
  EXPECT_EQ(s.outliers, std::vector<double>({100}));
  EXPECT_NEAR(s.mean, 14.5, kTol);    // (45 + 100) / 10
  // Squared deviations from 14.5: 13.5^2 + 12.5^2 + ... + 5.5^2 = 872.25 for 1..9, 85.5^2 = 7310.25 for 100;
  // sum 8182.5, over n - 1 = 9.
  EXPECT_NEAR(s.stddev, std::sqrt(8182.5 / 9), 1e-9);  // 30.1524...
}

TEST(EvalStats, LowOutlier) {
  // {-50, 10, 11, 12, 13, 14}, n = 6, h = 5 q.
  const auto s = summarize(std::vector<double>{12, 14, -50, 10, 13, 11});
  EXPECT_NEAR(s.q1, 10.25, kTol);     // h = 1.25: 10 + 0.25 * 1
  EXPECT_NEAR(s.median, 11.5, kTol);  // h = 2.5: 11 + 0.5 * 1
  EXPECT_NEAR(s.q3, 12.75, kTol);     // h = 3.75: 12 + 0.75 * 1
  EXPECT_NEAR(s.iqr, 2.5, kTol);
  // Fences: 10.25 - 3.75 = 6.5 and 12.75 + 3.75 = 16.5.
  EXPECT_DOUBLE_EQ(s.whisker_lo, 10);
  EXPECT_DOUBLE_EQ(s.whisker_hi, 14);
  EXPECT_EQ(s.outliers, std::vector<double>({-50}));
  EXPECT_NEAR(s.mean, 10.0 / 6, kTol);  // (-50 + 60) / 6
  EXPECT_DOUBLE_EQ(s.min, -50);
}

TEST(EvalStats, OutliersOnBothSidesAscending) {
  // Sorted: {0, 20, 21, 22, 23, 24, 25, 50}, n = 8, h = 7 q.
  const auto s = summarize(std::vector<double>{50, 22, 0, 25, 20, 24, 21, 23});
  EXPECT_NEAR(s.q1, 20.75, kTol);     // h = 1.75: 20 + 0.75 * 1
  EXPECT_NEAR(s.median, 22.5, kTol);  // h = 3.5: 22 + 0.5 * 1
  EXPECT_NEAR(s.q3, 24.25, kTol);     // h = 5.25: 24 + 0.25 * 1
  EXPECT_NEAR(s.iqr, 3.5, kTol);
  // Fences: 20.75 - 5.25 = 15.5 and 24.25 + 5.25 = 29.5.
  EXPECT_DOUBLE_EQ(s.whisker_lo, 20);
  EXPECT_DOUBLE_EQ(s.whisker_hi, 25);
  EXPECT_EQ(s.outliers, std::vector<double>({0, 50}));
  EXPECT_NEAR(s.mean, 23.125, kTol);  // 185 / 8
}

TEST(EvalStats, ValueOnTheFenceIsAWhisker) {
  // {1, 2, 3, 4, 7}: n = 5, h = 4 q: Q1 = x[1] = 2, Q3 = x[3] = 4, IQR 2, upper fence 4 + 3 = 7 exactly.
  const auto s = summarize(std::vector<double>{1, 2, 3, 4, 7});
  EXPECT_DOUBLE_EQ(s.q1, 2);
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.q3, 4);
  EXPECT_DOUBLE_EQ(s.whisker_hi, 7);
  EXPECT_DOUBLE_EQ(s.whisker_lo, 1);
  EXPECT_TRUE(s.outliers.empty());
}

TEST(EvalStats, Empty) {
  const auto s = summarize(std::vector<double>{});
  EXPECT_EQ(s.n, 0u);
  EXPECT_EQ(s.min, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(s.median, 0);
  EXPECT_EQ(s.iqr, 0);
  EXPECT_EQ(s.whisker_lo, 0);
  EXPECT_EQ(s.whisker_hi, 0);
  EXPECT_TRUE(s.outliers.empty());
}

TEST(EvalStats, OneValue) {
  const auto s = summarize(std::vector<double>{5});
  EXPECT_EQ(s.n, 1u);
  for (double x : {s.min, s.max, s.mean, s.q1, s.median, s.q3, s.whisker_lo, s.whisker_hi}) EXPECT_EQ(x, 5);
  EXPECT_EQ(s.iqr, 0);
  EXPECT_EQ(s.stddev, 0);  // sample stddev is undefined for n = 1: reported as 0
  EXPECT_TRUE(s.outliers.empty());
}

TEST(EvalStats, TwoValues) {
  // {1, 3}: h = q. Q1 = 1 + 0.25 * 2 = 1.5, median 2, Q3 = 1 + 0.75 * 2 = 2.5; fences 0 and 4.
  const auto s = summarize(std::vector<double>{3, 1});
  EXPECT_NEAR(s.q1, 1.5, kTol);
  EXPECT_NEAR(s.median, 2, kTol);
  EXPECT_NEAR(s.q3, 2.5, kTol);
  EXPECT_NEAR(s.iqr, 1, kTol);
  EXPECT_DOUBLE_EQ(s.whisker_lo, 1);
  EXPECT_DOUBLE_EQ(s.whisker_hi, 3);
  EXPECT_TRUE(s.outliers.empty());
  EXPECT_DOUBLE_EQ(s.mean, 2);
  EXPECT_NEAR(s.stddev, std::sqrt(2.0), kTol);  // ((1 - 2)^2 + (3 - 2)^2) / (2 - 1) = 2
}

TEST(EvalStats, AllEqual) {
  // IQR 0: both fences at 4, every value on them, none outside.
  const auto s = summarize(std::vector<double>{4, 4, 4, 4});
  EXPECT_EQ(s.n, 4u);
  EXPECT_EQ(s.q1, 4);
  EXPECT_EQ(s.median, 4);
  EXPECT_EQ(s.q3, 4);
  EXPECT_EQ(s.iqr, 0);
  EXPECT_EQ(s.whisker_lo, 4);
  EXPECT_EQ(s.whisker_hi, 4);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_TRUE(s.outliers.empty());
}

TEST(EvalStats, NanIgnored) {
  const auto s = summarize(std::vector<double>{kNan, 3, kNan, 1});  // as {1, 3}
  EXPECT_EQ(s.n, 2u);
  EXPECT_DOUBLE_EQ(s.mean, 2);
  EXPECT_NEAR(s.median, 2, kTol);
  EXPECT_NEAR(s.stddev, std::sqrt(2.0), kTol);
  const auto none = summarize(std::vector<double>{kNan, kNan});
  EXPECT_EQ(none.n, 0u);
  EXPECT_EQ(none.mean, 0);
}
