#include "lbfp/chart/page.h"

#include <cctype>

#include "lbfp/chart/chart.h"

namespace lbfp::chart {
namespace {

// Plain CSS only: the page is read offline and by an XML parser (no '<' or '&' in it).
constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 100%; }
h1 { font-size: 1.4em; margin-bottom: 0.3em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
p.question { color: #555; margin-top: 0.2em; }
pre.command { background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
div.chart { overflow-x: auto; margin: 0.5em 0; }
details { margin: 0.5em 0; }
)";

bool numeric(const std::string& s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' ||
          c == 'e' || c == 'E' || c == 'x' || c == '%' || c == ' ')) {
      return false;
    }
  }
  return std::isdigit(static_cast<unsigned char>(s.front())) || s.front() == '-' || s.front() == '+';
}

std::string render_table(const Table& t) {
  std::string s = "<table>\n<tr>";
  for (const auto& h : t.header) s += "<th>" + escape(h) + "</th>";
  s += "</tr>\n";
  for (const auto& row : t.rows) {
    s += "<tr>";
    for (const auto& cell : row) {
      s += (numeric(cell) ? "<td class=\"num\">" : "<td>") + escape(cell) + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

}  // namespace

Table csv_table(const std::string& csv) {
  Table t;
  size_t start = 0;
  bool first = true;
  while (start < csv.size()) {
    size_t end = csv.find('\n', start);
    if (end == std::string::npos) end = csv.size();
    const std::string line = csv.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    if (first) {
      t.header = split_csv_line(line);
      first = false;
    } else {
      t.rows.push_back(split_csv_line(line));
    }
  }
  return t;
}

Page::Page(std::string title, std::string command,
           std::vector<std::pair<std::string, std::string>> config)
    : title_(std::move(title)) {
  head_ = "<h1>" + escape(title_) + "</h1>\n";
  head_ += "<p>Reproduce with:</p>\n<pre class=\"command\">" + escape(command) + "</pre>\n";
  Table t;
  t.header = {"setting", "value"};
  for (auto& [k, v] : config) t.rows.push_back({k, v});
  head_ += render_table(t);
}

void Page::section(const std::string& heading, const std::string& question) {
  body_ += "<h2>" + escape(heading) + "</h2>\n";
  if (!question.empty()) body_ += "<p class=\"question\">" + escape(question) + "</p>\n";
}

void Page::paragraph(const std::string& text) { body_ += "<p>" + escape(text) + "</p>\n"; }

void Page::svg(const std::string& svg_text) {
  body_ += "<div class=\"chart\">\n" + svg_text + "</div>\n";
}

void Page::table(const Table& t) { body_ += render_table(t); }

void Page::details(const std::string& summary, const Table& t) {
  body_ += "<details><summary>" + escape(summary) + "</summary>\n" + render_table(t) +
           "</details>\n";
}

std::string Page::html() const {
  return "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
         "<meta charset=\"utf-8\"/>\n<title>" +
         escape(title_) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n" + head_ +
         body_ + "</body>\n</html>\n";
}

}  // namespace lbfp::chart
