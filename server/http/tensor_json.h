// Tensor data in the HTTP/REST JSON form: the "data" array of an input or
// output tensor, row-major, flat or nested (nesting is not checked against
// the shape, as in Triton; only the number of values is).
//
// Values per datatype: BOOL true/false; UINT8..INT64 JSON integers within
// the type's range; FP32 and FP64 any JSON number (FP32 within float's
// range); BYTES strings (serialized as 4-byte little-endian length + bytes).
// FP16 and BF16 have no JSON form, as in Triton: they travel as binary data.
//
// Errors are InvalidArgument, their messages prefixed by `where` (e.g.
// "model 'm' input 'x'"). Pure functions, thread safe.
#ifndef KILN_SERVER_HTTP_TENSOR_JSON_H_
#define KILN_SERVER_HTTP_TENSOR_JSON_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/model_config.pb.h"
#include "server/http/json.h"

namespace kiln::server {

// The bytes of an input's "data" for a tensor of `type` and `shape` (dims
// already checked non-negative). The number of values must equal
// product(shape); it is checked before anything is allocated.
absl::StatusOr<std::string> JsonDataToBytes(const Json& data,
                                            inference::DataType type,
                                            const std::vector<int64_t>& shape,
                                            std::string_view where);

// The flat "data" array of an output from its row-major bytes. `bytes` must
// hold a whole number of elements.
absl::StatusOr<Json> BytesToJsonData(std::string_view bytes,
                                     inference::DataType type,
                                     std::string_view where);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_TENSOR_JSON_H_
