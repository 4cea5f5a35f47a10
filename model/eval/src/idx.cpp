#include "lbfp/eval/idx.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sys/stat.h>

namespace lbfp::eval {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<uint8_t> read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IdxError(path + ": cannot open");
  // One read of the whole file (an istreambuf_iterator goes byte by byte: 0.5 s for MNIST).
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) throw IdxError(path + ": read error");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (in.gcount() != size || in.bad()) throw IdxError(path + ": read error");
  return bytes;
}

// Decompresses with a cap: a gzip bomb or a corrupt stream stops at kMaxIdxBytes + header room.
std::vector<uint8_t> read_gzip(const std::string& path) {
  struct Closer {
    void operator()(gzFile_s* f) const { gzclose(f); }
  };
  std::unique_ptr<gzFile_s, Closer> file(gzopen(path.c_str(), "rb"));
  if (!file) throw IdxError(path + ": cannot open");
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  constexpr uint64_t kCap = kMaxIdxBytes + 64;
  while (true) {
    int n = gzread(file.get(), chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(file.get(), &errnum);
      throw IdxError(path + ": gzip error: " + (msg ? msg : "unknown"));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
    if (bytes.size() > kCap) throw IdxError(path + ": decompresses to more than 1 GiB");
  }
  // gzread returns 0 at a truncated stream too; gzerror tells the two apart.
  int errnum = 0;
  const char* msg = gzerror(file.get(), &errnum);
  if (errnum != Z_OK && errnum != Z_STREAM_END) {
    throw IdxError(path + ": gzip error: " + (msg ? msg : "unknown"));
  }
  return bytes;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    std::string path = dir + "/" + stem + suffix;
    if (file_exists(path)) return path;
  }
  return {};
}

}  // namespace

IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() < 4) {
    throw IdxError(name + ": truncated: " + std::to_string(bytes.size()) +
                   " bytes, shorter than the 4-byte IDX magic");
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "0x%08x", be32(bytes.data()));
    throw IdxError(name + ": bad magic " + magic + " (an IDX file starts with two zero bytes)");
  }
  if (bytes[2] != 0x08) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02x", bytes[2]);
    throw IdxError(name + ": element type " + type + " is not unsigned byte (0x08)");
  }
  const size_t ndim = bytes[3];
  if (ndim == 0 || ndim > 4) {
    throw IdxError(name + ": " + std::to_string(ndim) + " dimensions (expected 1 to 4)");
  }
  const size_t header = 4 + 4 * ndim;
  if (bytes.size() < header) throw IdxError(name + ": truncated inside the header");
  IdxArray array;
  uint64_t count = 1;
  for (size_t d = 0; d < ndim; ++d) {
    uint32_t dim = be32(bytes.data() + 4 + 4 * d);
    array.dims.push_back(dim);
    count *= dim;  // at most 4 factors below 2^32 each; checked against the cap step by step
    if (count > kMaxIdxBytes) {
      throw IdxError(name + ": dimensions claim more than " + std::to_string(kMaxIdxBytes) +
                     " bytes; refused");
    }
  }
  const uint64_t payload = bytes.size() - header;
  if (payload < count) {
    throw IdxError(name + ": truncated: the header promises " + std::to_string(count) +
                   " bytes of data, the file has " + std::to_string(payload));
  }
  if (payload > count) {
    throw IdxError(name + ": " + std::to_string(payload - count) +
                   " bytes after the data the header describes");
  }
  array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

IdxArray read_idx(const std::string& path) {
  if (!file_exists(path)) throw IdxError(path + ": no such file");
  return parse_idx(ends_with(path, ".gz") ? read_gzip(path) : read_plain(path), path);
}

std::string dataset_dir(const std::string& name_or_dir) {
  if (name_or_dir == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (name_or_dir == "mnist") {
    std::string root;
    if (const char* d = std::getenv("LBFP_DATA_DIR"); d && *d) {
      root = d;
    } else if (const char* c = std::getenv("XDG_CACHE_HOME"); c && *c) {
      root = std::string(c) + "/lbfp";
    } else {
      const char* home = std::getenv("HOME");
      root = std::string(home ? home : ".") + "/.cache/lbfp";
    }
    return root + "/mnist";
  }
  return name_or_dir;
}

Dataset load_dataset(const std::string& name_or_dir, Split split) {
  const std::string dir = dataset_dir(name_or_dir);
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_stem = prefix + "-images-idx3-ubyte";
  const std::string labels_stem = prefix + "-labels-idx1-ubyte";
  const std::string images_path = find_file(dir, images_stem);
  const std::string labels_path = find_file(dir, labels_stem);
  if (images_path.empty() || labels_path.empty()) {
    std::string hint = name_or_dir == "mnist"           ? " (scripts/setup.sh installs it)"
                       : name_or_dir == "fashion-mnist" ? " (apt-get install dataset-fashion-mnist)"
                                                        : "";
    throw IdxError("data set '" + name_or_dir + "': " + dir + "/" +
                   (images_path.empty() ? images_stem : labels_stem) + "[.gz] not found" + hint);
  }
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3) {
    throw IdxError(images_path + ": expected 3 dimensions (N x rows x cols), found " +
                   std::to_string(images.dims.size()));
  }
  if (labels.dims.size() != 1) {
    throw IdxError(labels_path + ": expected 1 dimension, found " +
                   std::to_string(labels.dims.size()));
  }
  if (images.dims[0] != labels.dims[0]) {
    throw IdxError(images_path + " holds " + std::to_string(images.dims[0]) + " images but " +
                   labels_path + " " + std::to_string(labels.dims[0]) + " labels");
  }
  Dataset set;
  set.name = name_or_dir;
  set.rows = images.dims[1];
  set.cols = images.dims[2];
  set.pixels = std::move(images.data);
  set.labels = std::move(labels.data);
  for (size_t i = 0; i < set.labels.size(); ++i) {
    if (set.labels[i] > 9) {
      throw IdxError(labels_path + ": label " + std::to_string(set.labels[i]) + " of item " +
                     std::to_string(i) + " is not a class 0..9");
    }
  }
  return set;
}

}  // namespace lbfp::eval
