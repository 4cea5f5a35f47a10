#include "lbfp/arch/input.h"

#include <filesystem>
#include <fstream>
#include <vector>

namespace lbfp::arch {

std::string read_text_file(const std::string& path) {
  if (path.rfind(kEmbeddedPrefix, 0) == 0) {
    if (auto text = embedded_file(path)) return *text;
    throw ConfigError(path + ": no such embedded file");
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the file");
  // Read in bounded chunks: /dev/zero or a runaway pipe must end in an error, not fill memory.
  constexpr size_t kMaxBytes = size_t{64} << 20;
  std::string text;
  std::vector<char> chunk(size_t{1} << 16);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxBytes) {
      throw ConfigError(path + ": larger than 64 MiB; not a configuration, topology or summary file");
    }
  }
  if (in.bad()) throw ConfigError(path + ": read error");
  return text;
}

}  // namespace lbfp::arch
