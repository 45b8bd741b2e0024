#include "server/scheduler/batch_assembly.h"

#include <cstring>
#include <numeric>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace kiln::server {
namespace {

bool SameItemShape(const engine::Tensor& a, const engine::Tensor& b) {
  return a.dtype == b.dtype && a.shape.size() == b.shape.size() && !a.shape.empty() &&
         std::equal(a.shape.begin() + 1, a.shape.end(), b.shape.begin() + 1);
}

}  // namespace

uint64_t BatchShapeSignature(const std::vector<engine::Tensor>& inputs) {
  size_t hash = absl::HashOf(inputs.size());
  for (const engine::Tensor& tensor : inputs) {
    std::vector<int64_t> item_shape;
    if (!tensor.shape.empty()) item_shape.assign(tensor.shape.begin() + 1, tensor.shape.end());
    hash = absl::HashOf(hash, static_cast<int>(tensor.dtype), item_shape);
  }
  return hash;
}

absl::StatusOr<std::vector<engine::Tensor>> GatherBatch(
    const std::vector<const std::vector<engine::Tensor>*>& requests) {
  std::vector<engine::Tensor> batch;
  if (requests.empty()) return batch;
  const std::vector<engine::Tensor>& first = *requests.front();
  for (size_t i = 0; i < first.size(); ++i) {
    int64_t total = 0;
    for (const std::vector<engine::Tensor>* request : requests) {
      if (request->size() != first.size() || !SameItemShape((*request)[i], first[i])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input ", i, ": requests with different dtypes or shapes cannot share a batch (",
            engine::ShapeToString(first[i].shape), " vs ",
            engine::ShapeToString(i < request->size() ? (*request)[i].shape
                                                      : std::vector<int64_t>{}),
            ")"));
      }
      total += (*request)[i].shape[0];
    }
    std::vector<int64_t> shape = first[i].shape;
    shape[0] = total;
    engine::Tensor merged = engine::Tensor::Allocate(first[i].dtype, std::move(shape));
    char* out = static_cast<char*>(merged.data);
    for (const std::vector<engine::Tensor>* request : requests) {
      const engine::Tensor& part = (*request)[i];
      if (part.byte_size > 0) std::memcpy(out, part.data, part.byte_size);
      out += part.byte_size;
    }
    batch.push_back(std::move(merged));
  }
  return batch;
}

absl::StatusOr<std::vector<engine::Outputs>> ScatterBatch(
    const engine::Outputs& outputs, const std::vector<int64_t>& batch_sizes) {
  const int64_t total = std::accumulate(batch_sizes.begin(), batch_sizes.end(), int64_t{0});
  std::vector<engine::Outputs> parts(batch_sizes.size());
  for (engine::Outputs& part : parts) part.keys = outputs.keys;
  for (size_t o = 0; o < outputs.tensors.size(); ++o) {
    const engine::Tensor& whole = outputs.tensors[o];
    if (whole.shape.empty() || whole.shape[0] != total) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output ", o, " has shape ", engine::ShapeToString(whole.shape),
          " but the batch holds ", total,
          " items: outputs of a batched model must keep the batch dimension first"));
    }
    const size_t item_bytes = total == 0 ? 0 : whole.byte_size / total;
    char* data = static_cast<char*>(whole.data);
    for (size_t r = 0; r < batch_sizes.size(); ++r) {
      std::vector<int64_t> shape = whole.shape;
      shape[0] = batch_sizes[r];
      const size_t bytes = item_bytes * batch_sizes[r];
      parts[r].tensors.push_back(
          engine::Tensor::View(whole.dtype, std::move(shape), data, bytes, whole.owner));
      data += bytes;
    }
  }
  return parts;
}

}  // namespace kiln::server
