#include "server/http/http_routes.h"

#include <gtest/gtest.h>

namespace kiln::server {
namespace {

struct Case {
  const char* path;
  RouteKind kind;
  const char* model;
  const char* version;
  const char* repository;
};

TEST(MatchRouteTest, EveryRoute) {
  const Case cases[] = {
      {"/v2", RouteKind::kServerMetadata, "", "", ""},
      {"/v2/health/live", RouteKind::kHealthLive, "", "", ""},
      {"/v2/health/ready", RouteKind::kHealthReady, "", "", ""},
      {"/v2/models/m", RouteKind::kModelMetadata, "m", "", ""},
      {"/v2/models/m/versions/12", RouteKind::kModelMetadata, "m", "12", ""},
      {"/v2/models/m/ready", RouteKind::kModelReady, "m", "", ""},
      {"/v2/models/m/versions/3/ready", RouteKind::kModelReady, "m", "3", ""},
      {"/v2/models/m/config", RouteKind::kModelConfig, "m", "", ""},
      {"/v2/models/m/versions/1/config", RouteKind::kModelConfig, "m", "1", ""},
      {"/v2/models/stats", RouteKind::kModelStats, "", "", ""},
      {"/v2/models/m/stats", RouteKind::kModelStats, "m", "", ""},
      {"/v2/models/m/versions/2/stats", RouteKind::kModelStats, "m", "2", ""},
      {"/v2/models/m/infer", RouteKind::kModelInfer, "m", "", ""},
      {"/v2/models/m/versions/01/infer", RouteKind::kModelInfer, "m", "01", ""},
      {"/v2/models/versions/infer", RouteKind::kModelInfer, "versions", "", ""},
      {"/v2/repository/index", RouteKind::kRepositoryIndex, "", "", ""},
      {"/v2/repository/r/index", RouteKind::kRepositoryIndex, "", "", "r"},
      {"/v2/repository/models/m/load", RouteKind::kModelLoad, "m", "", ""},
      {"/v2/repository/models/m/unload", RouteKind::kModelUnload, "m", "", ""},
      {"/v2/repository/r/models/m/load", RouteKind::kModelLoad, "m", "", "r"},
  };
  for (const Case& c : cases) {
    std::optional<Route> route = MatchRoute(c.path);
    ASSERT_TRUE(route.has_value()) << c.path;
    EXPECT_EQ(route->kind, c.kind) << c.path;
    EXPECT_EQ(route->model, c.model) << c.path;
    EXPECT_EQ(route->version, c.version) << c.path;
    EXPECT_EQ(route->repository, c.repository) << c.path;
  }
}

TEST(MatchRouteTest, UnknownPaths) {
  for (const char* path :
       {"", "/", "/v1", "/v2/", "/v3/models/m", "/v2/health", "/v2/health/x",
        "/v2/health/live/x", "/v2/models", "/v2/models/", "/v2/models//infer",
        "/v2/models/m/infer/", "/v2/models/m/versions/latest/infer",
        "/v2/models/m/versions//infer", "/v2/models/m/predict",
        "/v2/models/m/versions/1/infer/x", "/v2/repository",
        "/v2/repository/models/m", "/v2/repository/models/m/reload",
        "/v2/repository/models/m/load/x", "/v2/systemsharedmemory/status",
        "/metrics"}) {
    EXPECT_FALSE(MatchRoute(path).has_value()) << path;
  }
}

TEST(RouteMethodTest, GetOrPost) {
  EXPECT_EQ(RouteMethod(RouteKind::kHealthLive), "GET");
  EXPECT_EQ(RouteMethod(RouteKind::kModelStats), "GET");
  EXPECT_EQ(RouteMethod(RouteKind::kModelConfig), "GET");
  EXPECT_EQ(RouteMethod(RouteKind::kModelInfer), "POST");
  EXPECT_EQ(RouteMethod(RouteKind::kRepositoryIndex), "POST");
  EXPECT_EQ(RouteMethod(RouteKind::kModelLoad), "POST");
  EXPECT_EQ(RouteMethod(RouteKind::kModelUnload), "POST");
}

}  // namespace
}  // namespace kiln::server
