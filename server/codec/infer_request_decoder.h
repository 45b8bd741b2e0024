// Turns a ModelInferRequest into the engine tensors a model runs on, after
// checking it against the model's config.
//
// Errors: every rejected request is InvalidArgument with a message that names
// the model, the tensor, what was expected and what came, e.g.
//   model 'resnet18' input 'INPUT__0': expected shape [-1,3,224,224], got [1,3,224]
// Nothing here aborts or allocates on the strength of an unchecked size.
// Thread safety: all functions are pure; the request and config are only read.
#ifndef KILN_SERVER_CODEC_INFER_REQUEST_DECODER_H_
#define KILN_SERVER_CODEC_INFER_REQUEST_DECODER_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

struct DecodedInputs {
  std::vector<engine::Tensor> tensors;  // in the model config's input order
  int64_t batch_size = 0;               // leading dim when max_batch_size > 0, else 0
};

// Validates `request` against `config` (already normalized: config.name() is
// the model name) and returns its inputs as engine tensors.
//
// raw_input_contents are viewed in place (zero copy) when the bytes are
// suitably aligned for the element type, else copied; `request_owner` keeps
// the request alive and becomes the viewing tensors' owner, so the tensors
// stay valid after the caller drops its own reference. Viewed tensors alias
// the request's bytes: treat them as read-only. Typed `contents` are
// converted into fresh buffers.
//
// Rules (Triton's, plus what TorchScript needs):
//  - every config input given exactly once, and no other input;
//  - datatype equal to the config's; BYTES and unsigned types wider than 8
//    bits are refused (TorchScript tensors cannot hold them);
//  - shape matches [-1] + dims (max_batch_size > 0) or dims, -1 matching any
//    non-negative size; with batching, 1 <= batch <= max_batch_size and all
//    inputs share the batch size;
//  - raw_input_contents, when used, has one entry per request input (request
//    order), each exactly product(shape) x element size bytes, and no input
//    sets `contents`; BOOL bytes must be 0 or 1;
//  - otherwise each input carries exactly product(shape) elements in the one
//    typed field matching its datatype, in range for that datatype (FP16 and
//    BF16 only travel raw). An input with zero elements may carry no data.
absl::StatusOr<DecodedInputs> DecodeInferInputs(
    const inference::ModelInferRequest& request,
    const inference::ModelConfig& config,
    std::shared_ptr<const void> request_owner);

// A tensor over `bytes`, which must hold exactly product(shape) x
// ElementSize(dtype) bytes (the caller has checked). When bytes.data() is
// aligned to the element size the tensor views the bytes and keeps `owner`;
// otherwise it owns a fresh, aligned copy. Useful to any frontend whose bytes
// sit at arbitrary offsets (e.g. HTTP binary tensors).
engine::Tensor TensorFromRawBytes(engine::DType dtype, std::vector<int64_t> shape,
                                  std::string_view bytes,
                                  std::shared_ptr<const void> owner);

}  // namespace kiln::server

#endif  // KILN_SERVER_CODEC_INFER_REQUEST_DECODER_H_
