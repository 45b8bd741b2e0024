// Test-only: a fresh temporary directory, removed with everything in it when
// the object goes out of scope. Used by the config tests that touch disk.
#ifndef KILN_CONFIG_TEST_TEMP_DIR_H_
#define KILN_CONFIG_TEST_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace kiln::config {

class TestTempDir {
 public:
  TestTempDir() {
    std::string pattern =
        (std::filesystem::path(::testing::TempDir()) / "kiln_config_XXXXXX")
            .string();
    // mkdtemp makes the name unique, so tests may run in parallel.
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << pattern;
    }
    path_ = pattern;
  }
  ~TestTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TestTempDir(const TestTempDir&) = delete;
  TestTempDir& operator=(const TestTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Creates `relative` (and its parents) as a directory.
  void MakeDir(const std::string& relative) const {
    std::filesystem::create_directories(path_ / relative);
  }

  // Writes `contents` to `relative`, creating parent directories.
  void WriteFile(const std::string& relative,
                 const std::string& contents) const {
    const std::filesystem::path file = path_ / relative;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << contents;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace kiln::config

#endif  // KILN_CONFIG_TEST_TEMP_DIR_H_
