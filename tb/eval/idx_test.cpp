// The IDX reader: well-formed files (plain and gzipped), each kind of malformed file, and the real
// data sets that scripts/setup.sh installs.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "lbfp/eval/idx.h"

namespace lbfp::eval {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "lbfp_idx_" + name;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

// A 2 x 3 x 2 array of bytes 0..11, written by hand.
std::vector<uint8_t> small_idx() {
  std::vector<uint8_t> b = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2};
  for (uint8_t i = 0; i < 12; ++i) b.push_back(i);
  return b;
}

template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const IdxError& e) {
    return e.what();
  }
  return "(no IdxError)";
}

TEST(IdxReader, ReadsPlainFile) {
  const std::string path = temp_path("plain");
  write_file(path, small_idx());
  IdxArray a = read_idx(path);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 3, 2}));
  ASSERT_EQ(a.data.size(), 12u);
  EXPECT_EQ(a.data[0], 0);
  EXPECT_EQ(a.data[11], 11);
}

TEST(IdxReader, ReadsGzippedFile) {
  const std::string path = temp_path("small.gz");
  write_gz(path, small_idx());
  IdxArray a = read_idx(path);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 3, 2}));
  EXPECT_EQ(a.data[7], 7);
}

TEST(IdxReader, RejectsTruncatedData) {
  auto bytes = small_idx();
  bytes.resize(bytes.size() - 3);
  const std::string path = temp_path("truncated");
  write_file(path, bytes);
  const std::string msg = error_of([&] { read_idx(path); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("12 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(IdxReader, RejectsTruncatedGzipStream) {
  // A valid gzip of a larger array, cut in the middle of the deflate stream.
  std::vector<uint8_t> bytes = {0, 0, 0x08, 1, 0, 1, 0, 0};
  for (int i = 0; i < 65536; ++i) bytes.push_back(static_cast<uint8_t>(i * 7919 % 251));
  const std::string full = temp_path("full.gz");
  write_gz(full, bytes);
  std::ifstream in(full, std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  const std::string cut = temp_path("cut.gz");
  write_file(cut, gz);
  const std::string msg = error_of([&] { read_idx(cut); });
  EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("gzip") != std::string::npos)
      << msg;
}

TEST(IdxReader, RejectsTruncatedHeader) {
  EXPECT_NE(error_of([] { parse_idx({0, 0, 8, 3, 0, 0}, "h"); }).find("header"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_idx({0, 0}, "h"); }).find("truncated"), std::string::npos);
}

TEST(IdxReader, RejectsBadMagic) {
  auto bytes = small_idx();
  bytes[0] = 0x1f;  // e.g. a gzip file without the .gz name
  bytes[1] = 0x8b;
  const std::string msg = error_of([&] { parse_idx(bytes, "x"); });
  EXPECT_NE(msg.find("bad magic 0x1f8b0803"), std::string::npos) << msg;
}

TEST(IdxReader, RejectsOtherElementTypesAndDimensionCounts) {
  auto bytes = small_idx();
  bytes[2] = 0x0d;  // float
  EXPECT_NE(error_of([&] { parse_idx(bytes, "x"); }).find("unsigned byte"), std::string::npos);
  bytes = small_idx();
  bytes[3] = 0;
  EXPECT_NE(error_of([&] { parse_idx(bytes, "x"); }).find("0 dimensions"), std::string::npos);
}

TEST(IdxReader, RefusesHugeDimensionsBeforeAllocating) {
  // 4 dimensions of 2^32 - 1: the product overflows 64 bits, the file is 20 bytes.
  std::vector<uint8_t> bytes = {0, 0, 0x08, 4};
  for (int i = 0; i < 16; ++i) bytes.push_back(0xff);
  const std::string msg = error_of([&] { parse_idx(bytes, "x"); });
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
}

TEST(IdxReader, RejectsTrailingBytes) {
  auto bytes = small_idx();
  bytes.push_back(0);
  EXPECT_NE(error_of([&] { parse_idx(bytes, "x"); }).find("1 bytes after"), std::string::npos);
}

TEST(IdxReader, MissingFileIsAnError) {
  EXPECT_NE(error_of([] { read_idx("/nonexistent/file"); }).find("no such file"),
            std::string::npos);
}

TEST(IdxDataset, ImageAndLabelCountsMustAgree) {
  const std::string dir = ::testing::TempDir() + "lbfp_idx_set";
  std::remove((dir + "/t10k-images-idx3-ubyte").c_str());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  write_file(dir + "/t10k-images-idx3-ubyte", small_idx());                       // 2 images
  write_file(dir + "/t10k-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3});  // 3 labels
  const std::string msg = error_of([&] { load_dataset(dir, Split::kTest); });
  EXPECT_NE(msg.find("2 images but"), std::string::npos) << msg;
  const std::string missing = error_of([&] { load_dataset(dir, Split::kTrain); });
  EXPECT_NE(missing.find("train-images-idx3-ubyte[.gz] not found"), std::string::npos) << missing;
}

TEST(IdxDataset, FashionMnistFromTheDebianPackage) {
  Dataset test = load_dataset("fashion-mnist", Split::kTest);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(test.rows, 28u);
  EXPECT_EQ(test.cols, 28u);
  EXPECT_EQ(test.pixels.size(), 10000u * 28 * 28);
  EXPECT_EQ(test.labels[0], 9);  // the first Fashion-MNIST test image is an ankle boot
}

TEST(IdxDataset, MnistFromSetup) {
  Dataset train = load_dataset("mnist", Split::kTrain);
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(train.labels[0], 5);  // the famous first MNIST training digit
  Dataset test = load_dataset("mnist", Split::kTest);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(test.labels[0], 7);
}

}  // namespace
}  // namespace lbfp::eval
