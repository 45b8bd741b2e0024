// The one mapping from Kiln's absl::Status to an HTTP status code (the gRPC
// one is server/grpc/status_mapping.h).
#ifndef KILN_SERVER_HTTP_STATUS_MAPPING_H_
#define KILN_SERVER_HTTP_STATUS_MAPPING_H_

#include "absl/status/status.h"

namespace kiln::server {

// Triton's mapping (HttpCodeFromError in its http_server.cc): OK 200,
// NotFound 404, Unavailable 503, Unimplemented 501 (Triton's UNSUPPORTED),
// Internal 500; every other error 400 (InvalidArgument, AlreadyExists,
// Cancelled, Unknown and the codes Triton has no counterpart for), except
// DataLoss, which is an internal failure: 500.
int HttpStatusCode(const absl::Status& status);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_STATUS_MAPPING_H_
