#include "output_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

std::string errno_text() { return std::strerror(errno); }

// Writes `content` to a new temporary file next to `path`; returns its name.
std::string write_temporary(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw ConfigError(path + ": cannot write (" + errno_text() + ")");
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? errno_text() : "no progress";
      ::close(fd);
      std::remove(tmp.c_str());
      throw ConfigError(path + ": write failed (" + why + ")");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {  // EINVAL: a pipe or /proc file
    const std::string why = errno_text();
    ::close(fd);
    std::remove(tmp.c_str());
    throw ConfigError(path + ": write failed (" + why + ")");
  }
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw ConfigError(path + ": write failed (" + why + ")");
  }
  return tmp;
}

void move_into_place(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw ConfigError(path + ": cannot move the report into place (" + why + ")");
  }
}

}  // namespace

void make_output_folder(const std::string& dir) {
  if (dir.empty()) throw ConfigError("the output folder name is empty");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    std::string why = ec ? ec.message() : "a file of that name exists";
    throw ConfigError(dir + ": cannot create the output folder (" + why + ")");
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_files_atomically({{path, content}});
}

void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
  // The one way a rename into a folder we could write a temporary file in still fails: a folder
  // of the report's name. Checked first, so that no report of the set is replaced.
  for (const auto& [path, content] : files) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      throw ConfigError(path + ": is a folder; cannot replace it with a report");
    }
  }
  std::vector<std::string> temporaries;
  try {
    for (const auto& [path, content] : files) temporaries.push_back(write_temporary(path, content));
  } catch (...) {
    for (const std::string& t : temporaries) std::remove(t.c_str());
    throw;
  }
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      move_into_place(temporaries[i], files[i].first);
    } catch (...) {
      for (size_t j = i + 1; j < files.size(); ++j) std::remove(temporaries[j].c_str());
      throw;
    }
  }
}

namespace {
std::string& recorded_command_line() {
  static std::string line;
  return line;
}
}  // namespace

void set_command_line(int argc, const char* const* argv) {
  std::string line = "lbfp";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    line += ' ';
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-./=:,+@%") == std::string::npos) {
      line += a;
      continue;
    }
    line += '\'';
    for (const char c : a) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += '\'';
  }
  recorded_command_line() = line;
}

std::string command_line() { return recorded_command_line(); }

}  // namespace lbfp::cli
