// Charts as standalone SVG: grouped or stacked bars over named categories, lines over named
// categories, and scatter plots over two numeric axes. Every report of the toolkit draws with
// these (sim, sweep, eval, synth), so axes, colours and labels read the same everywhere. Output is
// a pure function of the input: the same data gives the same bytes.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lbfp::chart {

// A value axis: `title` names the quantity; tick labels carry `unit` with an SI prefix
// ("2.5 mJ", "150 k"); an empty unit gives plain numbers with a prefix ("150 k").
struct Axis {
  std::string title;
  std::string unit;
  bool include_zero = true;  // false: the range fits the data (ratios near 1)
};

// One stacked segment of a bar: its value per category and its colour (empty: from the palette).
struct Segment {
  std::string name;
  std::vector<double> values;
  std::string color;
};

// One bar per category, made of stacked segments; several bars stand side by side per category.
struct Bar {
  std::string name;
  std::vector<Segment> segments;
};

struct BarChart {
  std::string title;
  std::vector<std::string> categories;  // x labels, one group of bars each
  std::vector<Bar> bars;
  Axis y;
  std::optional<double> reference;  // a dashed horizontal line (e.g. a ratio of 1)
};

// A polyline of values over the categories of a LineChart (NaN: no point there).
struct Line {
  std::string name;
  std::vector<double> values;
  std::string color;
  bool connect = true;        // false: markers only (categories that are not a sequence)
  std::vector<double> low{};  // optional whiskers per point (an interval), same length as values
  std::vector<double> high{};
};

struct LineChart {
  std::string title;
  std::string x_title;
  std::vector<std::string> categories;
  std::vector<Line> lines;
  Axis y;
  std::optional<double> reference;
};

struct Point {
  double x = 0;
  double y = 0;
  std::string label;     // written next to the point
  bool highlight = false;  // drawn larger and joined by the front line (e.g. Pareto optimal)
};

struct ScatterChart {
  std::string title;
  Axis x;
  Axis y;
  std::vector<Point> points;
  std::string highlight_name;  // legend text of the highlighted points; empty: no legend
};

std::string bar_svg(const BarChart& chart);
std::string line_svg(const LineChart& chart);
std::string scatter_svg(const ScatterChart& chart);

// Several charts of this module side by side in one SVG (nested <svg> elements), under a title
// line: a figure of panels, each drawn as it is on its own.
std::string combine_svg(const std::string& title, const std::vector<std::string>& charts);

// The palette's i-th colour (it repeats after its end).
std::string palette(size_t i);

// A number with an SI prefix and unit, to `digits` significant digits: 1.25e-3 J -> "1.25 mJ".
std::string si(double value, const std::string& unit, int digits = 3);

// XML text escaping (&, <, >, ", ').
std::string escape(const std::string& text);

}  // namespace lbfp::chart
