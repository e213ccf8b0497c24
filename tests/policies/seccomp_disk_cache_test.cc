// CompileDefaultSeccomp: the built-in profile's filters from the persistent cache.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "arsenal/policies/seccomp.h"

namespace arsenal::policies {
namespace {

namespace fs = std::filesystem;

class SeccompDiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arsenal-seccomp-cache-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    const char* old = std::getenv("ARSENAL_CACHE_DIR");
    if (old != nullptr) saved_ = old;
  }
  void TearDown() override {
    if (saved_) {
      ::setenv("ARSENAL_CACHE_DIR", saved_->c_str(), 1);
    } else {
      ::unsetenv("ARSENAL_CACHE_DIR");
    }
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string Use(const std::string& name) {
    std::string dir = root_ + "/" + name;
    ::setenv("ARSENAL_CACHE_DIR", dir.c_str(), 1);
    return dir + "/seccomp";
  }
  static std::vector<fs::path> Files(const std::string& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path());
    return out;
  }
  static uint64_t Lookups() {
    auto s = SeccompCache::Global().Stats();
    return s.hits + s.misses;
  }
  static bool SameFilter(const SeccompProgram& a, const SeccompProgram& b) {
    return a.flags == b.flags && a.filter.size() == b.filter.size() &&
           std::memcmp(a.filter.data(), b.filter.data(), a.filter.size() * sizeof(sock_filter)) ==
               0;
  }
  std::string root_;
  std::optional<std::string> saved_;
};

TEST_F(SeccompDiskCacheTest, WritesOnceAndLoadsInAnotherProcessState) {
  std::string a = Use("a");
  auto compiled = CompileDefaultSeccomp(0);
  ASSERT_TRUE(compiled) << compiled.error().ToString();
  auto reference = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(reference);
  EXPECT_TRUE(SameFilter(**compiled, **reference));
  auto files = Files(a);
  ASSERT_EQ(files.size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // Another directory holding the same file: loaded from disk, no parse or compile.
  std::string b = Use("b");
  fs::create_directories(b);
  fs::permissions(b, fs::perms::owner_all);
  fs::copy_file(files[0], b + "/" + files[0].filename().string());
  uint64_t before = Lookups();
  auto loaded = CompileDefaultSeccomp(0);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(Lookups(), before) << "the disk copy should have been used";
  EXPECT_TRUE(SameFilter(**loaded, **reference));
  EXPECT_EQ(*CompileDefaultSeccomp(0), *loaded);  // memoised in memory afterwards
}

TEST_F(SeccompDiskCacheTest, UntrustedOrCorruptFilesAreIgnored) {
  std::string a = Use("src");
  ASSERT_TRUE(CompileDefaultSeccomp(0));
  fs::path original = Files(a).at(0);
  auto reference = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(reference);

  // Group-writable file.
  std::string loose = Use("loose");
  fs::create_directories(loose);
  fs::permissions(loose, fs::perms::owner_all);
  fs::copy_file(original, loose + "/" + original.filename().string());
  ::chmod((loose + "/" + original.filename().string()).c_str(), 0666);
  uint64_t before = Lookups();
  auto r1 = CompileDefaultSeccomp(0);
  ASSERT_TRUE(r1);
  EXPECT_GT(Lookups(), before) << "a group-writable cache file must not be trusted";
  EXPECT_TRUE(SameFilter(**r1, **reference));

  // Corrupted instructions with an intact header still parse, but a changed key does not.
  std::string bad = Use("bad");
  fs::create_directories(bad);
  fs::permissions(bad, fs::perms::owner_all);
  std::string path = bad + "/" + original.filename().string();
  fs::copy_file(original, path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);  // inside the key text
    f.put('#');
  }
  before = Lookups();
  auto r2 = CompileDefaultSeccomp(0);
  ASSERT_TRUE(r2);
  EXPECT_GT(Lookups(), before) << "a file whose key does not match must be ignored";
  EXPECT_TRUE(SameFilter(**r2, **reference));

  // A world-writable directory is not used at all.
  std::string open_dir = Use("open");
  fs::create_directories(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  ASSERT_TRUE(CompileDefaultSeccomp(0));
  EXPECT_TRUE(Files(open_dir).empty());
}

TEST_F(SeccompDiskCacheTest, CanBeTurnedOff) {
  ::setenv("ARSENAL_CACHE_DIR", "off", 1);
  EXPECT_EQ(SeccompCacheDirectory(), "");
  EXPECT_TRUE(CompileDefaultSeccomp(0));
}

}  // namespace
}  // namespace arsenal::policies
