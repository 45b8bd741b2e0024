#include "server/http/status_mapping.h"

#include <gtest/gtest.h>

namespace kiln::server {
namespace {

TEST(HttpStatusCodeTest, TritonMapping) {
  EXPECT_EQ(HttpStatusCode(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusCode(absl::NotFoundError("m")), 404);
  EXPECT_EQ(HttpStatusCode(absl::UnavailableError("m")), 503);
  EXPECT_EQ(HttpStatusCode(absl::UnimplementedError("m")), 501);
  EXPECT_EQ(HttpStatusCode(absl::InternalError("m")), 500);
  EXPECT_EQ(HttpStatusCode(absl::DataLossError("m")), 500);
  EXPECT_EQ(HttpStatusCode(absl::InvalidArgumentError("m")), 400);
  EXPECT_EQ(HttpStatusCode(absl::AlreadyExistsError("m")), 400);
  EXPECT_EQ(HttpStatusCode(absl::CancelledError("m")), 400);
  EXPECT_EQ(HttpStatusCode(absl::UnknownError("m")), 400);
  EXPECT_EQ(HttpStatusCode(absl::ResourceExhaustedError("m")), 400);
  EXPECT_EQ(HttpStatusCode(absl::FailedPreconditionError("m")), 400);
}

}  // namespace
}  // namespace kiln::server
