#include "engine/model.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

using ::testing::HasSubstr;

class ModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln_engine_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Saves a scripted module whose methods are `source` and returns its path.
  std::string Save(const std::string& name, const std::string& source) {
    torch::jit::Module module("m");
    module.register_attribute("calls", c10::IntType::get(), int64_t{0});
    module.define(source);
    const std::string path = (dir_ / (name + ".pt")).string();
    module.save(path);
    return path;
  }

  std::filesystem::path dir_;
};

Tensor FloatTensor(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
  std::memcpy(t.data, values.data(), values.size() * sizeof(float));
  return t;
}

std::vector<float> Floats(const Tensor& t) {
  const float* p = static_cast<const float*>(t.data);
  return std::vector<float>(p, p + t.num_elements());
}

TEST_F(ModelTest, RunsAFrozenModuleOnNamedInputs) {
  const std::string path = Save("add", R"(
def forward(self, x, y):
    return x + 2 * y, x * y
)");
  ModelOptions options;
  options.input_names = {"y", "x"};  // config order differs from forward()
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->load_report().frozen);
  ASSERT_EQ((*model)->arguments().size(), 2u);
  EXPECT_EQ((*model)->arguments()[0].name, "x");

  auto out = (*model)->Run({FloatTensor({2}, {10, 20}), FloatTensor({2}, {1, 2})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->tensors.size(), 2u);
  EXPECT_THAT(Floats(out->tensors[0]), ::testing::ElementsAre(21, 42));
  EXPECT_THAT(Floats(out->tensors[1]), ::testing::ElementsAre(10, 40));
  EXPECT_EQ(out->tensors[0].shape, std::vector<int64_t>({2}));
}

TEST_F(ModelTest, BindsIndexedNames) {
  const std::string path = Save("sub", R"(
def forward(self, a, b):
    return a - b
)");
  ModelOptions options;
  options.input_names = {"INPUT__1", "INPUT__0"};
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Run({FloatTensor({1}, {1}), FloatTensor({1}, {5})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats(out->tensors[0]), ::testing::ElementsAre(4));
}

TEST_F(ModelTest, RejectsNamesThatMatchNoArgument) {
  const std::string path = Save("one", "def forward(self, x):\n    return x\n");
  ModelOptions options;
  options.input_names = {"x", "y"};
  auto model = Model::Load(path, options);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(), HasSubstr("'y'"));

  options.input_names = {};
  options.input_names.push_back("INPUT__3");
  model = Model::Load(path, options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("argument 3"));
}

TEST_F(ModelTest, ReportsArgumentsWithoutInputs) {
  const std::string path = Save("two", R"(
def forward(self, x, y):
    return x + y
)");
  ModelOptions options;
  options.input_names = {"x"};
  auto model = Model::Load(path, options);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("'y' has no input"));
}

// Freezing rejects modules that reassign interface-typed attributes; such a
// model is generated in Python (tests/models) because C++ cannot declare
// interfaces. The ctest fixture passes the generated repository's path.
TEST_F(ModelTest, ServesUnfrozenWhenFreezingFails) {
  const char* repo = std::getenv("KILN_TEST_REPO");
  if (repo == nullptr) GTEST_SKIP() << "KILN_TEST_REPO is not set";
  const std::string path = std::string(repo) + "/no_freeze/1/model.pt";
  auto model = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_FALSE((*model)->load_report().frozen);
  EXPECT_THAT((*model)->load_report().freeze_error, HasSubstr("freeze"));
  auto out = (*model)->Run({FloatTensor({1, 1}, {1})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats(out->tensors[0]), ::testing::ElementsAre(2));
}

TEST_F(ModelTest, LevelZeroDoesNotFreeze) {
  const std::string path = Save("id", "def forward(self, x):\n    return x\n");
  ModelOptions options;
  options.optimization_level = 0;
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_FALSE((*model)->load_report().frozen);
  EXPECT_TRUE((*model)->load_report().freeze_error.empty());
}

TEST_F(ModelTest, TorchScriptExceptionsBecomeInternalErrors) {
  const std::string path = Save("raise", R"(
def forward(self, x):
    assert bool(x[0] >= 0), "negative input not allowed"
    return x
)");
  auto model = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Run({FloatTensor({1}, {-1})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(out.status().message(), HasSubstr("negative input not allowed"));
  // The model keeps working after the exception.
  EXPECT_TRUE((*model)->Run({FloatTensor({1}, {1})}).ok());
  const RunStats stats = (*model)->run_stats();
  EXPECT_EQ(stats.runs, 1u);
  EXPECT_EQ(stats.failures, 1u);
  EXPECT_GT(stats.run_ns, 0u);
}

TEST_F(ModelTest, ShapeErrorsInsideTheModelAreInternal) {
  const std::string path = Save("mm", R"(
def forward(self, x):
    return torch.mm(x, x)
)");
  auto model = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Run({FloatTensor({1, 2}, {1, 2})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal);
}

TEST_F(ModelTest, DictOutputsCarryKeys) {
  const std::string path = Save("dict", R"(
def forward(self, x):
    return {"double": x * 2, "neg": -x}
)");
  auto model = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Run({FloatTensor({1}, {3})});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->keys.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    float expected = out->keys[i] == "double" ? 6 : -3;
    EXPECT_THAT(Floats(out->tensors[i]), ::testing::ElementsAre(expected));
  }
}

TEST_F(ModelTest, DictInputsAreBoundByKey) {
  const std::string path = Save("dict_in", R"(
def forward(self, inputs: Dict[str, Tensor]):
    return inputs["x"] - inputs["y"]
)");
  ModelOptions options;
  options.input_names = {"y", "x"};
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  auto out = (*model)->Run({FloatTensor({1}, {1}), FloatTensor({1}, {10})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats(out->tensors[0]), ::testing::ElementsAre(9));
}

TEST_F(ModelTest, InputsAreNotCopiedIn) {
  const std::string path = Save("view", R"(
def forward(self, x):
    x.add_(1.0)
    return x.clone()
)");
  auto model = Model::Load(path, ModelOptions{});
  ASSERT_TRUE(model.ok()) << model.status();
  Tensor in = FloatTensor({1}, {1});
  auto out = (*model)->Run({in});
  ASSERT_TRUE(out.ok()) << out.status();
  // The in-place add wrote into the caller's buffer: it was used in place.
  EXPECT_EQ(Floats(in)[0], 2.0f);
}

TEST_F(ModelTest, MissingAndCorruptFilesAreErrors) {
  auto missing = Model::Load((dir_ / "nope.pt").string(), ModelOptions{});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);

  const std::string path = (dir_ / "corrupt.pt").string();
  std::ofstream(path) << "this is not a zip archive";
  auto corrupt = Model::Load(path, ModelOptions{});
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("not a TorchScript model"));
}

// LibTorch 2.x sizes its inter-op pool to the cores unless told: the first
// model asking (INTER_OP_THREAD_COUNT) sizes it for the process, later ones
// are told it is already sized. (ctest runs each test in its own process,
// so the pool is fresh here.)
TEST_F(ModelTest, InterOpThreadsSizeTheProcessPoolOnce) {
  const std::string path = Save("double", R"(
def forward(self, x):
    return x * 2 + 1
)");
  ModelOptions options;
  options.intra_op_threads = 1;
  options.inter_op_threads = 3;
  auto first = Model::Load(path, options);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->load_report().threads,
            "1 intra-op thread(s) per run; inter-op pool: 3 thread(s) (process-wide, sized by "
            "this model)");
  EXPECT_EQ(at::get_num_interop_threads(), 3);

  options.inter_op_threads = 5;
  auto second = Model::Load(path, options);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT((*second)->load_report().threads,
              HasSubstr("3 thread(s) (process-wide; 5 requested here, already sized)"));
  options.inter_op_threads = 0;
  auto third = Model::Load(path, options);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_THAT((*third)->load_report().threads, HasSubstr("3 thread(s) (process-wide)"));
  EXPECT_EQ(at::get_num_interop_threads(), 3);

  auto out = (*first)->Run({FloatTensor({3}, {1, 2, 3})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Floats(out->tensors[0]), ::testing::ElementsAre(3, 5, 7));
}

// Run alone (as ctest runs it) the pool is LibTorch's default; after the
// test above in the same process, it is what that test sized.
TEST_F(ModelTest, DefaultInterOpPoolIsLeftAsItIs) {
  const std::string path = Save("plain", R"(
def forward(self, x):
    return x + 1
)");
  ModelOptions options;
  options.intra_op_threads = 2;
  auto model = Model::Load(path, options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_THAT((*model)->load_report().threads,
              ::testing::AnyOf("2 intra-op thread(s) per run; inter-op pool: LibTorch's default "
                               "(one thread per core, started on first fork)",
                               "2 intra-op thread(s) per run; inter-op pool: 3 thread(s) "
                               "(process-wide)"));
}

}  // namespace
}  // namespace kiln::engine
