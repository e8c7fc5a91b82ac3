#include "eval/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hearth::eval {

double quantile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  // R type 7: h = (n - 1) q, interpolate between the values around h.
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

Summary summarize(std::span<const double> values) {
  std::vector<double> v;
  v.reserve(values.size());
  for (double x : values)
    if (!std::isnan(x)) v.push_back(x);
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());

  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n > 1) {
    double ss = 0;  // two passes: no cancellation when the spread is small against the mean
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(s.n - 1));
  }

  s.q1 = quantile_sorted(v, 0.25);
  s.median = quantile_sorted(v, 0.5);
  s.q3 = quantile_sorted(v, 0.75);
  s.iqr = s.q3 - s.q1;
  const double fence_lo = s.q1 - 1.5 * s.iqr, fence_hi = s.q3 + 1.5 * s.iqr;
  s.whisker_lo = s.max;  // replaced below: the quartiles lie inside the fences, so some value does too
  s.whisker_hi = s.min;
  for (double x : v) {
    if (x < fence_lo || x > fence_hi) {
      s.outliers.push_back(x);  // v is ascending, so are the outliers
    } else {
      s.whisker_lo = std::min(s.whisker_lo, x);
      s.whisker_hi = std::max(s.whisker_hi, x);
    }
  }
  return s;
}

}  // namespace hearth::eval
