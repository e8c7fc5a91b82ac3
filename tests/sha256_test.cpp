// SHA-256 helper against the FIPS 180-2 test vectors.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "hearth/error.h"
#include "store/sha256.h"

namespace {

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(hearth::sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hearth::sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(hearth::sha256_hex(two.data(), two.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FileOfOneMillionAs) {
  // FIPS 180-2 vector 3, through the file reader and through many update() calls.
  std::filesystem::create_directories(HEARTH_TEST_TMP);
  std::string path = std::string(HEARTH_TEST_TMP) + "/sha256_million_a";
  {
    std::ofstream f(path, std::ios::binary);
    std::string a(1000000, 'a');
    f.write(a.data(), static_cast<std::streamsize>(a.size()));
  }
  const std::string want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  uint64_t last_done = 0, last_total = 0;
  EXPECT_EQ(hearth::sha256_file(path, [&](uint64_t d, uint64_t t) { last_done = d, last_total = t; }), want);
  EXPECT_EQ(last_done, 1000000u);
  EXPECT_EQ(last_total, 1000000u);
  hearth::Sha256 h;
  std::string a(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(a.data(), a.size());
  EXPECT_EQ(h.hex(), want);
  std::filesystem::remove(path);
}

TEST(Sha256, MissingFileThrows) {
  EXPECT_THROW(hearth::sha256_file("/nonexistent/hearth-sha256"), hearth::Error);
  EXPECT_TRUE(hearth::is_sha256_hex(std::string(64, 'a')));
  EXPECT_FALSE(hearth::is_sha256_hex(std::string(63, 'a')));
  EXPECT_FALSE(hearth::is_sha256_hex(std::string(64, 'g')));
}

}  // namespace
