#include "lbfp/chart/chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace lbfp::chart {
namespace {

constexpr double kFont = 12;       // px
constexpr double kCharWidth = 6.6;  // px per character at kFont (sans-serif, average)
constexpr double kLeft = 78;       // room for the y tick labels and the axis title
constexpr double kRight = 24;
constexpr double kPlotHeight = 260;

const char* const kPalette[] = {"#3b6fb6", "#e08a2c", "#5aa05a", "#c8423c", "#8a63b8",
                                "#8c6d4f", "#d16fb0", "#7f7f7f", "#b5b53a", "#3aaec0"};

double text_width(const std::string& s, double font = kFont) {
  return static_cast<double>(s.size()) * kCharWidth * font / kFont;
}

// Tick values from lo to hi at a step of 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> nice_ticks(double& lo, double& hi, int target = 5) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double v = lo; v <= hi + step * 1e-6; v += step) {
    ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  return ticks;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
};

// The y axis of a plot: the scale from values to pixels, and its drawing.
struct YScale {
  double lo = 0, hi = 1, top = 0, height = kPlotHeight;
  std::vector<double> ticks;
  double at(double v) const { return top + height - height * (v - lo) / (hi - lo); }
};

YScale y_scale(Range r, const Axis& axis, const std::optional<double>& reference, double top) {
  if (reference) r.add(*reference);
  if (!std::isfinite(r.lo)) r.lo = r.hi = 0;
  if (axis.include_zero) {
    r.lo = std::min(r.lo, 0.0);
    r.hi = std::max(r.hi, 0.0);
  } else {
    const double pad = (r.hi - r.lo) * 0.08;
    r.lo -= pad;
    r.hi += pad;
  }
  YScale s;
  s.lo = r.lo;
  s.hi = r.hi;
  s.ticks = nice_ticks(s.lo, s.hi);
  s.top = top;
  return s;
}

std::string svg_open(double width, double height, const std::string& title) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" font-family=\"sans-serif\" font-size=\"{:.0f}\">\n",
      width, height, width, height, kFont);
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += fmt::format("<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
                   escape(title));
  return s;
}

struct LegendEntry {
  std::string name;
  std::string color;
  double opacity = 1.0;
  bool marker = false;  // a dot instead of a square
};

// Legend entries flowed in rows under the title, inside `width`; returns the y below them.
double legend(std::ostringstream& s, const std::vector<LegendEntry>& entries, double width,
              double y) {
  double x = 10;
  if (entries.empty()) return y;
  for (const LegendEntry& e : entries) {
    const double w = 18 + text_width(e.name) + 14;
    if (x > 10 && x + w > width - 10) {
      x = 10;
      y += 16;
    }
    if (e.marker) {
      s << fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>", x + 5, y - 4,
                       e.color);
    } else {
      s << fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"10\" height=\"10\" fill=\"{}\" "
          "fill-opacity=\"{:.2f}\" stroke=\"{}\" stroke-width=\"0.5\"/>",
          x, y - 9, e.color, e.opacity, e.color);
    }
    s << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", x + 16, y, escape(e.name));
    x += w;
  }
  return y + 16;
}

double legend_height(const std::vector<LegendEntry>& entries, double width) {
  std::ostringstream scratch;
  return legend(scratch, entries, width, 0);
}

void y_axis(std::ostringstream& s, const YScale& y, const Axis& axis, double x0, double x1) {
  for (const double t : y.ticks) {
    const double py = y.at(t);
    s << fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e3e3e3\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        x0, py, x1, py, x0 - 4, py + 4, escape(si(t, axis.unit)));
  }
  const double mid = y.top + y.height / 2;
  s << fmt::format(
      "<text x=\"14\" y=\"{:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1f})\">"
      "{}</text>\n",
      mid, mid, escape(axis.title));
  s << fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", x0,
      y.top, x0, y.top + y.height);
}

void reference_line(std::ostringstream& s, const YScale& y, const std::optional<double>& ref,
                    double x0, double x1) {
  if (!ref) return;
  s << fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\" "
      "stroke-dasharray=\"5,3\"/>\n",
      x0, y.at(*ref), x1, y.at(*ref));
}

// Category labels under a plot, rotated when they do not fit their slot; returns their height.
double category_label_height(const std::vector<std::string>& cats, double slot) {
  double longest = 0;
  for (const auto& c : cats) longest = std::max(longest, text_width(c));
  if (longest + 4 <= slot) return 20;
  return std::min(220.0, longest * 0.71 + 20);
}

void category_labels(std::ostringstream& s, const std::vector<std::string>& cats, double x0,
                     double slot, double y) {
  double longest = 0;
  for (const auto& c : cats) longest = std::max(longest, text_width(c));
  const bool rotate = longest + 4 > slot;
  for (size_t i = 0; i < cats.size(); ++i) {
    const double x = x0 + slot * (static_cast<double>(i) + 0.5);
    if (rotate) {
      s << fmt::format(
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" transform=\"rotate(-45 {:.1f} "
          "{:.1f})\">{}</text>\n",
          x, y + 12, x, y + 12, escape(cats[i]));
    } else {
      s << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x,
                       y + 14, escape(cats[i]));
    }
  }
}

// Rotated labels reach left of their category by 0.71 of their length: the pixels the first ones
// would stand out of the chart on the left (0 when none does), by which the chart is shifted.
double label_overhang(const std::vector<std::string>& cats, double x0, double slot) {
  double longest = 0;
  for (const auto& c : cats) longest = std::max(longest, text_width(c));
  if (longest + 4 <= slot) return 0;
  double over = 0;
  for (size_t i = 0; i < cats.size(); ++i) {
    const double x = x0 + slot * (static_cast<double>(i) + 0.5);
    over = std::max(over, std::ceil(text_width(cats[i]) * 0.71 + 4 - x));
  }
  return over;
}

// Opens (and closes) a group shifting a chart right by `shift` pixels; nothing when 0.
std::string shift_open(double shift) {
  return shift > 0 ? fmt::format("<g transform=\"translate({:.0f} 0)\">\n", shift) : "";
}
std::string shift_close(double shift) { return shift > 0 ? "</g>\n" : ""; }

std::string value_text(double v, const Axis& axis) {
  return std::isfinite(v) ? si(v, axis.unit, 4) : "none";
}

}  // namespace

std::string palette(size_t i) { return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        out += static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' ? '?' : c;
    }
  }
  return out;
}

std::string si(double value, const std::string& unit, int digits) {
  const std::string sep = unit.empty() ? "" : " ";
  if (!std::isfinite(value)) return fmt::format("{}", value);
  if (value == 0) return "0" + sep + unit;
  static const char* const kPrefixes[] = {"p", "n", "µ", "m", "", "k", "M", "G", "T"};
  int exp3 = static_cast<int>(std::floor(std::log10(std::abs(value)) / 3.0));
  // A plain number (a ratio) reads better as 0.95 than as 950 m.
  exp3 = std::clamp(exp3, unit.empty() ? 0 : -4, 4);
  for (;;) {
    const double scaled = value / std::pow(10.0, 3 * exp3);
    std::string text = fmt::format("{:.{}g}", scaled, digits);
    if (text.find('e') != std::string::npos && exp3 < 4) {
      ++exp3;  // 999.96 rounds to 1e+03: one prefix up
      continue;
    }
    const std::string prefix = kPrefixes[exp3 + 4];
    if (prefix.empty()) return text + sep + unit;
    return text + " " + prefix + unit;
  }
}

std::string bar_svg(const BarChart& c) {
  const size_t cats = c.categories.size();
  const size_t bars = std::max<size_t>(1, c.bars.size());
  bool single = true;  // every bar one segment: colour by bar
  for (const Bar& b : c.bars) single = single && b.segments.size() == 1;
  const double bar_w = std::clamp(600.0 / static_cast<double>(std::max<size_t>(1, cats * bars)),
                                  9.0, 26.0);
  const double slot = bar_w * static_cast<double>(bars) + std::max(6.0, bar_w * 0.6);
  const double plot_w = std::max(200.0, slot * static_cast<double>(cats));

  std::vector<LegendEntry> entries;
  if (single) {
    for (size_t b = 0; b < c.bars.size(); ++b) {
      const auto& seg = c.bars[b].segments[0];
      entries.push_back({c.bars[b].name, seg.color.empty() ? palette(b) : seg.color});
    }
  } else {
    std::vector<std::string> names;
    for (const Bar& b : c.bars) {
      for (size_t i = 0; i < b.segments.size(); ++i) {
        if (std::find(names.begin(), names.end(), b.segments[i].name) == names.end()) {
          names.push_back(b.segments[i].name);
          entries.push_back({b.segments[i].name,
                             b.segments[i].color.empty() ? palette(i) : b.segments[i].color});
        }
      }
    }
    for (size_t b = 0; b < c.bars.size() && c.bars.size() > 1; ++b) {
      entries.push_back({fmt::format("bar {}: {}", b + 1, c.bars[b].name), "#555555",
                         1.0 - 0.45 * static_cast<double>(b) / static_cast<double>(bars - 1)});
    }
  }
  const double shift = label_overhang(c.categories, kLeft, slot);
  const double width =
      std::max({kLeft + plot_w + kRight, text_width(c.title, 14) + 30, 360.0});
  const double top = 30 + legend_height(entries, width) + 8;
  Range r;
  for (size_t i = 0; i < cats; ++i) {
    for (const Bar& b : c.bars) {
      double sum = 0;
      for (const Segment& seg : b.segments) {
        if (i < seg.values.size() && std::isfinite(seg.values[i])) sum += seg.values[i];
      }
      r.add(sum);
    }
  }
  const YScale y = y_scale(r, c.y, c.reference, top);
  const double label_h = category_label_height(c.categories, slot);
  const double height = top + y.height + label_h + 10;

  std::ostringstream s;
  s << svg_open(width + shift, height, c.title) << shift_open(shift);
  legend(s, entries, width, 44);
  y_axis(s, y, c.y, kLeft, kLeft + plot_w);
  for (size_t i = 0; i < cats; ++i) {
    for (size_t b = 0; b < c.bars.size(); ++b) {
      const Bar& bar = c.bars[b];
      const double x = kLeft + slot * static_cast<double>(i) + (slot - bar_w * static_cast<double>(bars)) / 2 +
                       bar_w * static_cast<double>(b);
      const double opacity =
          single || bars == 1 ? 1.0 : 1.0 - 0.45 * static_cast<double>(b) / static_cast<double>(bars - 1);
      double base = 0;
      for (size_t k = 0; k < bar.segments.size(); ++k) {
        const Segment& seg = bar.segments[k];
        if (i >= seg.values.size() || !std::isfinite(seg.values[i])) continue;
        const double v = seg.values[i];
        const double y0 = y.at(base);
        const double y1 = y.at(base + v);
        base += v;
        const std::string color = !seg.color.empty() ? seg.color : palette(single ? b : k);
        std::string tip = bar.name;
        if (!single || seg.name != bar.name) tip += (tip.empty() ? "" : " ") + seg.name;
        s << fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
            "fill-opacity=\"{:.2f}\"><title>{}, {}: {}</title></rect>\n",
            x, std::min(y0, y1), bar_w - 1, std::abs(y0 - y1), color, opacity, escape(tip),
            escape(c.categories[i]), escape(value_text(v, c.y)));
      }
    }
  }
  reference_line(s, y, c.reference, kLeft, kLeft + plot_w);
  const double axis_y = y.at(std::clamp(0.0, y.lo, y.hi));
  s << fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", kLeft,
      axis_y, kLeft + plot_w, axis_y);
  category_labels(s, c.categories, kLeft, slot, y.top + y.height);
  s << shift_close(shift) << "</svg>\n";
  return s.str();
}

std::string line_svg(const LineChart& c) {
  const size_t cats = c.categories.size();
  double longest = 0;
  for (const auto& cat : c.categories) longest = std::max(longest, text_width(cat));
  // Few categories: wide enough for their labels; many: narrow, with the labels rotated.
  const double slot = cats > 8 ? 36.0 : std::clamp(longest + 10, 28.0, 90.0);
  const double plot_w = std::max(200.0, slot * static_cast<double>(cats));
  std::vector<LegendEntry> entries;
  for (size_t l = 0; l < c.lines.size(); ++l) {
    entries.push_back({c.lines[l].name,
                       c.lines[l].color.empty() ? palette(l) : c.lines[l].color, 1.0, true});
  }
  const double shift = label_overhang(c.categories, kLeft, slot);
  const double width =
      std::max({kLeft + plot_w + kRight, text_width(c.title, 14) + 30, 360.0});
  const double top = 30 + legend_height(entries, width) + 8;
  Range r;
  for (const Line& l : c.lines) {
    for (const double v : l.values) r.add(v);
    for (const double v : l.low) r.add(v);
    for (const double v : l.high) r.add(v);
  }
  const YScale y = y_scale(r, c.y, c.reference, top);
  const double label_h = category_label_height(c.categories, slot);
  const double height = top + y.height + label_h + (c.x_title.empty() ? 10 : 28);

  std::ostringstream s;
  s << svg_open(width + shift, height, c.title) << shift_open(shift);
  legend(s, entries, width, 44);
  y_axis(s, y, c.y, kLeft, kLeft + plot_w);
  reference_line(s, y, c.reference, kLeft, kLeft + plot_w);
  s << fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", kLeft,
      y.top + y.height, kLeft + plot_w, y.top + y.height);
  for (size_t l = 0; l < c.lines.size(); ++l) {
    const Line& line = c.lines[l];
    const std::string color = line.color.empty() ? palette(l) : line.color;
    std::string points;
    for (size_t i = 0; i < line.values.size() && i < cats; ++i) {
      if (!std::isfinite(line.values[i])) continue;
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ",
                            kLeft + slot * (static_cast<double>(i) + 0.5), y.at(line.values[i]));
    }
    for (size_t i = 0; i < line.low.size() && i < line.high.size() && i < cats; ++i) {
      if (!std::isfinite(line.low[i]) || !std::isfinite(line.high[i])) continue;
      const double x = kLeft + slot * (static_cast<double>(i) + 0.5);
      s << fmt::format(
          "<path d=\"M{:.1f},{:.1f}V{:.1f}M{:.1f},{:.1f}h8M{:.1f},{:.1f}h8\" stroke=\"{}\" "
          "fill=\"none\"/>\n",
          x, y.at(line.low[i]), y.at(line.high[i]), x - 4, y.at(line.low[i]), x - 4,
          y.at(line.high[i]), color);
    }
    if (!points.empty() && line.connect) {
      s << fmt::format(
          "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", points,
          color);
    }
    for (size_t i = 0; i < line.values.size() && i < cats; ++i) {
      if (!std::isfinite(line.values[i])) continue;
      s << fmt::format(
          "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{}, {}: {}</title>"
          "</circle>\n",
          kLeft + slot * (static_cast<double>(i) + 0.5), y.at(line.values[i]), color,
          escape(line.name), escape(c.categories[i]), escape(value_text(line.values[i], c.y)));
    }
  }
  category_labels(s, c.categories, kLeft, slot, y.top + y.height);
  if (!c.x_title.empty()) {
    s << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                     kLeft + plot_w / 2, height - 8, escape(c.x_title));
  }
  s << shift_close(shift) << "</svg>\n";
  return s.str();
}

std::string scatter_svg(const ScatterChart& c) {
  const double plot_w = 560;
  std::vector<LegendEntry> entries;
  if (!c.highlight_name.empty()) entries.push_back({c.highlight_name, palette(3), 1.0, true});
  double longest = 0;
  for (const Point& p : c.points) longest = std::max(longest, text_width(p.label, 10));
  const double width =
      std::max({kLeft + plot_w + kRight + longest, text_width(c.title, 14) + 30, 360.0});
  const double top = 30 + legend_height(entries, width) + 8;
  Range rx, ry;
  for (const Point& p : c.points) {
    rx.add(p.x);
    ry.add(p.y);
  }
  const YScale y = y_scale(ry, c.y, std::nullopt, top);
  // The x axis is a y scale turned on its side.
  YScale x = y_scale(rx, c.x, std::nullopt, 0);
  x.height = plot_w;
  auto px = [&](double v) { return kLeft + plot_w * (v - x.lo) / (x.hi - x.lo); };
  const double height = top + y.height + 50;

  std::ostringstream s;
  s << svg_open(width, height, c.title);
  legend(s, entries, width, 44);
  y_axis(s, y, c.y, kLeft, kLeft + plot_w);
  const double base = y.top + y.height;
  s << fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", kLeft,
      base, kLeft + plot_w, base);
  for (const double t : x.ticks) {
    s << fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#e3e3e3\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
        px(t), y.top, px(t), base, px(t), base + 14, escape(si(t, c.x.unit)));
  }
  s << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                   kLeft + plot_w / 2, base + 34, escape(c.x.title));
  std::vector<Point> front;
  for (const Point& p : c.points) {
    if (p.highlight) front.push_back(p);
  }
  std::stable_sort(front.begin(), front.end(),
                   [](const Point& a, const Point& b) { return a.x < b.x; });
  if (front.size() > 1) {
    std::string points;
    for (const Point& p : front) {
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", px(p.x), y.at(p.y));
    }
    s << fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" "
                     "stroke-dasharray=\"4,2\"/>\n",
                     points, palette(3));
  }
  for (const Point& p : c.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    s << fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" fill=\"{}\"><title>{}: {}, {}</title>"
        "</circle><text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\">{}</text>\n",
        px(p.x), y.at(p.y), p.highlight ? 5 : 3, p.highlight ? palette(3) : palette(0),
        escape(p.label), escape(value_text(p.x, c.x)), escape(value_text(p.y, c.y)),
        px(p.x) + 6, y.at(p.y) - 5, escape(p.label));
  }
  s << "</svg>\n";
  return s.str();
}

std::string combine_svg(const std::string& title, const std::vector<std::string>& charts) {
  // Each chart's size from its own width and height attributes (svg_open writes them first).
  const auto attribute = [](const std::string& svg, const char* name) {
    const std::string key = std::string(" ") + name + "=\"";
    const size_t at = svg.find(key);
    return at == std::string::npos ? 0.0 : std::stod(svg.substr(at + key.size()));
  };
  constexpr double kTitle = 30;
  double width = 0;
  double height = 0;
  for (const std::string& c : charts) {
    width += attribute(c, "width");
    height = std::max(height, attribute(c, "height"));
  }
  width = std::max(width, text_width(title, 14) + 30);
  std::string s = svg_open(width, height + kTitle, title);
  double x = 0;
  for (const std::string& c : charts) {
    if (c.rfind("<svg ", 0) != 0) continue;
    s += fmt::format("<svg x=\"{:.0f}\" y=\"{:.0f}\" ", x, kTitle) + c.substr(5);
    x += attribute(c, "width");
  }
  s += "</svg>\n";
  return s;
}

}  // namespace lbfp::chart
