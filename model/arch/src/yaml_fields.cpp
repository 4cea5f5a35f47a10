#include "yaml_fields.h"

#include <yaml-cpp/depthguard.h>

#include <cmath>
#include <sstream>

#include "lbfp/config_error.h"

namespace lbfp::arch::yaml {
namespace {

// Where a node came from, for messages: "file:line" (1-based) or "file (--set)".
std::string where(const std::string& source, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return source + " (--set)";
  return source + ":" + std::to_string(mark.line + 1);
}

std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : "<not a scalar>"; }

}  // namespace

void fail(const std::string& source, const YAML::Node& node, const std::string& key,
          const std::string& what) {
  throw ConfigError(where(source, node) + ": " + key + ": " + what);
}

YAML::Node parse(const std::string& text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) throw ConfigError(source + ": the file is empty");
    return root;
  } catch (const YAML::DeepRecursion& e) {  // its own message says "bad file"
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) +
                      ": not valid YAML: nested too deeply");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " +
                      e.msg);
  }
}

void check_keys(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const std::set<std::string>& allowed) {
  if (!map.IsMap()) fail(source, map, prefix.empty() ? "(top)" : prefix, "expected a mapping");
  std::set<std::string> seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) {
      fail(source, item.first, prefix.empty() ? "(top)" : prefix, "a key must be a plain name");
    }
    const std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      // yaml-cpp keeps both entries and map[key] would silently read the first one.
      fail(source, item.first, prefix.empty() ? key : prefix + "." + key, "duplicate key");
    }
    if (allowed.count(key) == 0) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(source, item.first, prefix.empty() ? key : prefix + "." + key,
           "unknown key (expected one of: " + list + ")");
    }
  }
}

int64_t get_int(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, Range<int64_t> range, std::optional<int64_t> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  int64_t v = 0;
  try {
    if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    fail(source, n, full, "expected an integer, got '" + scalar_text(n) + "'");
  }
  if (!range.contains(v)) {
    fail(source, n, full,
         std::to_string(v) + " is outside " + std::to_string(range.lo) + ".." +
             std::to_string(range.hi));
  }
  return v;
}

double get_real(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, Range<double> range, std::optional<double> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  double v = 0;
  try {
    if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    fail(source, n, full, "expected a number, got '" + scalar_text(n) + "'");
  }
  if (!std::isfinite(v) || !range.contains(v)) {
    std::ostringstream s;
    s << v << " is outside " << range.lo << ".." << range.hi;
    fail(source, n, full, s.str());
  }
  return v;
}

std::string get_string(const std::string& source, const YAML::Node& map,
                       const std::string& prefix, const char* key,
                       std::optional<std::string> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  if (!n.IsScalar()) fail(source, n, full, "expected a string");
  return n.Scalar();
}

}  // namespace lbfp::arch::yaml
