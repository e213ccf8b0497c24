// Shared fixture for the hotreload tests: a private modules directory per test, removed after.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "arsenal/hotreload/module_manager.h"
#include "arsenal/hotreload/plugin_protocol.h"

namespace arsenal::hotreload::testing {

// A frame as it goes over the wire.
inline std::string Encoded(const plugin::Frame& frame) {
  std::string out;
  plugin::EncodeFrame(frame, &out);
  return out;
}

// Lines of /proc/self/maps that mention `needle` (a path or file name).
inline int MappingsOf(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int count = 0;
  while (std::getline(maps, line)) {
    if (line.find(needle) != std::string::npos) ++count;
  }
  return count;
}

inline size_t FilesIn(const std::filesystem::path& dir) {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++count;
  return count;
}

class ModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "arsenal-hotreload-XXXXXX");
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
    modules_dir_ = root_ / "modules";
  }
  void TearDown() override {
    manager_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  ModuleManager& Manager(ManagerOptions options = {}) {
    if (options.modules_dir.empty()) options.modules_dir = modules_dir_;
    auto created = ModuleManager::Create(std::move(options));
    EXPECT_TRUE(created.has_value()) << created.error().ToString();
    manager_ = std::move(*created);
    return *manager_;
  }

  std::filesystem::path root_;
  std::filesystem::path modules_dir_;
  std::unique_ptr<ModuleManager> manager_;
};

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    auto&& ok_result_ = (expr);                                           \
    ASSERT_TRUE(ok_result_.has_value()) << ok_result_.error().ToString(); \
  } while (false)

#define EXPECT_ERROR_CODE(expr, code_string)                                                \
  do {                                                                                      \
    auto&& err_result_ = (expr);                                                            \
    ASSERT_FALSE(err_result_.has_value()) << "expected " << (code_string);                  \
    EXPECT_EQ(err_result_.error().code(), (code_string)) << err_result_.error().ToString(); \
  } while (false)

}  // namespace arsenal::hotreload::testing
