// Converts the typed `contents` of one KServe v2 input into an engine tensor.
// Pure function, thread safe.
#ifndef KILN_SERVER_CODEC_TYPED_CONTENTS_H_
#define KILN_SERVER_CODEC_TYPED_CONTENTS_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

// The InferTensorContents field that carries `type` ("fp32_contents", ...);
// empty for FP16 and BF16, which only travel raw, and for TYPE_INVALID.
std::string_view TypedContentsField(inference::DataType type);

// Copies `contents` into a fresh tensor of `dtype` (the engine dtype of
// `type`) and `shape`, whose element count `num_elements` the caller has
// computed without overflow. InvalidArgument, its message prefixed by
// `where` ("model 'm' input 'x'"), when:
//  - the datatype is FP16 or BF16 and any data or elements are expected;
//  - a field other than the matching one is set;
//  - the matching field does not hold exactly num_elements values (including
//    none at all when num_elements > 0);
//  - a value is out of range for INT8, INT16 or UINT8.
// Allocates only after the element count has matched the field's size, so a
// huge shape cannot trigger a huge allocation.
absl::StatusOr<engine::Tensor> TensorFromTypedContents(
    inference::DataType type, engine::DType dtype, std::vector<int64_t> shape,
    int64_t num_elements, const inference::InferTensorContents& contents,
    std::string_view where);

}  // namespace kiln::server

#endif  // KILN_SERVER_CODEC_TYPED_CONTENTS_H_
