#include "server/scheduler/rejection.h"

#include "absl/strings/cord.h"

namespace kiln::server {
namespace {

constexpr absl::string_view kRejectedPayload = "kiln.dev/scheduler-rejected";

}  // namespace

absl::Status RejectedError(absl::string_view message) {
  absl::Status status = absl::UnavailableError(message);
  status.SetPayload(kRejectedPayload, absl::Cord("1"));
  return status;
}

bool IsRejected(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kRejectedPayload).has_value();
}

}  // namespace kiln::server
