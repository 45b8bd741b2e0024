#include "server/metrics/metrics_http_server.h"

#include <httplib.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::server::metrics {
namespace {

using ::testing::HasSubstr;

MetricsHttpServer::Options Local() {
  MetricsHttpServer::Options options;
  options.address = "127.0.0.1";
  options.port = 0;
  return options;
}

TEST(MetricsHttpServerTest, ServesMetricsAsPrometheusText) {
  std::atomic<int> scrapes{0};
  auto server = MetricsHttpServer::Start(Local(), [&] {
    return "# TYPE up gauge\nup " + std::to_string(++scrapes) + "\n";
  });
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  for (int i = 1; i <= 2; ++i) {
    auto response = client.Get("/metrics");
    ASSERT_TRUE(response) << httplib::to_string(response.error());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->get_header_value("Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(response->body, "# TYPE up gauge\nup " + std::to_string(i) + "\n");
  }
  auto other = client.Get("/v2/health/live");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  (*server)->Shutdown();
  (*server)->Shutdown();  // idempotent
  EXPECT_FALSE(client.Get("/metrics"));
}

TEST(MetricsHttpServerTest, PortInUseIsAnError) {
  auto first = MetricsHttpServer::Start(Local(), [] { return std::string(); });
  ASSERT_TRUE(first.ok()) << first.status();
  MetricsHttpServer::Options same = Local();
  same.port = (*first)->port();
  auto second = MetricsHttpServer::Start(same, [] { return std::string(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("127.0.0.1:" + std::to_string(same.port)));
}

TEST(MetricsHttpServerTest, ShutdownRightAfterStartReturns) {
  for (int i = 0; i < 20; ++i) {
    auto server = MetricsHttpServer::Start(Local(), [] { return std::string(); });
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Shutdown();
  }
}

}  // namespace
}  // namespace kiln::server::metrics
