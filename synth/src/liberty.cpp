#include "lbfp/synth/liberty.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace lbfp::synth {
namespace {

// ---- a generic Liberty tree: groups, simple attributes and complex attributes ----
struct Group {
  std::string type;
  std::vector<std::string> args;
  std::map<std::string, std::string> simple;                    // name : value ;
  std::map<std::string, std::vector<std::string>> complex_attr;  // name (a, b) ;
  std::vector<std::unique_ptr<Group>> children;
  long line = 0;  // where the group starts
};

class Parser {
 public:
  Parser(std::string text, std::string path) : text_(std::move(text)), path_(std::move(path)) {}

  std::unique_ptr<Group> parse_top() {
    auto group = std::make_unique<Group>();
    skip();
    group->line = line_at(pos_);
    std::string type = identifier();
    group->type = type;
    group->args = arguments();
    expect('{');
    body(*group);
    return group;
  }

 private:
  // Lines are counted incrementally: groups are met in file order.
  long line_at(size_t pos) {
    line_ += std::count(text_.begin() + static_cast<long>(line_pos_),
                        text_.begin() + static_cast<long>(pos), '\n');
    line_pos_ = pos;
    return line_;
  }

  [[noreturn]] void fail(const std::string& what) const {
    const long line = 1 + std::count(text_.begin(), text_.begin() + static_cast<long>(pos_), '\n');
    throw std::runtime_error(path_ + ":" + std::to_string(line) + ": " + what);
  }

  void skip() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '\\' && pos_ + 1 < text_.size() &&
                 (text_[pos_ + 1] == '\n' || text_[pos_ + 1] == '\r')) {
        pos_ += 2;
      } else if (text_.compare(pos_, 2, "/*") == 0) {
        const size_t end = text_.find("*/", pos_ + 2);
        if (end == std::string::npos) fail("unterminated comment");
        pos_ = end + 2;
      } else if (text_.compare(pos_, 2, "//") == 0) {
        pos_ = text_.find('\n', pos_);
        if (pos_ == std::string::npos) pos_ = text_.size();
      } else {
        break;
      }
    }
  }

  char peek() {
    skip();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  // A bare word or a quoted string (without its quotes).
  std::string token() {
    skip();
    if (pos_ >= text_.size()) fail("unexpected end of file");
    if (text_[pos_] == '"') {
      const size_t end = text_.find('"', pos_ + 1);
      if (end == std::string::npos) fail("unterminated string");
      std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
      pos_ = end + 1;
      return s;
    }
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == ';' || c == '(' ||
          c == ')' || c == '{' || c == '}' || c == ':' || c == '"') {
        break;
      }
      ++pos_;
    }
    if (pos_ == start) fail(std::string("unexpected '") + text_[pos_] + "'");
    return text_.substr(start, pos_ - start);
  }

  std::string identifier() { return token(); }

  std::vector<std::string> arguments() {
    expect('(');
    std::vector<std::string> args;
    while (peek() != ')') {
      args.push_back(token());
      if (peek() == ',') ++pos_;
    }
    ++pos_;
    return args;
  }

  void body(Group& group) {
    while (peek() != '}') {
      if (pos_ >= text_.size()) fail("unexpected end of file in group " + group.type);
      const size_t name_pos = pos_;
      std::string name = identifier();
      const char c = peek();
      if (c == ':') {
        ++pos_;
        std::string value;
        // A value runs to the ';' (it may contain spaces when unquoted).
        skip();
        if (pos_ < text_.size() && text_[pos_] == '"') {
          value = token();
        } else {
          const size_t end = text_.find_first_of(";\n}", pos_);
          value = text_.substr(pos_, end - pos_);
          while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
            value.pop_back();
          }
          pos_ = end;
        }
        if (peek() == ';') ++pos_;
        group.simple[name] = value;
      } else if (c == '(') {
        std::vector<std::string> args = arguments();
        if (peek() == '{') {
          ++pos_;
          auto child = std::make_unique<Group>();
          child->line = line_at(name_pos);
          child->type = name;
          child->args = std::move(args);
          body(*child);
          group.children.push_back(std::move(child));
        } else {
          if (peek() == ';') ++pos_;
          group.complex_attr[name] = std::move(args);
        }
      } else {
        fail("expected ':' or '(' after " + name);
      }
    }
    ++pos_;
  }

  std::string text_;
  std::string path_;
  size_t pos_ = 0;
  long line_ = 1;
  size_t line_pos_ = 0;
};

// `where` ("file:line") names the group in the error for an entry that is not a number.
std::vector<double> numbers(const std::string& list, const std::string& where) {
  std::vector<double> out;
  std::string item;
  std::istringstream in(list);
  while (std::getline(in, item, ',')) {
    const size_t first = item.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) continue;
    try {
      out.push_back(std::stod(item.substr(first)));
    } catch (const std::exception&) {
      throw std::runtime_error(where + ": not a number in a table: '" + item + "'");
    }
  }
  return out;
}

struct TemplateVariables {
  std::string variable_1;
  std::string variable_2;
};
using Templates = std::map<std::string, TemplateVariables>;

std::optional<LibertyTable> table(const Group& g, const std::string& path,
                                  const Templates* templates = nullptr) {
  const std::string where = path + ":" + std::to_string(g.line);
  LibertyTable t;
  t.source = where;
  if (templates && !g.args.empty()) {
    if (auto it = templates->find(g.args.front()); it != templates->end()) {
      t.variable_1 = it->second.variable_1;
      t.variable_2 = it->second.variable_2;
    }
  }
  auto find = [&](const char* name) -> const std::vector<std::string>* {
    auto it = g.complex_attr.find(name);
    return it == g.complex_attr.end() ? nullptr : &it->second;
  };
  const auto* values = find("values");
  if (!values) return std::nullopt;
  if (const auto* i1 = find("index_1"); i1 && !i1->empty()) {
    t.index_1 = numbers(i1->front(), where);
  }
  if (const auto* i2 = find("index_2"); i2 && !i2->empty()) {
    t.index_2 = numbers(i2->front(), where);
  }
  for (const std::string& row : *values) t.values.push_back(numbers(row, where));
  // A two-dimensional table must be index_1 rows of index_2 values.
  if (!t.index_2.empty() && t.values.size() > 1) {
    if (t.values.size() != t.index_1.size()) {
      throw std::runtime_error(where + ": " + g.type + " has " + std::to_string(t.values.size()) +
                               " rows for " + std::to_string(t.index_1.size()) +
                               " index_1 entries");
    }
    for (const auto& row : t.values) {
      if (row.size() != t.index_2.size()) {
        throw std::runtime_error(where + ": " + g.type + " has a row of " +
                                 std::to_string(row.size()) + " values for " +
                                 std::to_string(t.index_2.size()) + " index_2 entries");
      }
    }
  }
  return t;
}

double interpolate(const std::vector<double>& index, double x, size_t& lo) {
  if (index.size() < 2) {
    lo = 0;
    return 0.0;
  }
  x = std::clamp(x, index.front(), index.back());
  lo = 0;
  while (lo + 2 < index.size() && x > index[lo + 1]) ++lo;
  return (x - index[lo]) / (index[lo + 1] - index[lo]);
}

}  // namespace

double LibertyTable::lookup(double x1, double x2) const {
  if (values.empty() || values.front().empty()) return 0.0;
  if (values.size() == 1) {
    // One row: a table over index_1 only (passive power) or over index_2 only.
    const std::vector<double>& row = values.front();
    const std::vector<double>& index = index_2.empty() ? index_1 : index_2;
    const double x = index_2.empty() ? x1 : x2;
    if (row.size() < 2 || index.size() != row.size()) return row.front();
    size_t lo = 0;
    const double w = interpolate(index, x, lo);
    return row[lo] + w * (row[lo + 1] - row[lo]);
  }
  size_t r = 0;
  size_t c = 0;
  const double wr = interpolate(index_1, x1, r);
  const double wc = interpolate(index_2, x2, c);
  const size_t c1 = std::min(c + 1, values[r].size() - 1);
  const size_t r1 = std::min(r + 1, values.size() - 1);
  const double top = values[r][c] + wc * (values[r][c1] - values[r][c]);
  const double bottom = values[r1][c] + wc * (values[r1][c1] - values[r1][c]);
  return top + wr * (bottom - top);
}

double LibertyTable::lookup_load_slew(double load_pf, double slew_ns) const {
  const auto value_of = [&](const std::string& variable) {
    if (variable == "total_output_net_capacitance") return load_pf;
    if (variable == "input_net_transition" || variable == "input_transition_time") return slew_ns;
    throw std::runtime_error(source + ": a delay table over '" + variable +
                             "', expected total_output_net_capacitance and input_net_transition");
  };
  if (variable_1.empty()) {
    throw std::runtime_error(source + ": the table's template names no variables");
  }
  const double x1 = value_of(variable_1);
  const double x2 = variable_2.empty() ? 0.0 : value_of(variable_2);
  return lookup(x1, x2);
}

const LibertyPin* LibertyCell::pin(const std::string& pin_name) const {
  for (const LibertyPin& p : pins) {
    if (p.name == pin_name) return &p;
  }
  return nullptr;
}

const LibertyCell& LibertyLibrary::cell(const std::string& cell_name) const {
  auto it = cells.find(cell_name);
  if (it == cells.end()) {
    throw std::out_of_range("cell " + cell_name + " is not in library " + name);
  }
  return it->second;
}

LibertyLibrary read_liberty(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read liberty file " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  Parser parser(buffer.str(), path);
  const std::unique_ptr<Group> top = parser.parse_top();
  if (top->type != "library") throw std::runtime_error(path + ": not a liberty library");

  LibertyLibrary lib;
  lib.name = top->args.empty() ? "" : top->args.front();
  if (auto it = top->simple.find("nom_voltage"); it != top->simple.end()) {
    lib.nominal_voltage = std::stod(it->second);
  }
  Templates templates;
  for (const auto& g : top->children) {
    if ((g->type == "lu_table_template" || g->type == "power_lut_template") && !g->args.empty()) {
      TemplateVariables& v = templates[g->args.front()];
      if (auto it = g->simple.find("variable_1"); it != g->simple.end()) v.variable_1 = it->second;
      if (auto it = g->simple.find("variable_2"); it != g->simple.end()) v.variable_2 = it->second;
    }
  }
  for (const auto& g : top->children) {
    if (g->type != "cell" || g->args.empty()) continue;
    LibertyCell cell;
    cell.name = g->args.front();
    if (auto it = g->simple.find("area"); it != g->simple.end()) cell.area = std::stod(it->second);
    if (auto it = g->simple.find("cell_leakage_power"); it != g->simple.end()) {
      cell.leakage_nw = std::stod(it->second);
    }
    for (const auto& c : g->children) {
      if (c->type == "ff" && c->args.size() >= 2) {
        LibertyFlipFlop ff;
        ff.state = c->args[0];
        ff.state_inverted = c->args[1];
        auto get = [&](const char* key) {
          auto it = c->simple.find(key);
          return it == c->simple.end() ? std::string() : it->second;
        };
        ff.next_state = get("next_state");
        ff.clocked_on = get("clocked_on");
        ff.clear = get("clear");
        ff.preset = get("preset");
        cell.ff = ff;
      } else if (c->type == "latch" || c->type == "statetable") {
        cell.is_latch_or_tristate = true;
      } else if (c->type == "pin" && !c->args.empty()) {
        LibertyPin pin;
        pin.name = c->args.front();
        auto get = [&](const char* key) {
          auto it = c->simple.find(key);
          return it == c->simple.end() ? std::string() : it->second;
        };
        pin.is_output = get("direction") == "output";
        if (const std::string cap = get("capacitance"); !cap.empty()) {
          pin.capacitance_pf = std::stod(cap);
        }
        pin.function = get("function");
        pin.is_clock = get("clock") == "true";
        if (!get("three_state").empty()) cell.is_latch_or_tristate = true;
        for (const auto& p : c->children) {
          if (p->type == "timing") {
            LibertyTiming timing;
            timing.source = path + ":" + std::to_string(p->line);
            const auto related = p->simple.find("related_pin");
            if (related == p->simple.end() || related->second.empty()) {
              throw std::runtime_error(timing.source + ": timing() of pin " + pin.name +
                                       " of cell " + cell.name + " has no related_pin");
            }
            std::istringstream names(related->second);
            for (std::string n; names >> n;) timing.related_pins.push_back(n);
            if (auto it = p->simple.find("timing_sense"); it != p->simple.end()) {
              timing.timing_sense = it->second;
            }
            if (auto it = p->simple.find("timing_type"); it != p->simple.end()) {
              timing.timing_type = it->second;
            }
            for (const auto& t : p->children) {
              if (t->type == "cell_rise") timing.cell_rise = table(*t, path, &templates);
              if (t->type == "cell_fall") timing.cell_fall = table(*t, path, &templates);
              if (t->type == "rise_transition") {
                timing.rise_transition = table(*t, path, &templates);
              }
              if (t->type == "fall_transition") {
                timing.fall_transition = table(*t, path, &templates);
              }
            }
            pin.timing.push_back(std::move(timing));
            continue;
          }
          if (p->type != "internal_power") continue;
          InternalPower power;
          if (auto it = p->simple.find("related_pin"); it != p->simple.end()) {
            power.related_pin = it->second;
          }
          for (const auto& t : p->children) {
            if (t->type == "rise_power") power.rise = table(*t, path, &templates);
            if (t->type == "fall_power") power.fall = table(*t, path, &templates);
          }
          pin.internal_power.push_back(std::move(power));
        }
        cell.pins.push_back(std::move(pin));
      }
    }
    lib.cells.emplace(cell.name, std::move(cell));
  }
  if (lib.cells.empty()) throw std::runtime_error(path + ": no cells");
  return lib;
}

namespace {

// Recursive descent over a Liberty boolean function, evaluated for one assignment of the
// inputs. Precedence (Liberty reference): NOT (! prefix, ' postfix), XOR, AND (& * or
// juxtaposition), OR (| +).
class FunctionEvaluator {
 public:
  FunctionEvaluator(const std::string& function, const std::vector<std::string>& inputs,
                    uint32_t assignment)
      : text_(function), inputs_(inputs), assignment_(assignment) {}

  bool evaluate() {
    const bool value = or_expr();
    skip();
    if (pos_ != text_.size()) fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("liberty function \"" + text_ + "\": " + what);
  }
  void skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char peek() {
    skip();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  static bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '[' || c == ']' ||
           c == '.';
  }
  bool starts_operand() {
    const char c = peek();
    return is_name_char(c) || c == '(' || c == '!';
  }

  bool or_expr() {
    bool value = and_expr();
    while (peek() == '+' || peek() == '|') {
      ++pos_;
      const bool rhs = and_expr();
      value = value || rhs;
    }
    return value;
  }
  bool and_expr() {
    bool value = xor_expr();
    while (true) {
      if (peek() == '&' || peek() == '*') {
        ++pos_;
      } else if (!starts_operand()) {
        break;  // juxtaposition continues with the next operand
      }
      const bool rhs = xor_expr();
      value = value && rhs;
    }
    return value;
  }
  bool xor_expr() {
    bool value = unary();
    while (peek() == '^') {
      ++pos_;
      const bool rhs = unary();
      value = value != rhs;
    }
    return value;
  }
  bool unary() {
    if (peek() == '!') {
      ++pos_;
      return !unary();
    }
    bool value = primary();
    while (peek() == '\'') {
      ++pos_;
      value = !value;
    }
    return value;
  }
  bool primary() {
    const char c = peek();
    if (c == '(') {
      ++pos_;
      const bool value = or_expr();
      if (peek() != ')') fail("missing ')'");
      ++pos_;
      return value;
    }
    if (!is_name_char(c)) fail(c == '\0' ? "unexpected end" : "unexpected '" + std::string(1, c) + "'");
    const size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    const std::string name = text_.substr(start, pos_ - start);
    if (name == "0") return false;
    if (name == "1") return true;
    const auto it = std::find(inputs_.begin(), inputs_.end(), name);
    if (it == inputs_.end()) fail("'" + name + "' is not an input pin");
    return (assignment_ >> (it - inputs_.begin())) & 1u;
  }

  const std::string& text_;
  const std::vector<std::string>& inputs_;
  uint32_t assignment_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<uint8_t> liberty_function_truth_table(const std::string& function,
                                                  const std::vector<std::string>& inputs) {
  if (inputs.size() > 16) {
    throw std::runtime_error("liberty function \"" + function + "\": more than 16 inputs");
  }
  if (function.find_first_not_of(" \t") == std::string::npos) {
    throw std::runtime_error("empty liberty function");
  }
  std::vector<uint8_t> table(size_t{1} << inputs.size());
  for (uint32_t m = 0; m < table.size(); ++m) {
    table[m] = FunctionEvaluator(function, inputs, m).evaluate() ? 1 : 0;
  }
  return table;
}

std::string liberty_function_to_verilog(const std::string& function) {
  std::string out;
  bool operand_before = false;  // the previous token ends an operand: a juxtaposition is an AND
  for (size_t i = 0; i < function.size();) {
    const char c = function[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    const bool starts_operand = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                c == '(' || c == '!';
    if (starts_operand && operand_before) out += " & ";
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < function.size() &&
             (std::isalnum(static_cast<unsigned char>(function[j])) || function[j] == '_')) {
        ++j;
      }
      std::string name = function.substr(i, j - i);
      out += name == "1" ? "1'b1" : name == "0" ? "1'b0" : name;
      operand_before = true;
      i = j;
      continue;
    }
    switch (c) {
      case '(': out += '('; operand_before = false; break;
      case ')': out += ')'; operand_before = true; break;
      case '!': out += '~'; operand_before = false; break;
      case '+': case '|': out += " | "; operand_before = false; break;
      case '*': case '&': out += " & "; operand_before = false; break;
      case '^': out += " ^ "; operand_before = false; break;
      case '\'': out = "~(" + out + ")"; operand_before = true; break;  // rare postfix NOT
      default: throw std::runtime_error("unsupported character in liberty function: " + function);
    }
    ++i;
  }
  return out;
}

std::string cell_models_verilog(const LibertyLibrary& library) {
  std::ostringstream v;
  v << "// Behavioural models of the " << library.name
    << " cells, generated from the liberty functions by lbfp synth.\n"
       "// Zero-delay; latches and tri-state cells are not modelled.\n"
       "/* verilator lint_off DECLFILENAME */\n/* verilator lint_off UNUSEDSIGNAL */\n"
       "/* verilator lint_off MULTITOP */\n\n";
  for (const auto& [name, cell] : library.cells) {
    if (cell.is_latch_or_tristate || cell.pins.empty()) continue;
    v << "module " << name << " (";
    for (size_t i = 0; i < cell.pins.size(); ++i) v << (i ? ", " : "") << cell.pins[i].name;
    v << ");\n";
    for (const LibertyPin& p : cell.pins) {
      v << "  " << (p.is_output ? "output" : "input") << " " << p.name << ";\n";
    }
    if (cell.ff) {
      const LibertyFlipFlop& ff = *cell.ff;
      const std::string clock = liberty_function_to_verilog(ff.clocked_on);
      const bool negedge = clock.find('~') != std::string::npos;
      std::string clock_pin = clock;
      clock_pin.erase(std::remove_if(clock_pin.begin(), clock_pin.end(),
                                     [](char ch) { return ch == '~' || ch == '(' || ch == ')'; }),
                      clock_pin.end());
      v << "  reg " << ff.state << ";\n  wire " << ff.state_inverted << " = ~" << ff.state
        << ";\n";
      v << "  always @(" << (negedge ? "negedge " : "posedge ") << clock_pin;
      // Liberty clear/preset are active-high expressions; "(!R)" is an active-low pin R.
      auto async_pin = [](const std::string& expr, bool& active_low) {
        std::string pin_name = liberty_function_to_verilog(expr);
        active_low = pin_name.find('~') != std::string::npos;
        pin_name.erase(std::remove_if(pin_name.begin(), pin_name.end(),
                                      [](char ch) { return ch == '~' || ch == '(' || ch == ')'; }),
                       pin_name.end());
        return pin_name;
      };
      bool clear_low = false;
      bool preset_low = false;
      const std::string clear = ff.clear.empty() ? "" : async_pin(ff.clear, clear_low);
      const std::string preset = ff.preset.empty() ? "" : async_pin(ff.preset, preset_low);
      if (!clear.empty()) v << " or " << (clear_low ? "negedge " : "posedge ") << clear;
      if (!preset.empty()) v << " or " << (preset_low ? "negedge " : "posedge ") << preset;
      v << ")\n";
      std::string indent = "    ";
      if (!clear.empty()) {
        v << indent << "if (" << liberty_function_to_verilog(ff.clear) << ") " << ff.state
          << " <= 1'b0;\n" << indent << "else ";
      } else {
        v << indent;
      }
      if (!preset.empty()) {
        v << "if (" << liberty_function_to_verilog(ff.preset) << ") " << ff.state
          << " <= 1'b1;\n" << indent << "else ";
      }
      v << ff.state << " <= " << liberty_function_to_verilog(ff.next_state) << ";\n";
    }
    for (const LibertyPin& p : cell.pins) {
      if (p.is_output && !p.function.empty()) {
        v << "  assign " << p.name << " = " << liberty_function_to_verilog(p.function) << ";\n";
      }
    }
    v << "endmodule\n\n";
  }
  return v.str();
}

}  // namespace lbfp::synth
