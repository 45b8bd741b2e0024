#include "server/codec/infer_response_encoder.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/codec/codec_test_util.h"

namespace kiln::server {
namespace {

using engine::DType;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Bytes;
using testing::MakeConfig;
using testing::MakeTensor;

inference::ModelConfig Outputs3() {
  return MakeConfig("m", 0, {},
                    {{"OUTPUT__0", inference::TYPE_FP32, {2}},
                     {"OUTPUT__1", inference::TYPE_INT64, {1}},
                     {"OUTPUT__2", inference::TYPE_BOOL, {-1}}});
}

void Request(inference::ModelInferRequest* request, const std::string& name) {
  request->add_outputs()->set_name(name);
}

TEST(SelectOutputsTest, NoneRequestedMeansAllInConfigOrder) {
  absl::StatusOr<std::vector<int>> got =
      SelectOutputs(inference::ModelInferRequest(), Outputs3());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(0, 1, 2));
}

TEST(SelectOutputsTest, RequestedOrderIsKept) {
  inference::ModelInferRequest request;
  Request(&request, "OUTPUT__2");
  Request(&request, "OUTPUT__0");
  absl::StatusOr<std::vector<int>> got = SelectOutputs(request, Outputs3());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAre(2, 0));
}

TEST(SelectOutputsTest, UnknownAndDuplicateNames) {
  inference::ModelInferRequest unknown;
  Request(&unknown, "OUTPUT__0");
  Request(&unknown, "x");
  absl::StatusOr<std::vector<int>> got = SelectOutputs(unknown, Outputs3());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message(), "model 'm': unknown output 'x'");

  inference::ModelInferRequest twice;
  Request(&twice, "OUTPUT__1");
  Request(&twice, "OUTPUT__1");
  got = SelectOutputs(twice, Outputs3());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("model 'm'"), HasSubstr("'OUTPUT__1' requested more than once")));
}

TEST(MatchOutputsTest, ByIndexSuffix) {
  // Config order differs from the tuple's order; the suffix decides.
  auto config = MakeConfig("m", 0, {},
                           {{"probs__1", inference::TYPE_INT64, {1}},
                            {"logits__0", inference::TYPE_FP32, {2}}});
  engine::Outputs outputs;
  outputs.tensors = {MakeTensor<float>(DType::kFloat32, {2}, {1.f, 2.f}),
                     MakeTensor<int64_t>(DType::kInt64, {1}, {7})};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].data, outputs.tensors[1].data);
  EXPECT_EQ((*got)[1].data, outputs.tensors[0].data);
}

TEST(MatchOutputsTest, ByDictKey) {
  auto config = MakeConfig("m", 4, {},
                           {{"scores", inference::TYPE_FP32, {2}},
                            {"OUTPUT__0", inference::TYPE_INT64, {}}});
  engine::Outputs outputs;
  // Keys in another order than the config; "OUTPUT__0" maps by key, not index.
  outputs.tensors = {MakeTensor<int64_t>(DType::kInt64, {3}, {1, 2, 3}),
                     MakeTensor<float>(DType::kFloat32, {3, 2}, {0, 1, 2, 3, 4, 5})};
  outputs.keys = {"OUTPUT__0", "scores"};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].data, outputs.tensors[1].data);
  EXPECT_EQ((*got)[1].data, outputs.tensors[0].data);

  outputs.keys = {"OUTPUT__0", "other"};
  got = MatchOutputs(config, outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("model 'm' output 'scores'"),
                    HasSubstr("expected a tensor under key 'scores'"),
                    HasSubstr("keys [OUTPUT__0,other]")));
}

TEST(MatchOutputsTest, ByPosition) {
  auto config = MakeConfig("m", 0, {},
                           {{"logits", inference::TYPE_FP32, {-1}},
                            {"label", inference::TYPE_INT32, {}}});
  engine::Outputs outputs;
  outputs.tensors = {MakeTensor<float>(DType::kFloat32, {5}, {0, 1, 2, 3, 4}),
                     MakeTensor<int32_t>(DType::kInt32, {}, {3})};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].data, outputs.tensors[0].data);
  EXPECT_EQ((*got)[1].data, outputs.tensors[1].data);

  outputs.tensors.pop_back();
  got = MatchOutputs(config, outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("model 'm' output 'label'"),
                    HasSubstr("expected output tensor 1"), HasSubstr("got only 1 tensors")));
}

TEST(MatchOutputsTest, MissingIndexedOutput) {
  engine::Outputs outputs;
  outputs.tensors = {MakeTensor<float>(DType::kFloat32, {2}, {1, 2}),
                     MakeTensor<int64_t>(DType::kInt64, {1}, {1})};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(Outputs3(), outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("model 'm' output 'OUTPUT__2'"),
                    HasSubstr("expected output tensor 2 (by its __2 suffix), got only 2")));
}

TEST(MatchOutputsTest, DatatypeMismatch) {
  auto config = MakeConfig("m", 0, {}, {{"OUTPUT__0", inference::TYPE_FP32, {1}}});
  engine::Outputs outputs;
  outputs.tensors = {MakeTensor<int64_t>(DType::kInt64, {1}, {1})};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(got.status().message(),
            "model 'm' output 'OUTPUT__0': expected datatype FP32, got INT64 from the model");
}

TEST(MatchOutputsTest, ShapeMismatch) {
  auto config = MakeConfig("m", 8, {}, {{"OUTPUT__0", inference::TYPE_FP32, {1000}}});
  engine::Outputs outputs;
  outputs.tensors = {engine::Tensor::Allocate(DType::kFloat32, {4, 1000})};
  ASSERT_TRUE(MatchOutputs(config, outputs).ok());  // -1 takes any batch

  outputs.tensors = {engine::Tensor::Allocate(DType::kFloat32, {1, 1000, 1})};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(got.status().message(),
            "model 'm' output 'OUTPUT__0': expected shape [-1,1000], got [1,1000,1] "
            "from the model");
}

TEST(MatchOutputsTest, InconsistentByteSize) {
  auto config = MakeConfig("m", 0, {}, {{"OUTPUT__0", inference::TYPE_FP32, {4}}});
  engine::Outputs outputs;
  engine::Tensor t = engine::Tensor::Allocate(DType::kFloat32, {4});
  t.byte_size = 8;
  outputs.tensors = {t};
  absl::StatusOr<std::vector<engine::Tensor>> got = MatchOutputs(config, outputs);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr("model 'm' output 'OUTPUT__0'"), HasSubstr("expected 16 bytes"),
                    HasSubstr("got a tensor of 8 bytes")));
}

TEST(EncodeTest, RawContentsWithExactBytesAndShapes) {
  auto config = Outputs3();
  std::vector<engine::Tensor> matched = {
      MakeTensor<float>(DType::kFloat32, {2}, {1.5f, -2.f}),
      MakeTensor<int64_t>(DType::kInt64, {1}, {INT64_MIN}),
      engine::Tensor::Allocate(DType::kBool, {0}),  // empty: still one raw entry
  };
  inference::ModelInferResponse response;
  EncodeInferOutputs(config, {2, 0, 1}, matched, &response);

  ASSERT_EQ(response.outputs_size(), 3);
  ASSERT_EQ(response.raw_output_contents_size(), 3);
  EXPECT_EQ(response.outputs(0).name(), "OUTPUT__2");
  EXPECT_EQ(response.outputs(0).datatype(), "BOOL");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(0));
  EXPECT_EQ(response.raw_output_contents(0), "");

  EXPECT_EQ(response.outputs(1).name(), "OUTPUT__0");
  EXPECT_EQ(response.outputs(1).datatype(), "FP32");
  EXPECT_THAT(response.outputs(1).shape(), ElementsAre(2));
  EXPECT_EQ(response.raw_output_contents(1), Bytes<float>({1.5f, -2.f}));

  EXPECT_EQ(response.outputs(2).name(), "OUTPUT__1");
  EXPECT_EQ(response.outputs(2).datatype(), "INT64");
  EXPECT_THAT(response.outputs(2).shape(), ElementsAre(1));
  EXPECT_EQ(response.raw_output_contents(2), Bytes<int64_t>({INT64_MIN}));
  EXPECT_FALSE(response.outputs(1).has_contents());
}

TEST(EncodeTest, EndToEndFromModelOutputs) {
  auto config = MakeConfig("m", 8, {},
                           {{"OUTPUT__0", inference::TYPE_FP16, {2}},
                            {"OUTPUT__1", inference::TYPE_INT8, {}}});
  engine::Outputs outputs;
  outputs.tensors = {MakeTensor<uint16_t>(DType::kFloat16, {2, 2}, {0x3C00, 0, 1, 0xBC00}),
                     MakeTensor<int8_t>(DType::kInt8, {2}, {-1, 5})};
  inference::ModelInferRequest request;
  Request(&request, "OUTPUT__1");
  absl::StatusOr<std::vector<int>> selected = SelectOutputs(request, config);
  ASSERT_TRUE(selected.ok()) << selected.status();
  absl::StatusOr<std::vector<engine::Tensor>> matched = MatchOutputs(config, outputs);
  ASSERT_TRUE(matched.ok()) << matched.status();
  inference::ModelInferResponse response;
  EncodeInferOutputs(config, *selected, *matched, &response);
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "OUTPUT__1");
  EXPECT_EQ(response.outputs(0).datatype(), "INT8");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(2));
  EXPECT_EQ(response.raw_output_contents(0), Bytes<int8_t>({-1, 5}));
}

}  // namespace
}  // namespace kiln::server
