// A self-contained report page: XHTML with inline CSS and SVG, no scripts and nothing fetched,
// that any browser opens from disk and an XML parser reads. Sections hold text, charts (from
// chart.h) and tables; the page starts with the run's configuration and the command that
// reproduces it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lbfp::chart {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// A CSV text (a header line, quoted fields allowed) as a table of its fields.
Table csv_table(const std::string& csv);

class Page {
 public:
  // `title` heads the page; `command` reproduces the run; `config` lists its settings.
  Page(std::string title, std::string command,
       std::vector<std::pair<std::string, std::string>> config);

  // Opens a section: a heading and a sentence saying what its contents answer.
  void section(const std::string& heading, const std::string& question);
  void paragraph(const std::string& text);
  void svg(const std::string& svg_text);  // an SVG from chart.h, inlined
  void table(const Table& t);
  // A table folded away under a summary line (the full data behind the charts).
  void details(const std::string& summary, const Table& t);

  std::string html() const;

 private:
  std::string title_;
  std::string head_;
  std::string body_;
};

}  // namespace lbfp::chart
