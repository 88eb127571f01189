#include "common/fs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace skiff::common {
namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff-fs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FsTest, AtomicWriteReplacesWholeFile) {
  std::string p = dir_ + "/state.json";
  ASSERT_TRUE(writeFileAtomic(p, "first", 0600).isOk());
  ASSERT_TRUE(writeFileAtomic(p, "second version", 0600).isOk());
  auto r = readFile(p);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, "second version");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp files left behind.
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++n;
  EXPECT_EQ(n, 1);
}

TEST_F(FsTest, MissingFileAndDirectoryErrors) {
  auto r = readFile(dir_ + "/nope");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  Status s = writeFileAtomic(dir_ + "/no/such/dir/f", "x");
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("no/such/dir"), std::string::npos);
}

TEST_F(FsTest, MakeDirsIsIdempotent) {
  std::string d = dir_ + "/a/b/c";
  ASSERT_TRUE(makeDirs(d, 0700).isOk());
  ASSERT_TRUE(makeDirs(d, 0700).isOk());
  EXPECT_TRUE(std::filesystem::is_directory(d));
}

}  // namespace
}  // namespace skiff::common
