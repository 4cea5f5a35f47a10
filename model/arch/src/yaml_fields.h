// Reading checked fields from YAML (config.cpp, energy.cpp): every error is a ConfigError that
// names the file, the line (or "(--set)") and the dotted key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "lbfp/arch/limits.h"

namespace lbfp::arch::yaml {

[[noreturn]] void fail(const std::string& source, const YAML::Node& node, const std::string& key,
                       const std::string& what);

// Parses a document; an empty one, bad YAML or one nested too deeply is a ConfigError.
YAML::Node parse(const std::string& text, const std::string& source);

// `map` is a mapping whose keys are plain names from `allowed`, each once.
void check_keys(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const std::set<std::string>& allowed);

int64_t get_int(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, Range<int64_t> range, std::optional<int64_t> fallback);
double get_real(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, Range<double> range, std::optional<double> fallback);
std::string get_string(const std::string& source, const YAML::Node& map,
                       const std::string& prefix, const char* key,
                       std::optional<std::string> fallback);

}  // namespace lbfp::arch::yaml
