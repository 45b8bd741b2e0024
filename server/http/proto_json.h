// Protobuf messages in the JSON form Triton's HTTP/REST endpoint gives its
// metadata, config, statistics and index replies: proto field names;
// every scalar and repeated field printed, defaults included (Triton prints
// model configs with always_print_primitive_fields); singular messages and
// oneof members only when set; enums by name; 64-bit integers as JSON
// numbers (Triton turns them back from protobuf's strings); maps as
// objects; bytes as base64. Pure function, thread safe.
#ifndef KILN_SERVER_HTTP_PROTO_JSON_H_
#define KILN_SERVER_HTTP_PROTO_JSON_H_

#include <google/protobuf/message.h>

#include "server/http/json.h"

namespace kiln::server {

Json ProtoToJson(const google::protobuf::Message& message);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_PROTO_JSON_H_
