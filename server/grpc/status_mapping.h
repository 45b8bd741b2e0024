// The one mapping from Kiln's absl::Status to a gRPC status.
#ifndef KILN_SERVER_GRPC_STATUS_MAPPING_H_
#define KILN_SERVER_GRPC_STATUS_MAPPING_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace kiln::server {

// Codes carry over one to one (both follow google.rpc.Code); the message is
// kept verbatim.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace kiln::server

#endif  // KILN_SERVER_GRPC_STATUS_MAPPING_H_
