// kiln-server driven by a C++ gRPC client built from Kiln's own protos:
// the wire contract end to end, including errors and graceful shutdown.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/grpc_service.grpc.pb.h"
#include "tests/e2e/cpp/server_process.h"

namespace kiln::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Stub = inference::GRPCInferenceService::Stub;

std::string Env(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : value;
}
std::string ServerBinary() { return Env("KILN_SERVER", KILN_DEFAULT_SERVER); }
std::string TestRepo() { return Env("KILN_TEST_REPO", KILN_DEFAULT_TEST_REPO); }

std::string RawFloats(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(float));
}

std::vector<float> ParseFloats(const std::string& raw) {
  std::vector<float> out(raw.size() / sizeof(float));
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

// Request for two_in_two_out (a, b: FP32 [batch, 4]) with raw contents.
inference::ModelInferRequest TwoInTwoOut(const std::vector<float>& a,
                                         const std::vector<float>& b) {
  inference::ModelInferRequest request;
  request.set_model_name("two_in_two_out");
  request.set_id("req-1");
  for (const char* name : {"a", "b"}) {
    auto* input = request.add_inputs();
    input->set_name(name);
    input->set_datatype("FP32");
    input->add_shape(static_cast<int64_t>(a.size() / 4));
    input->add_shape(4);
  }
  request.add_raw_input_contents(RawFloats(a));
  request.add_raw_input_contents(RawFloats(b));
  return request;
}

// One server for the whole suite: startup loads every test model.
class GrpcE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(
        ServerBinary(), {"--model-repository=" + TestRepo(),
                         "--exit-on-error=false"});
    ASSERT_TRUE(server_->WaitUntilLive(120)) << server_->log();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(SIGTERM, 60), 0) << server_->log();
      delete server_;
      server_ = nullptr;
    }
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Infer(const inference::ModelInferRequest& request,
                     inference::ModelInferResponse* response) {
    grpc::ClientContext context;
    return stub_->ModelInfer(&context, request, response);
  }

  static ServerProcess* server_;
  std::unique_ptr<Stub> stub_;
};

ServerProcess* GrpcE2eTest::server_ = nullptr;

TEST_F(GrpcE2eTest, HealthAndServerMetadata) {
  grpc::ClientContext live_context;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(stub_->ServerLive(&live_context, {}, &live).ok());
  EXPECT_TRUE(live.live());

  // Strict readiness: the broken models keep the server not ready.
  grpc::ClientContext ready_context;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(stub_->ServerReady(&ready_context, {}, &ready).ok());
  EXPECT_FALSE(ready.ready());

  grpc::ClientContext meta_context;
  inference::ServerMetadataResponse meta;
  ASSERT_TRUE(stub_->ServerMetadata(&meta_context, {}, &meta).ok());
  EXPECT_EQ(meta.name(), "kiln");
  EXPECT_THAT(meta.extensions(), Contains("statistics"));
  EXPECT_THAT(meta.extensions(), Contains("model_repository"));
}

TEST_F(GrpcE2eTest, ModelReadyAndMetadata) {
  for (const auto& [name, want] :
       std::vector<std::pair<std::string, bool>>{{"tiny_cnn", true},
                                                 {"corrupt_model", false},
                                                 {"no_such_model", false}}) {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name(name);
    inference::ModelReadyResponse response;
    ASSERT_TRUE(stub_->ModelReady(&context, request, &response).ok());
    EXPECT_EQ(response.ready(), want) << name;
  }
  grpc::ClientContext context;
  inference::ModelMetadataRequest request;
  request.set_name("tiny_cnn");
  inference::ModelMetadataResponse meta;
  ASSERT_TRUE(stub_->ModelMetadata(&context, request, &meta).ok());
  EXPECT_EQ(meta.platform(), "pytorch_libtorch");
  EXPECT_THAT(meta.versions(), ElementsAre("1"));
  ASSERT_EQ(meta.inputs_size(), 1);
  EXPECT_EQ(meta.inputs(0).datatype(), "FP32");
  EXPECT_THAT(meta.inputs(0).shape(), ElementsAre(-1, 3, 32, 32));
}

TEST_F(GrpcE2eTest, InferRawAndTypedContents) {
  inference::ModelInferResponse response;
  grpc::Status status = Infer(
      TwoInTwoOut({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 1, 1, 2, 2, 2, 2}),
      &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "two_in_two_out");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "req-1");
  ASSERT_EQ(response.outputs_size(), 2);
  ASSERT_EQ(response.raw_output_contents_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "OUTPUT__0");
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(2, 4));
  EXPECT_THAT(ParseFloats(response.raw_output_contents(0)),
              ElementsAre(2, 3, 4, 5, 7, 8, 9, 10));
  EXPECT_THAT(ParseFloats(response.raw_output_contents(1)),
              ElementsAre(1, 2, 3, 4, 10, 12, 14, 16));

  // The same request with typed contents, asking for OUTPUT__1 only.
  inference::ModelInferRequest typed = TwoInTwoOut({1, 2, 3, 4}, {2, 2, 2, 2});
  typed.clear_raw_input_contents();
  for (int i = 0; i < 2; ++i) {
    for (float v : i == 0 ? std::vector<float>{1, 2, 3, 4}
                          : std::vector<float>{2, 2, 2, 2}) {
      typed.mutable_inputs(i)->mutable_contents()->add_fp32_contents(v);
    }
  }
  typed.add_outputs()->set_name("OUTPUT__1");
  inference::ModelInferResponse typed_response;
  status = Infer(typed, &typed_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(typed_response.outputs_size(), 1);
  EXPECT_EQ(typed_response.outputs(0).name(), "OUTPUT__1");
  EXPECT_THAT(ParseFloats(typed_response.raw_output_contents(0)),
              ElementsAre(2, 4, 6, 8));
}

TEST_F(GrpcE2eTest, BadRequestsGetClearErrorsAndTheServerKeepsServing) {
  struct Case {
    std::string what;
    std::function<void(inference::ModelInferRequest*)> mutate;
    grpc::StatusCode code;
    std::vector<std::string> message_parts;
  };
  const std::vector<Case> cases = {
      {"wrong shape",
       [](auto* r) { r->mutable_inputs(0)->set_shape(1, 5); },
       grpc::INVALID_ARGUMENT, {"two_in_two_out", "'a'", "[-1,4]", "[1,5]"}},
      {"wrong datatype",
       [](auto* r) { r->mutable_inputs(1)->set_datatype("INT32"); },
       grpc::INVALID_ARGUMENT, {"'b'", "FP32", "INT32"}},
      {"short raw bytes",
       [](auto* r) { r->mutable_raw_input_contents(0)->resize(12); },
       grpc::INVALID_ARGUMENT, {"'a'", "16 bytes", "12"}},
      {"missing input",
       [](auto* r) {
         r->mutable_inputs()->RemoveLast();
         r->mutable_raw_input_contents()->RemoveLast();
       },
       grpc::INVALID_ARGUMENT, {"'b'"}},
      {"unknown output",
       [](auto* r) { r->add_outputs()->set_name("nope"); },
       grpc::INVALID_ARGUMENT, {"'nope'"}},
      {"unknown model", [](auto* r) { r->set_model_name("no_such_model"); },
       grpc::NOT_FOUND, {"no_such_model"}},
      {"unknown version", [](auto* r) { r->set_model_version("9"); },
       grpc::NOT_FOUND, {"two_in_two_out", "9"}},
      {"broken model", [](auto* r) { r->set_model_name("corrupt_model"); },
       grpc::UNAVAILABLE, {"corrupt_model"}},
  };
  for (const Case& c : cases) {
    inference::ModelInferRequest request = TwoInTwoOut({1, 2, 3, 4}, {1, 1, 1, 1});
    c.mutate(&request);
    inference::ModelInferResponse response;
    grpc::Status status = Infer(request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    for (const std::string& part : c.message_parts) {
      EXPECT_THAT(status.error_message(), HasSubstr(part)) << c.what;
    }
    inference::ModelInferResponse good;
    EXPECT_TRUE(Infer(TwoInTwoOut({1, 2, 3, 4}, {1, 1, 1, 1}), &good).ok())
        << "after " << c.what;
  }
}

TEST_F(GrpcE2eTest, ExceptionsInsideTheModelAreInternalErrors) {
  inference::ModelInferRequest request;
  request.set_model_name("runtime_error");
  auto* input = request.add_inputs();
  input->set_name("INPUT__0");
  input->set_datatype("FP32");
  input->add_shape(1);
  input->add_shape(4);
  request.add_raw_input_contents(RawFloats({-1, 0, 0, 0}));
  inference::ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::INTERNAL);
  EXPECT_THAT(status.error_message(), HasSubstr("negative input not allowed"));
  EXPECT_THAT(status.error_message(), HasSubstr("runtime_error"));

  *request.mutable_raw_input_contents(0) = RawFloats({1, 2, 3, 4});
  status = Infer(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(ParseFloats(response.raw_output_contents(0)), ElementsAre(2, 4, 6, 8));
}

TEST_F(GrpcE2eTest, StatisticsCountRequests) {
  for (int i = 0; i < 3; ++i) {
    inference::ModelInferResponse response;
    ASSERT_TRUE(Infer(TwoInTwoOut({1, 2, 3, 4, 5, 6, 7, 8}, {0, 0, 0, 0, 0, 0, 0, 0}),
                      &response).ok());
  }
  grpc::ClientContext context;
  inference::ModelStatisticsRequest request;
  request.set_name("two_in_two_out");
  inference::ModelStatisticsResponse response;
  ASSERT_TRUE(stub_->ModelStatistics(&context, request, &response).ok());
  ASSERT_EQ(response.model_stats_size(), 1);
  const auto& stats = response.model_stats(0);
  EXPECT_EQ(stats.version(), "1");
  EXPECT_GE(stats.inference_stats().success().count(), 3u);
  EXPECT_GT(stats.inference_stats().success().ns(), 0u);
  EXPECT_GE(stats.inference_count(), 6u);  // batch items: 2 per request
  EXPECT_GE(stats.execution_count(), 3u);
  EXPECT_GT(stats.last_inference(), 0u);
}

TEST_F(GrpcE2eTest, RepositoryIndexShowsBrokenModelsWithReasons) {
  grpc::ClientContext context;
  inference::RepositoryIndexResponse index;
  ASSERT_TRUE(stub_->RepositoryIndex(&context, {}, &index).ok());
  bool saw_broken = false, saw_ready = false;
  for (const auto& model : index.models()) {
    if (model.name() == "broken_config") {
      saw_broken = true;
      EXPECT_EQ(model.state(), "UNAVAILABLE");
      EXPECT_THAT(model.reason(), HasSubstr("config.pbtxt"));
    }
    if (model.name() == "tiny_cnn") {
      saw_ready = true;
      EXPECT_EQ(model.state(), "READY");
      EXPECT_EQ(model.version(), "1");
    }
  }
  EXPECT_TRUE(saw_broken);
  EXPECT_TRUE(saw_ready);

  // Load and unload are refused outside explicit mode.
  grpc::ClientContext load_context;
  inference::RepositoryModelLoadRequest load;
  load.set_model_name("tiny_cnn");
  inference::RepositoryModelLoadResponse loaded;
  grpc::Status status = stub_->RepositoryModelLoad(&load_context, load, &loaded);
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("explicit"));
}

TEST_F(GrpcE2eTest, StreamGivesOneResponsePerRequest) {
  grpc::ClientContext context;
  auto stream = stub_->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->Write(TwoInTwoOut({1, 2, 3, 4}, {1, 1, 1, 1})));
  inference::ModelInferRequest bad = TwoInTwoOut({1, 2, 3, 4}, {1, 1, 1, 1});
  bad.set_model_name("no_such_model");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(TwoInTwoOut({2, 2, 2, 2}, {3, 3, 3, 3})));
  stream->WritesDone();
  int ok = 0, errors = 0;
  inference::ModelStreamInferResponse response;
  while (stream->Read(&response)) {
    if (response.error_message().empty()) {
      ++ok;
      EXPECT_EQ(response.infer_response().raw_output_contents_size(), 2);
    } else {
      ++errors;
      EXPECT_THAT(response.error_message(), HasSubstr("no_such_model"));
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(errors, 1);
}

// A server of its own: SIGTERM while requests run on the slow model; every
// request completes and the process exits 0.
TEST(GrpcShutdownTest, SigtermFinishesRequestsInFlight) {
  ServerProcess server(ServerBinary(),
                       {"--model-repository=" + TestRepo(),
                        "--model-control-mode=explicit", "--load-model=slow"});
  ASSERT_TRUE(server.WaitUntilLive(120)) << server.log();
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));

  constexpr int kRequests = 4;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0, succeeded = 0;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<inference::ModelInferRequest> requests(kRequests);
  std::vector<inference::ModelInferResponse> responses(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    auto* input = requests[i].add_inputs();
    requests[i].set_model_name("slow");
    input->set_name("INPUT__0");
    input->set_datatype("FP32");
    input->add_shape(64);
    requests[i].add_raw_input_contents(RawFloats(std::vector<float>(64, 0.5f)));
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    stub->async()->ModelInfer(contexts.back().get(), &requests[i], &responses[i],
                              [&](grpc::Status status) {
                                std::lock_guard<std::mutex> lock(mu);
                                ++finished;
                                if (status.ok()) ++succeeded;
                                cv.notify_all();
                              });
  }
  // Let every call reach the server before SIGTERM (one arriving after it is
  // refused, rightly); on a loaded machine 150 ms was sometimes too short.
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(server.Stop(SIGTERM, 60), 0) << server.log();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished == kRequests; });
  EXPECT_EQ(succeeded, kRequests) << server.log();
}

}  // namespace
}  // namespace kiln::testing
