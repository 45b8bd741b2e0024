#include "server/scheduler/batch_assembly.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server {
namespace {

using ::testing::HasSubstr;

// A [rows, cols] float tensor holding start, start+1, ...
engine::Tensor Floats(int64_t rows, int64_t cols, float start) {
  engine::Tensor t = engine::Tensor::Allocate(engine::DType::kFloat32, {rows, cols});
  float* data = static_cast<float*>(t.data);
  for (int64_t i = 0; i < rows * cols; ++i) data[i] = start + static_cast<float>(i);
  return t;
}

std::vector<float> Values(const engine::Tensor& t) {
  const float* data = static_cast<const float*>(t.data);
  return std::vector<float>(data, data + t.num_elements());
}

TEST(BatchAssemblyTest, GatherConcatenatesEveryInputAlongTheBatchDimension) {
  const std::vector<engine::Tensor> a = {Floats(1, 2, 0), Floats(1, 1, 100)};
  const std::vector<engine::Tensor> b = {Floats(2, 2, 10), Floats(2, 1, 200)};
  auto batch = GatherBatch({&a, &b});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 2u);
  EXPECT_EQ((*batch)[0].shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values((*batch)[0]), (std::vector<float>{0, 1, 10, 11, 12, 13}));
  EXPECT_EQ(Values((*batch)[1]), (std::vector<float>{100, 200, 201}));
}

TEST(BatchAssemblyTest, GatherRefusesDifferentItemShapes) {
  const std::vector<engine::Tensor> a = {Floats(1, 2, 0)};
  const std::vector<engine::Tensor> b = {Floats(1, 3, 0)};
  auto batch = GatherBatch({&a, &b});
  ASSERT_FALSE(batch.ok());
  EXPECT_THAT(std::string(batch.status().message()), HasSubstr("input 0"));
}

TEST(BatchAssemblyTest, ShapeSignatureIgnoresTheBatchDimensionOnly) {
  EXPECT_EQ(BatchShapeSignature({Floats(1, 4, 0)}), BatchShapeSignature({Floats(3, 4, 0)}));
  EXPECT_NE(BatchShapeSignature({Floats(1, 4, 0)}), BatchShapeSignature({Floats(1, 5, 0)}));
  engine::Tensor ints = engine::Tensor::Allocate(engine::DType::kInt32, {1, 4});
  EXPECT_NE(BatchShapeSignature({Floats(1, 4, 0)}), BatchShapeSignature({ints}));
}

TEST(BatchAssemblyTest, ScatterSplitsOutputsAsViewsOfTheBatchBuffer) {
  engine::Outputs outputs;
  outputs.tensors = {Floats(3, 2, 0)};
  outputs.keys = {"y"};
  auto parts = ScatterBatch(outputs, {1, 2});
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].keys, outputs.keys);
  EXPECT_EQ((*parts)[0].tensors[0].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(Values((*parts)[0].tensors[0]), (std::vector<float>{0, 1}));
  EXPECT_EQ(Values((*parts)[1].tensors[0]), (std::vector<float>{2, 3, 4, 5}));
  // No copy: the parts point into the batch's buffer and keep it alive.
  EXPECT_EQ((*parts)[1].tensors[0].data,
            static_cast<char*>(outputs.tensors[0].data) + 2 * sizeof(float));
  EXPECT_EQ((*parts)[1].tensors[0].owner, outputs.tensors[0].owner);
}

TEST(BatchAssemblyTest, ScatterRefusesOutputsWithoutTheBatchDimension) {
  engine::Outputs outputs;
  outputs.tensors = {Floats(1, 2, 0)};
  auto parts = ScatterBatch(outputs, {1, 2});
  ASSERT_FALSE(parts.ok());
  EXPECT_THAT(std::string(parts.status().message()), HasSubstr("batch dimension"));
}

}  // namespace
}  // namespace kiln::server
