// The files a simulation reads, and the defaults compiled into the library so that a simulation
// with no inputs runs anywhere: the default architecture, its energy tables and the default
// network, under paths that start with "<embedded>/".
#pragma once

#include <optional>
#include <string>

#include "lbfp/config_error.h"

namespace lbfp::arch {

inline constexpr const char* kEmbeddedPrefix = "<embedded>/";
inline constexpr const char* kDefaultArch = "<embedded>/configs/arch/lbfp8_16x16.yaml";
inline constexpr const char* kDefaultWorkload = "<embedded>/sim/workloads/resnet18.csv";

// The content of an embedded file by its path (lexically normalised), if there is one.
std::optional<std::string> embedded_file(const std::string& path);

// Reads a whole file (or an embedded one); throws ConfigError naming it when it cannot, and for
// a file over 64 MiB (no configuration, topology or summary is that large).
std::string read_text_file(const std::string& path);

}  // namespace lbfp::arch
