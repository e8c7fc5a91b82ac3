// A horizontal box-and-whisker plot as inline SVG (no scripts, no network): one row per configuration.
#pragma once
#include <string>
#include <vector>

#include "eval/stats.h"

namespace hearth::eval {

struct BoxRow {
  std::string label;
  Summary s;
};

// The <svg class="boxplot"> element; each row is a <g class="box"> (empty rows are drawn as "no data").
std::string box_plot_svg(const std::string& title, const std::string& unit, const std::vector<BoxRow>& rows);

// Text for HTML content and attribute values.
std::string html_escape(const std::string& s);

}  // namespace hearth::eval
