#include "server/repository/model_repository.h"

#include <cstdlib>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The repository made by tests/models/make_repository.py --kind test; the
// ctest fixture generates it and passes its path.
std::string TestRepo() {
  const char* repo = std::getenv("KILN_TEST_REPO");
  return repo == nullptr ? "" : repo;
}

#define REQUIRE_TEST_REPO()                                  \
  if (TestRepo().empty() || !fs::is_directory(TestRepo())) { \
    GTEST_SKIP() << "KILN_TEST_REPO is not set";             \
  }

const IndexEntry* FindEntry(const std::vector<IndexEntry>& index,
                            const std::string& name,
                            const std::string& version) {
  for (const IndexEntry& e : index) {
    if (e.name == name && e.version == version) return &e;
  }
  return nullptr;
}

std::unique_ptr<ModelRepository> MakeRepository(
    const std::string& path, config::ModelControlMode mode) {
  ModelRepository::Options options;
  options.repository_paths = {path};
  options.mode = mode;
  options.intra_op_threads = 1;
  auto repo = ModelRepository::Create(options);
  EXPECT_TRUE(repo.ok()) << repo.status();
  return repo.ok() ? *std::move(repo) : nullptr;
}

TEST(ModelRepositoryTest, MissingRepositoryIsAnError) {
  ModelRepository::Options options;
  options.repository_paths = {"/nonexistent/kiln/repo"};
  auto repo = ModelRepository::Create(options);
  ASSERT_FALSE(repo.ok());
  EXPECT_THAT(repo.status().message(), HasSubstr("/nonexistent/kiln/repo"));
}

TEST(ModelRepositoryTest, BrokenModelsAreUnavailableWhileOthersServe) {
  REQUIRE_TEST_REPO();
  auto repo = MakeRepository(TestRepo(), config::ModelControlMode::kNone);
  absl::Status loaded = repo->LoadAll({});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.message(), HasSubstr("broken_config"));
  EXPECT_THAT(loaded.message(), HasSubstr("corrupt_model"));
  EXPECT_THAT(loaded.message(), ::testing::Not(HasSubstr("tiny_cnn")));

  const std::vector<IndexEntry> index = repo->Index(false);
  const IndexEntry* broken = FindEntry(index, "broken_config", "");
  ASSERT_NE(broken, nullptr);
  EXPECT_EQ(broken->state, "UNAVAILABLE");
  EXPECT_THAT(broken->reason, HasSubstr("config.pbtxt"));
  const IndexEntry* corrupt = FindEntry(index, "corrupt_model", "1");
  ASSERT_NE(corrupt, nullptr);
  EXPECT_EQ(corrupt->state, "UNAVAILABLE");
  EXPECT_THAT(corrupt->reason, HasSubstr("not a TorchScript model"));
  const IndexEntry* mismatch = FindEntry(index, "signature_mismatch", "1");
  ASSERT_NE(mismatch, nullptr);
  EXPECT_THAT(mismatch->reason, HasSubstr("'y'"));
  const IndexEntry* platform = FindEntry(index, "bad_platform", "");
  ASSERT_NE(platform, nullptr);
  EXPECT_THAT(platform->reason, HasSubstr("tensorflow_savedmodel"));
  // An unknown engine option value is refused at load, naming it.
  const IndexEntry* option = FindEntry(index, "bad_engine_option", "1");
  ASSERT_NE(option, nullptr);
  EXPECT_EQ(option->state, "UNAVAILABLE");
  EXPECT_THAT(option->reason, HasSubstr("KILN_PRECISION"));
  EXPECT_THAT(option->reason, HasSubstr("'fp16'"));

  EXPECT_TRUE(repo->Find("tiny_cnn", "").ok());
  EXPECT_TRUE(repo->Find("tiny_cnn", "1").ok());
  EXPECT_EQ(repo->Find("corrupt_model", "").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(repo->Find("no_such_model", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->Find("tiny_cnn", "7").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(repo->Find("tiny_cnn", "latest").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(repo->AllReady());
}

TEST(ModelRepositoryTest, VersionPoliciesSelectVersions) {
  REQUIRE_TEST_REPO();
  auto repo = MakeRepository(TestRepo(), config::ModelControlMode::kExplicit);
  ASSERT_TRUE(repo->LoadAll({"multi_version", "specific_version"}).ok());

  auto latest = repo->Find("multi_version", "");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)->version(), 3);
  EXPECT_TRUE(repo->Find("multi_version", "2").ok());
  EXPECT_EQ(repo->Find("multi_version", "1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(repo->Find("specific_version", "1").ok());
  EXPECT_TRUE(repo->Find("specific_version", "3").ok());
  EXPECT_EQ(repo->Find("specific_version", "2").status().code(),
            absl::StatusCode::kNotFound);
  auto versions = repo->ReadyModels("multi_version", "");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
  EXPECT_TRUE(repo->AllReady());
}

TEST(ModelRepositoryTest, ExplicitLoadAndUnload) {
  REQUIRE_TEST_REPO();
  auto repo = MakeRepository(TestRepo(), config::ModelControlMode::kExplicit);
  ASSERT_TRUE(repo->LoadAll({"two_in_two_out"}).ok());
  EXPECT_TRUE(repo->Find("two_in_two_out", "").ok());
  EXPECT_FALSE(repo->Find("tiny_cnn", "").ok());
  // Not-loaded models are still listed, without a state.
  const IndexEntry* listed = FindEntry(repo->Index(false), "tiny_cnn", "");
  ASSERT_NE(listed, nullptr);
  EXPECT_EQ(listed->state, "");
  EXPECT_EQ(repo->Index(true).size(), 1u);

  ASSERT_TRUE(repo->LoadModel("tiny_cnn").ok());
  EXPECT_TRUE(repo->Find("tiny_cnn", "").ok());
  ASSERT_TRUE(repo->UnloadModel("tiny_cnn").ok());
  EXPECT_EQ(repo->Find("tiny_cnn", "").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(repo->AllReady());  // unloaded models do not count

  EXPECT_FALSE(repo->LoadModel("corrupt_model").ok());
  EXPECT_EQ(repo->LoadModel("no_such_model").code(),
            absl::StatusCode::kNotFound);
}

TEST(ModelRepositoryTest, PollingPicksUpAddedAndRemovedModels) {
  REQUIRE_TEST_REPO();
  const fs::path dir = fs::temp_directory_path() /
                       ("kiln_poll_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(fs::path(TestRepo()) / "two_in_two_out", dir / "two_in_two_out",
           fs::copy_options::recursive);
  auto repo = MakeRepository(dir.string(), config::ModelControlMode::kPoll);
  ASSERT_TRUE(repo->LoadAll({}).ok());
  EXPECT_FALSE(repo->Find("tiny_cnn", "").ok());

  fs::copy(fs::path(TestRepo()) / "tiny_cnn", dir / "tiny_cnn",
           fs::copy_options::recursive);
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_TRUE(repo->Find("tiny_cnn", "").ok());

  fs::remove_all(dir / "two_in_two_out");
  ASSERT_TRUE(repo->Poll().ok());
  EXPECT_EQ(repo->Find("two_in_two_out", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(repo->Find("tiny_cnn", "").ok());
  repo->Shutdown();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::server
