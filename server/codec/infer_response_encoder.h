// Turns what a model's forward() returned into a ModelInferResponse.
//
// Three steps, each usable alone: SelectOutputs (which outputs the client
// asked for; before running the model), MatchOutputs (which returned tensor
// is which config output; after running it), EncodeInferOutputs (writes the
// response). Errors: InvalidArgument for a bad request, Internal when the
// model returned something its config does not describe. Messages name the
// model, the output, what was expected and what came.
// Thread safety: all functions are pure; inputs are only read.
#ifndef KILN_SERVER_CODEC_INFER_RESPONSE_ENCODER_H_
#define KILN_SERVER_CODEC_INFER_RESPONSE_ENCODER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/tensor.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

// Indices into config.output() of the outputs to return, in response order:
// the requested outputs (unknown name -> InvalidArgument
// `model 'm': unknown output 'x'`; a name requested twice -> InvalidArgument)
// or, when none are requested, all config outputs in config order.
absl::StatusOr<std::vector<int>> SelectOutputs(
    const inference::ModelInferRequest& request,
    const inference::ModelConfig& config);

// Matches what forward() returned to the config's outputs; the result has one
// tensor per config output, in config output order (tensors share the
// returned bytes). For each config output:
//  - a dict return with a key equal to the output name: that key's tensor;
//  - else an output named "<anything>__<i>" (i decimal): tensors[i];
//  - else the tensor at the output's position in the config.
// (Dict keys come first so that a dict keyed "OUTPUT__1", "OUTPUT__0" maps by
// key, not by the dict's order.)
// Then checks the tensor's dtype against data_type and its shape against the
// full config shape ([-1] + dims when max_batch_size > 0; -1 matches any
// size). A missing tensor or a mismatch -> Internal, e.g.
//   model 'm' output 'OUTPUT__0': expected datatype FP32, got INT64 from the model
absl::StatusOr<std::vector<engine::Tensor>> MatchOutputs(
    const inference::ModelConfig& config, const engine::Outputs& outputs);

// Appends, per entry of `selected` and in its order, one InferOutputTensor
// (config output name, wire datatype, tensor shape) and one
// raw_output_contents entry with the tensor's bytes - always raw, even for 0
// bytes, as tritonclient finds an output's bytes by position. `matched` is
// MatchOutputs' result (config order). model_name, model_version and id are
// left to the caller. Copies the bytes (protobuf owns its strings).
void EncodeInferOutputs(const inference::ModelConfig& config,
                        const std::vector<int>& selected,
                        const std::vector<engine::Tensor>& matched,
                        inference::ModelInferResponse* response);

}  // namespace kiln::server

#endif  // KILN_SERVER_CODEC_INFER_RESPONSE_ENCODER_H_
