#include "server/http/infer_response_json.h"

#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/codec/datatype.h"
#include "server/http/json.h"
#include "server/http/tensor_json.h"

namespace kiln::server {
namespace {

Json ParameterValue(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam: return p.bool_param();
    case inference::InferParameter::kInt64Param: return p.int64_param();
    case inference::InferParameter::kStringParam: return p.string_param();
    case inference::InferParameter::kDoubleParam: return p.double_param();
    case inference::InferParameter::kUint64Param: return p.uint64_param();
    default: return nullptr;
  }
}

}  // namespace

absl::StatusOr<HttpInferReply> WriteInferResponse(
    const inference::ModelInferResponse& response, const OutputFormat& format) {
  Json reply = Json::object();
  if (!response.id().empty()) reply["id"] = response.id();
  reply["model_name"] = response.model_name();
  reply["model_version"] = response.model_version();
  if (!response.parameters().empty()) {
    Json params = Json::object();
    for (const auto& [key, value] : response.parameters()) {
      params[key] = ParameterValue(value);
    }
    reply["parameters"] = std::move(params);
  }

  Json outputs = Json::array();
  std::vector<std::string_view> binary;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& tensor = response.outputs(i);
    const std::string where = absl::StrCat("model '", response.model_name(),
                                           "' output '", tensor.name(), "'");
    if (i >= response.raw_output_contents_size()) {
      return absl::InternalError(
          absl::StrCat(where, ": the response carries no bytes for it"));
    }
    const std::string& bytes = response.raw_output_contents(i);
    Json output = Json::object();
    output["name"] = tensor.name();
    output["datatype"] = tensor.datatype();
    output["shape"] = Json(std::vector<int64_t>(tensor.shape().begin(),
                                                tensor.shape().end()));
    if (format.IsBinary(tensor.name())) {
      output["parameters"] = {{"binary_data_size", bytes.size()}};
      if (!bytes.empty()) binary.push_back(bytes);
    } else {
      auto type = ParseWireDatatype(tensor.datatype());
      if (!type.ok()) {
        return absl::InternalError(
            absl::StrCat(where, ": ", type.status().message()));
      }
      auto data = BytesToJsonData(bytes, *type, where);
      if (!data.ok()) return data.status();
      output["data"] = *std::move(data);
    }
    outputs.push_back(std::move(output));
  }
  reply["outputs"] = std::move(outputs);

  HttpInferReply out;
  out.body = DumpJson(reply);
  // As Triton: the binary form (and its header) only when bytes follow; a
  // reply whose binary outputs are all empty is plain JSON.
  if (!binary.empty()) {
    out.header_length = out.body.size();
    size_t total = out.body.size();
    for (std::string_view b : binary) total += b.size();
    out.body.reserve(total);
    for (std::string_view b : binary) out.body.append(b);
  }
  return out;
}

}  // namespace kiln::server
