// Shape helpers shared by the request decoder and the response encoder.
// Pure functions, thread safe.
#ifndef KILN_SERVER_CODEC_SHAPE_H_
#define KILN_SERVER_CODEC_SHAPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "google/protobuf/repeated_field.h"

namespace kiln::server {

// The full shape of a config tensor: [-1] + dims when max_batch_size > 0,
// else dims.
std::vector<int64_t> FullConfigShape(
    const google::protobuf::RepeatedField<int64_t>& dims, int32_t max_batch_size);

// True when `shape` has the rank of `config_shape` and every dim equals the
// config's, or the config's is -1 (any non-negative size).
bool ShapeMatches(const std::vector<int64_t>& config_shape,
                  const std::vector<int64_t>& shape);

// product(shape) * element_size, or nullopt when a dim is negative or the
// result does not fit in int64_t. Never overflows; a zero dim gives 0 however
// large the others are.
std::optional<int64_t> CheckedByteSize(const std::vector<int64_t>& shape,
                                       size_t element_size);

}  // namespace kiln::server

#endif  // KILN_SERVER_CODEC_SHAPE_H_
