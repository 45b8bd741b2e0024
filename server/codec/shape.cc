#include "server/codec/shape.h"

namespace kiln::server {

std::vector<int64_t> FullConfigShape(
    const google::protobuf::RepeatedField<int64_t>& dims, int32_t max_batch_size) {
  std::vector<int64_t> shape;
  shape.reserve(dims.size() + 1);
  if (max_batch_size > 0) shape.push_back(-1);
  shape.insert(shape.end(), dims.begin(), dims.end());
  return shape;
}

bool ShapeMatches(const std::vector<int64_t>& config_shape,
                  const std::vector<int64_t>& shape) {
  if (config_shape.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) return false;
    if (config_shape[i] != -1 && config_shape[i] != shape[i]) return false;
  }
  return true;
}

std::optional<int64_t> CheckedByteSize(const std::vector<int64_t>& shape,
                                       size_t element_size) {
  // A zero dim empties the tensor whatever the other dims say, so look for one
  // before multiplying: [0, 2^40, 2^40] is a valid, empty tensor.
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) return 0;
  }
  int64_t n = static_cast<int64_t>(element_size);
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

}  // namespace kiln::server
