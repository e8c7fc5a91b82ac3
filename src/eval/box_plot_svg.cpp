// SVG box plots: box Q1..Q3, median line, whiskers to the most extreme values within 1.5 IQR, outlier dots.
#include "eval/box_plot_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hearth::eval {
namespace {

constexpr double kLabelW = 330, kPlotW = 520, kRowH = 34, kTop = 30, kBottom = 40;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string tick_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A step of 1, 2 or 5 x 10^k giving about five ticks over span.
double nice_step(double span) {
  const double raw = span / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string box_plot_svg(const std::string& title, const std::string& unit, const std::vector<BoxRow>& rows) {
  // The axis spans the whiskers (plus a margin); outliers beyond it are drawn as arrows at the edge, so one
  // far outlier does not squash every box.
  double lo = INFINITY, hi = -INFINITY, all_lo = INFINITY, all_hi = -INFINITY;
  for (const BoxRow& r : rows) {
    if (r.s.n == 0) continue;
    lo = std::min(lo, r.s.whisker_lo);
    hi = std::max(hi, r.s.whisker_hi);
    all_lo = std::min(all_lo, r.s.min);
    all_hi = std::max(all_hi, r.s.max);
  }
  if (std::isfinite(lo)) {
    const double margin = 0.15 * (hi - lo);
    lo = std::max(all_lo, lo - margin);
    hi = std::min(all_hi, hi + margin);
  }
  const bool any = std::isfinite(lo);
  if (!any) lo = 0, hi = 1;
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {  // one value: a small range around it
    const double pad = std::max(std::fabs(hi) * 0.05, 1e-9);
    lo -= pad, hi += pad;
  }
  const double step = nice_step(hi - lo);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  if (lo < 0 && any && all_lo >= 0) lo = 0;
  auto x = [&](double v) { return kLabelW + (v - lo) / (hi - lo) * kPlotW; };

  const double h = kTop + rows.size() * kRowH + kBottom, w = kLabelW + kPlotW + 20;
  std::string o = "<svg class=\"boxplot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w) + "\" height=\"" +
                  num(h) + "\" viewBox=\"0 0 " + num(w) + " " + num(h) + "\" role=\"img\" aria-label=\"" +
                  html_escape(title) + "\">\n";
  o += "<text x=\"" + num(kLabelW) + "\" y=\"18\" font-weight=\"bold\">" + html_escape(title) + "</text>\n";
  const double axis_y = kTop + rows.size() * kRowH;
  for (double t = lo; t <= hi + step * 1e-6; t += step) {
    o += "<line x1=\"" + num(x(t)) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x(t)) + "\" y2=\"" + num(axis_y) +
         "\" stroke=\"#ddd\"/>";
    o += "<text x=\"" + num(x(t)) + "\" y=\"" + num(axis_y + 16) + "\" text-anchor=\"middle\" font-size=\"11\">" +
         tick_text(t) + "</text>\n";
  }
  o += "<text x=\"" + num(kLabelW + kPlotW / 2) + "\" y=\"" + num(axis_y + 34) +
       "\" text-anchor=\"middle\" font-size=\"12\">" + html_escape(unit) + "</text>\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Summary& s = rows[i].s;
    const double cy = kTop + i * kRowH + kRowH / 2, top = cy - 10, bh = 20;
    o += "<g class=\"box\" data-config=\"" + html_escape(rows[i].label) + "\">";
    o += "<title>" + html_escape(rows[i].label) + ": median " + tick_text(s.median) + ", Q1 " + tick_text(s.q1) +
         ", Q3 " + tick_text(s.q3) + ", n " + std::to_string(s.n) + "</title>";
    o += "<text x=\"" + num(kLabelW - 8) + "\" y=\"" + num(cy + 4) + "\" text-anchor=\"end\" font-size=\"12\">" +
         html_escape(rows[i].label) + "</text>";
    if (s.n == 0) {
      o += "<text x=\"" + num(kLabelW + 4) + "\" y=\"" + num(cy + 4) +
           "\" font-size=\"12\" fill=\"#888\">no data</text></g>\n";
      continue;
    }
    o += "<line x1=\"" + num(x(s.whisker_lo)) + "\" y1=\"" + num(cy) + "\" x2=\"" + num(x(s.whisker_hi)) + "\" y2=\"" +
         num(cy) + "\" stroke=\"#333\"/>";
    for (double v : {s.whisker_lo, s.whisker_hi})
      o += "<line x1=\"" + num(x(v)) + "\" y1=\"" + num(top + 4) + "\" x2=\"" + num(x(v)) + "\" y2=\"" +
           num(top + bh - 4) + "\" stroke=\"#333\"/>";
    o += "<rect x=\"" + num(x(s.q1)) + "\" y=\"" + num(top) + "\" width=\"" + num(std::max(1.0, x(s.q3) - x(s.q1))) +
         "\" height=\"" + num(bh) + "\" fill=\"#9ecae1\" stroke=\"#08519c\"/>";
    o += "<line x1=\"" + num(x(s.median)) + "\" y1=\"" + num(top) + "\" x2=\"" + num(x(s.median)) + "\" y2=\"" +
         num(top + bh) + "\" stroke=\"#08306b\" stroke-width=\"2.5\"/>";
    for (double v : s.outliers) {
      if (v < lo || v > hi) {  // off the axis: an arrow at the edge, the value in its tooltip
        const bool right = v > hi;
        const double ex = right ? kLabelW + kPlotW + 2 : kLabelW - 2, d = right ? -7 : 7;
        o += "<path class=\"outlier\" d=\"M" + num(ex) + " " + num(cy) + " l" + num(d) +
             " -5 v10 z\" fill=\"#c00\">"
             "<title>outlier " +
             tick_text(v) + "</title></path>";
        continue;
      }
      o += "<circle class=\"outlier\" cx=\"" + num(x(v)) + "\" cy=\"" + num(cy) +
           "\" r=\"3\" fill=\"none\" stroke=\"#c00\"><title>outlier " + tick_text(v) + "</title></circle>";
    }
    o += "</g>\n";
  }
  return o + "</svg>\n";
}

}  // namespace hearth::eval
