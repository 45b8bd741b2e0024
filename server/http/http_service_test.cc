#include "server/http/http_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "config/test_temp_dir.h"
#include "server/http/json.h"

namespace kiln::server {
namespace {

using ::testing::HasSubstr;

// HttpService over an empty model repository: routing, methods, status
// codes and the error bodies, without sockets or models (the e2e tests
// cover inference).
class HttpServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelRepository::Options options;
    options.repository_paths = {dir_.path().string()};
    auto repository = ModelRepository::Create(options);
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    ServiceOptions service_options;
    service_options.server_version = "1.2.3";
    api_ = std::make_unique<InferenceApi>(repository_.get(), service_options);
    HttpService::Options http_options;
    http_options.max_input_size = 100;
    service_ = std::make_unique<HttpService>(api_.get(), http_options);
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::optional<std::string> header_length = std::nullopt) {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.inference_header_length = std::move(header_length);
    return service_->Handle(request);
  }

  static std::string ErrorOf(const HttpResponse& response) {
    EXPECT_EQ(response.content_type, "application/json");
    return Json::parse(response.body).at("error").get<std::string>();
  }

  config::TestTempDir dir_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<InferenceApi> api_;
  std::unique_ptr<HttpService> service_;
};

TEST_F(HttpServiceTest, UnknownPathIs404AndWrongMethod405) {
  HttpResponse r = Call("GET", "/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorOf(r), "Not Found");
  r = Call("GET", "/v2/models/m/infer");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(ErrorOf(r), "Method Not Allowed");
  EXPECT_EQ(Call("POST", "/v2/health/live").status, 405);
  EXPECT_EQ(Call("DELETE", "/v2/models/m").status, 405);
  EXPECT_EQ(Call("GET", "/v2/repository/index").status, 405);
}

TEST_F(HttpServiceTest, HealthAnswersWithStatusOnly) {
  HttpResponse live = Call("GET", "/v2/health/live");
  EXPECT_EQ(live.status, 200);
  EXPECT_TRUE(live.body.empty());
  EXPECT_TRUE(live.content_type.empty());
  EXPECT_EQ(Call("HEAD", "/v2/health/ready").status, 200);
  api_->SetShuttingDown();
  HttpResponse ready = Call("GET", "/v2/health/ready");
  EXPECT_EQ(ready.status, 400);
  EXPECT_TRUE(ready.body.empty());
}

TEST_F(HttpServiceTest, ServerMetadata) {
  HttpResponse r = Call("GET", "/v2");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  const Json md = Json::parse(r.body);
  EXPECT_EQ(md["name"], "kiln");
  EXPECT_EQ(md["version"], "1.2.3");
  EXPECT_THAT(md["extensions"].get<std::vector<std::string>>(),
              ::testing::Contains("binary_tensor_data"));
}

TEST_F(HttpServiceTest, UnknownModelEverywhere) {
  for (const char* path : {"/v2/models/ghost", "/v2/models/ghost/config",
                           "/v2/models/ghost/versions/2/stats"}) {
    HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_THAT(ErrorOf(r), HasSubstr("ghost")) << path;
  }
  HttpResponse ready = Call("GET", "/v2/models/ghost/ready");
  EXPECT_EQ(ready.status, 400);  // not ready, whatever the reason
  EXPECT_THAT(ErrorOf(ready), HasSubstr("ghost"));
  HttpResponse infer = Call("POST", "/v2/models/ghost/infer", R"({"inputs": []})");
  EXPECT_EQ(infer.status, 404);
  EXPECT_THAT(ErrorOf(infer), HasSubstr("ghost"));
  HttpResponse raw = Call("POST", "/v2/models/ghost/infer", "abcd", "0");
  EXPECT_EQ(raw.status, 404);
}

TEST_F(HttpServiceTest, StatisticsAndIndexOfAnEmptyRepository) {
  HttpResponse stats = Call("GET", "/v2/models/stats");
  ASSERT_EQ(stats.status, 200);
  EXPECT_EQ(Json::parse(stats.body), Json::parse(R"({"model_stats": []})"));
  HttpResponse index = Call("POST", "/v2/repository/index");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "[]");
  EXPECT_EQ(Call("POST", "/v2/repository/index", R"({"ready": true})").status, 200);
  HttpResponse bad = Call("POST", "/v2/repository/index", R"({"ready": "yes"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(ErrorOf(bad), HasSubstr("'ready' must be a bool"));
  EXPECT_EQ(Call("POST", "/v2/repository/index", "{").status, 400);
}

TEST_F(HttpServiceTest, LoadAndUnloadOutsideExplicitMode) {
  HttpResponse load = Call("POST", "/v2/repository/models/m/load");
  EXPECT_EQ(load.status, 503);
  EXPECT_THAT(ErrorOf(load), HasSubstr("--model-control-mode=explicit"));
  EXPECT_EQ(Call("POST", "/v2/repository/models/m/unload",
                 R"({"parameters": {"unload_dependents": false}})")
                .status,
            503);
  HttpResponse named = Call("POST", "/v2/repository/r/models/m/load");
  EXPECT_EQ(named.status, 501);
  EXPECT_THAT(ErrorOf(named), HasSubstr("repository name"));
  HttpResponse bad = Call("POST", "/v2/repository/models/m/load",
                          R"({"parameters": {"config": [1]}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(ErrorOf(bad), HasSubstr("parameter 'config'"));
}

TEST_F(HttpServiceTest, InferenceHeaderAndSizeLimits) {
  for (const char* header : {"x", "-1", "12", "1e3"}) {
    HttpResponse r = Call("POST", "/v2/models/m/infer", "{}", header);
    EXPECT_EQ(r.status, 400) << header;
    EXPECT_THAT(ErrorOf(r), AllOf(HasSubstr("Inference-Header-Content-Length"),
                                  HasSubstr("0..2")))
        << header;
  }
  // The limit (100 bytes here) is on the JSON part only.
  const std::string big(150, ' ');
  HttpResponse json = Call("POST", "/v2/models/m/infer", big + "{}");
  EXPECT_EQ(json.status, 413);
  EXPECT_THAT(ErrorOf(json), AllOf(HasSubstr("152 bytes"), HasSubstr("100"),
                                   HasSubstr("--http-max-input-size")));
  HttpResponse binary = Call("POST", "/v2/models/m/infer",
                             R"({"inputs": []})" + big, "14");
  EXPECT_EQ(binary.status, 400);  // past the size check, to the parser
  EXPECT_THAT(ErrorOf(binary), HasSubstr("binary data"));
  EXPECT_EQ(Call("POST", "/v2/repository/index", big).status, 413);
  HttpResponse invalid = Call("POST", "/v2/models/m/infer", "{");
  EXPECT_EQ(invalid.status, 400);
  EXPECT_THAT(ErrorOf(invalid), HasSubstr("not valid JSON"));
}

}  // namespace
}  // namespace kiln::server
