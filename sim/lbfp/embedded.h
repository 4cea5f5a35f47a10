// Files compiled into `lbfp` so that `lbfp sim` with no arguments runs anywhere: the default
// architecture, its energy tables and the default network. Paths start with "<embedded>/".
#pragma once

#include <optional>
#include <string>

namespace lbfp::cli {

inline constexpr const char* kEmbeddedPrefix = "<embedded>/";
inline constexpr const char* kDefaultArch = "<embedded>/configs/arch/lbfp8_16x16.yaml";
inline constexpr const char* kDefaultWorkload = "<embedded>/sim/workloads/resnet18.csv";

// The content of an embedded file by its path (lexically normalised), if there is one.
std::optional<std::string> embedded_file(const std::string& path);

}  // namespace lbfp::cli
