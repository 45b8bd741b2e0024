#include "server/codec/infer_response_encoder.h"

#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/codec/datatype.h"
#include "server/codec/shape.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

std::string Where(const inference::ModelConfig& config, std::string_view output) {
  return absl::StrCat("model '", config.name(), "' output '", Av(output), "'");
}

// The index in "<anything>__<i>", or nullopt when the name does not end in
// "__" followed by decimal digits.
std::optional<size_t> NameIndex(std::string_view name) {
  const size_t pos = name.rfind("__");
  if (pos == std::string_view::npos) return std::nullopt;
  const std::string_view digits = name.substr(pos + 2);
  if (digits.empty()) return std::nullopt;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint64_t index = 0;
  if (!absl::SimpleAtoi(Av(digits), &index)) return std::nullopt;
  return static_cast<size_t>(index);
}

absl::StatusOr<const engine::Tensor*> FindTensor(
    const inference::ModelConfig& config, int j, const engine::Outputs& outputs) {
  const std::string& name = config.output(j).name();
  for (size_t k = 0; k < outputs.keys.size() && k < outputs.tensors.size(); ++k) {
    if (outputs.keys[k] == name) return &outputs.tensors[k];
  }
  std::string rule;
  size_t index = static_cast<size_t>(j);
  if (std::optional<size_t> named = NameIndex(name)) {
    index = *named;
    rule = absl::StrCat("(by its __", index, " suffix)");
  } else if (!outputs.keys.empty()) {
    return absl::InternalError(absl::StrCat(
        Where(config, name), ": expected a tensor under key '", name,
        "' from the model, got a dict with keys [",
        absl::StrJoin(outputs.keys, ","), "]"));
  } else {
    rule = absl::StrCat("(by its position in the config)");
  }
  if (index >= outputs.tensors.size()) {
    return absl::InternalError(absl::StrCat(
        Where(config, name), ": expected output tensor ", index, " ", rule,
        ", got only ", outputs.tensors.size(), " tensors from the model"));
  }
  return &outputs.tensors[index];
}

}  // namespace

absl::StatusOr<std::vector<int>> SelectOutputs(
    const inference::ModelInferRequest& request,
    const inference::ModelConfig& config) {
  std::vector<int> selected;
  if (request.outputs_size() == 0) {
    for (int j = 0; j < config.output_size(); ++j) selected.push_back(j);
    return selected;
  }
  absl::flat_hash_map<std::string_view, int> by_name;
  for (int j = 0; j < config.output_size(); ++j) by_name[config.output(j).name()] = j;
  std::vector<bool> taken(config.output_size(), false);
  for (const auto& requested : request.outputs()) {
    auto it = by_name.find(requested.name());
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", config.name(), "': unknown output '", requested.name(), "'"));
    }
    if (taken[it->second]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", config.name(), "': output '", requested.name(),
          "' requested more than once"));
    }
    taken[it->second] = true;
    selected.push_back(it->second);
  }
  return selected;
}

absl::StatusOr<std::vector<engine::Tensor>> MatchOutputs(
    const inference::ModelConfig& config, const engine::Outputs& outputs) {
  std::vector<engine::Tensor> matched;
  matched.reserve(config.output_size());
  for (int j = 0; j < config.output_size(); ++j) {
    const inference::ModelOutput& cfg = config.output(j);
    absl::StatusOr<const engine::Tensor*> found = FindTensor(config, j, outputs);
    if (!found.ok()) return found.status();
    const engine::Tensor& t = **found;

    if (ToConfigDataType(t.dtype) != cfg.data_type()) {
      return absl::InternalError(absl::StrCat(
          Where(config, cfg.name()), ": expected datatype ",
          Av(WireDatatype(cfg.data_type())), ", got ", Av(WireDatatype(t.dtype)),
          " from the model"));
    }
    const std::vector<int64_t> expected =
        FullConfigShape(cfg.dims(), config.max_batch_size());
    if (!ShapeMatches(expected, t.shape)) {
      return absl::InternalError(absl::StrCat(
          Where(config, cfg.name()), ": expected shape ",
          engine::ShapeToString(expected), ", got ", engine::ShapeToString(t.shape),
          " from the model"));
    }
    // The encoder trusts byte_size; a tensor that disagrees with its own shape
    // would leak or truncate memory into the response.
    const std::optional<int64_t> bytes =
        CheckedByteSize(t.shape, engine::ElementSize(t.dtype));
    if (!bytes.has_value() || static_cast<uint64_t>(*bytes) != t.byte_size ||
        (t.byte_size > 0 && t.data == nullptr)) {
      return absl::InternalError(absl::StrCat(
          Where(config, cfg.name()), ": expected ",
          bytes.has_value() ? absl::StrCat(*bytes) : std::string("?"),
          " bytes for shape ", engine::ShapeToString(t.shape), " ",
          Av(WireDatatype(t.dtype)), ", got a tensor of ", t.byte_size,
          " bytes from the model"));
    }
    matched.push_back(t);
  }
  return matched;
}

void EncodeInferOutputs(const inference::ModelConfig& config,
                        const std::vector<int>& selected,
                        const std::vector<engine::Tensor>& matched,
                        inference::ModelInferResponse* response) {
  for (int j : selected) {
    const engine::Tensor& t = matched[j];
    auto* out = response->add_outputs();
    out->set_name(config.output(j).name());
    out->set_datatype(std::string(WireDatatype(t.dtype)));
    for (int64_t d : t.shape) out->add_shape(d);
    std::string* raw = response->add_raw_output_contents();
    if (t.byte_size > 0) raw->assign(static_cast<const char*>(t.data), t.byte_size);
  }
}

}  // namespace kiln::server
