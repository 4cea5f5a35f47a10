// SCALE-Sim v2 configuration files (`.cfg`, INI as Python's configparser reads them) mapped onto
// the architecture schema (config.h), so that `--arch scale.cfg` runs. The mapping is written as
// an architecture YAML document and read by parse_arch, so one schema checks both forms; an
// error of that reader is reported at the .cfg line and key it came from. docs/scalesim.md lists
// every key and what it becomes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lbfp/arch/config.h"
#include "lbfp/config_error.h"

namespace lbfp::arch {

// One `key = value` (or `key: value`) of a .cfg file.
struct IniEntry {
  std::string section;
  std::string key;    // as written
  std::string value;  // trimmed
  int line = 0;       // 1-based
};

// Reads INI text the way configparser does by default: `[section]` headers, `key = value` or
// `key: value` (the first delimiter splits), keys compared case-insensitively, full-line `#` and
// `;` comments, no inline comments. A duplicate section or key, a key before any section and a
// line that is neither is a ConfigError naming `source` and the line.
std::vector<IniEntry> parse_ini(const std::string& text, const std::string& source);

// Whether an architecture file is a SCALE-Sim .cfg: named *.cfg, or its first line that is not
// blank or a comment is a `[section]` header (a YAML architecture starts with a key).
bool is_scalesim_config(const std::string& path, const std::string& text);

struct ScaleSimMapping {
  std::string yaml;                   // the architecture file the .cfg maps onto
  std::vector<std::string> warnings;  // every key that is not mapped, and why
  // The keys of `yaml` that came from the .cfg, by their line in `yaml` (1-based).
  struct Origin {
    std::string key;  // dotted key of the schema: "array.rows"
    std::string cfg;  // "FILE:LINE: Key: value"
  };
  std::map<int, Origin> origin;
};

// Maps a SCALE-Sim v2 .cfg onto the architecture schema; the codes are `format` ("lbfp8" or
// "bfp8"). Throws ConfigError naming `source`, the line, the key and the value.
ScaleSimMapping map_scalesim_config(const std::string& text, const std::string& source,
                                    const std::string& format);

// The architecture of a .cfg: mapped, `overrides` (--set) applied to the mapping, and read by
// parse_arch; its errors name the .cfg line and key the YAML line came from ("FILE:LINE: Key:
// value, mapped to yaml.key: ..."). ArchSpec::warnings holds the mapping's warnings.
ArchSpec parse_scalesim_arch(const std::string& text, const std::string& source,
                             const std::vector<std::string>& overrides, const std::string& format);

}  // namespace lbfp::arch
