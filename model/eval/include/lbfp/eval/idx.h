// IDX files (the MNIST container: big-endian magic, dimensions, then the data), plain or gzipped,
// and the two data sets `lbfp eval` knows by name. Every malformed file is an IdxError that names
// the file and what is wrong with it; nothing is allocated for a header that claims more data than
// a real data set can hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lbfp::eval {

class IdxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An IDX array of unsigned bytes (type code 0x08, the only one MNIST-style data sets use).
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;  // row-major
};

// The largest payload read_idx accepts (the header is checked against it before allocating).
inline constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 30;

// Reads `path`; a name ending in ".gz" is decompressed with zlib. Throws IdxError for a missing or
// unreadable file, a bad magic number, an element type other than unsigned byte, zero or more than
// 4 dimensions, a payload over kMaxIdxBytes, a truncated file or trailing bytes.
IdxArray read_idx(const std::string& path);
// The same from bytes in memory (already decompressed); `name` appears in the errors.
IdxArray parse_idx(const std::vector<uint8_t>& bytes, const std::string& name);

// Images (N x rows x cols bytes) with their labels (0..9).
struct Dataset {
  std::string name;
  size_t rows = 0;
  size_t cols = 0;
  std::vector<uint8_t> pixels;  // N * rows * cols
  std::vector<uint8_t> labels;  // N
  size_t size() const { return labels.size(); }
  const uint8_t* image(size_t i) const { return pixels.data() + i * rows * cols; }
};

enum class Split { kTrain, kTest };

// The folder of a data set given by name or path: "mnist" is $LBFP_DATA_DIR/mnist (default
// $XDG_CACHE_HOME/lbfp/mnist, else ~/.cache/lbfp/mnist, where scripts/setup.sh puts it);
// "fashion-mnist" is /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); anything
// else is taken as a folder.
std::string dataset_dir(const std::string& name_or_dir);

// Loads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from the folder of `name_or_dir`.
// Throws IdxError when a file is missing (saying how to install it) or malformed, or when the
// image and label counts differ or a label is above 9.
Dataset load_dataset(const std::string& name_or_dir, Split split);

}  // namespace lbfp::eval
