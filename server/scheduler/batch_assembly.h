// Turning queued requests into one model execution and back: the inputs of
// several requests are concatenated along the batch dimension (each tensor
// copied once), and each output is split back per request as views of the
// batch's output buffer (no copy).
//
// Thread safety: pure functions; the returned tensors share ownership of
// the buffers they view.
#ifndef KILN_SERVER_SCHEDULER_BATCH_ASSEMBLY_H_
#define KILN_SERVER_SCHEDULER_BATCH_ASSEMBLY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model.h"
#include "engine/tensor.h"

namespace kiln::server {

// Equal for two requests whose inputs may share a batch: same dtypes and
// the same dims after the batch dimension.
uint64_t BatchShapeSignature(const std::vector<engine::Tensor>& inputs);

// Concatenates the requests' inputs along dim 0. Every request has the same
// number of inputs, and matching dtypes and trailing dims (InvalidArgument
// naming the input index otherwise).
absl::StatusOr<std::vector<engine::Tensor>> GatherBatch(
    const std::vector<const std::vector<engine::Tensor>*>& requests);

// Splits every output along dim 0 into `batch_sizes` parts (in order).
// InvalidArgument when an output's first dimension is not the sum of the
// batch sizes: a model that does not keep the batch dimension cannot be
// batched.
absl::StatusOr<std::vector<engine::Outputs>> ScatterBatch(
    const engine::Outputs& outputs, const std::vector<int64_t>& batch_sizes);

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_BATCH_ASSEMBLY_H_
