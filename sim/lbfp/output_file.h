// Reports on disk are whole or absent: every `lbfp` command writes its outputs through these, so
// an interrupted run, a full disk or an unwritable folder never leaves a half-written report.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "cli_error.h"

namespace lbfp::cli {

// Creates `dir` and its parents when missing. Throws ConfigError naming the folder when it cannot,
// or when the path is a file; commands call it before their work, so a bad --out fails at once.
void make_output_folder(const std::string& dir);

// Writes through a temporary file in the same folder (flushed to disk) and renames it into place,
// so a reader never sees a half-written file. Throws ConfigError naming the path.
void write_file_atomically(const std::string& path, const std::string& content);

// The same for a set of files: every temporary file is written before the first rename, so a
// failure leaves the previous versions of all of them (or none), never a mix of a new layers.csv
// with an old summary.json because the disk filled up between the two.
void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files);

// The command line of this process (main records it), shell-quoted, with the program named
// `lbfp`: report.html shows it as the command that reproduces the run.
void set_command_line(int argc, const char* const* argv);
std::string command_line();

}  // namespace lbfp::cli
