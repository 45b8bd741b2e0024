#include "config/repository_layout.h"

#include <filesystem>

#include "config/test_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ListModelDirectoriesTest, ListsSortedVisibleSubdirectories) {
  TestTempDir repo;
  repo.MakeDir("resnet/1");
  repo.MakeDir("bert");
  repo.MakeDir(".git");
  repo.MakeDir("alpha");
  repo.WriteFile("README.md", "not a model");
  std::filesystem::create_directory_symlink(repo.path() / "bert",
                                            repo.path() / "bert_link");
  absl::StatusOr<std::vector<std::string>> models =
      ListModelDirectories(repo.path().string());
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_THAT(*models, ElementsAre("alpha", "bert", "bert_link", "resnet"));
}

TEST(ListModelDirectoriesTest, EmptyRepositoryIsEmpty) {
  TestTempDir repo;
  absl::StatusOr<std::vector<std::string>> models =
      ListModelDirectories(repo.path().string());
  ASSERT_TRUE(models.ok()) << models.status();
  EXPECT_THAT(*models, IsEmpty());
}

TEST(ListModelDirectoriesTest, MissingRepositoryIsNotFound) {
  TestTempDir repo;
  const std::string missing = (repo.path() / "nope").string();
  absl::StatusOr<std::vector<std::string>> models =
      ListModelDirectories(missing);
  EXPECT_EQ(models.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(models.status().message()), HasSubstr(missing));
}

TEST(ListModelDirectoriesTest, FileIsInvalidArgument) {
  TestTempDir repo;
  repo.WriteFile("file", "x");
  const std::string file = (repo.path() / "file").string();
  absl::StatusOr<std::vector<std::string>> models = ListModelDirectories(file);
  EXPECT_EQ(models.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(models.status().message()), HasSubstr(file));
}

TEST(ListVersionDirectoriesTest, NumericDirectoriesOnlyAscending) {
  TestTempDir repo;
  for (const char* dir : {"m/10", "m/2", "m/1", "m/0", "m/007", "m/v3", "m/4a",
                          "m/-5", "m/+6", "m/99999999999999999999999"}) {
    repo.MakeDir(dir);
  }
  repo.WriteFile("m/3", "a file, not a version");
  repo.WriteFile("m/config.pbtxt", "");
  EXPECT_THAT(ListVersionDirectories((repo.path() / "m").string()),
              ElementsAre(1, 2, 10));
}

TEST(ListVersionDirectoriesTest, MissingModelDirHasNoVersions) {
  TestTempDir repo;
  EXPECT_THAT(ListVersionDirectories((repo.path() / "m").string()), IsEmpty());
}

TEST(ModelFilePathTest, DefaultAndOverriddenFilename) {
  inference::ModelConfig config;
  EXPECT_EQ(ModelFilePath("/models/m", 3, config), "/models/m/3/model.pt");
  EXPECT_EQ(ModelFilePath("/models/m/", 3, config), "/models/m/3/model.pt");
  config.set_default_model_filename("traced.pt");
  EXPECT_EQ(ModelFilePath("/models/m", 12, config), "/models/m/12/traced.pt");
}

}  // namespace
}  // namespace kiln::config
