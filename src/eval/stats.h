// Summary statistics of one configuration's measurements (tokens/s, J/token, ...), as a box plot shows them.
#pragma once
#include <span>
#include <vector>

namespace hearth::eval {

struct Summary {
  size_t n = 0;
  double min = 0, max = 0;
  double mean = 0, stddev = 0;  // stddev: sample (n - 1); 0 for n < 2
  double q1 = 0, median = 0, q3 = 0, iqr = 0;  // quartiles by linear interpolation (numpy's default, R type 7)
  double whisker_lo = 0, whisker_hi = 0;       // most extreme values within [q1 - 1.5 iqr, q3 + 1.5 iqr]
  std::vector<double> outliers;                // values outside that range, ascending
};

// n = 0 gives a zero Summary. NaN values are ignored.
Summary summarize(std::span<const double> values);

// The quantile q in [0, 1] of ascending values by linear interpolation (R type 7). q is clamped to [0, 1];
// empty input gives NaN.
double quantile_sorted(std::span<const double> sorted, double q);

}  // namespace hearth::eval
