#include "server/http/infer_request_json.h"

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/model_config_loader.h"
#include "server/codec/datatype.h"
#include "server/http/json.h"
#include "server/http/tensor_json.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

std::string ModelWhere(const std::string& model) {
  return absl::StrCat("model '", model, "'");
}

std::string TensorWhere(const std::string& model, std::string_view kind,
                        const std::string& name) {
  return absl::StrCat("model '", model, "' ", Av(kind), " '", name, "'");
}

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Av(where), ": ", Av(what)));
}

absl::Status Unsupported(std::string_view where, std::string_view what) {
  return absl::UnimplementedError(absl::StrCat(Av(where), ": ", Av(what)));
}

// A JSON parameter value as the protocol's InferParameter.
absl::StatusOr<inference::InferParameter> ToInferParameter(
    const Json& value, const std::string& key, std::string_view where) {
  inference::InferParameter out;
  if (value.is_boolean()) {
    out.set_bool_param(value.get<bool>());
  } else if (value.is_number_unsigned() &&
             value.get<uint64_t>() >
                 static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    out.set_uint64_param(value.get<uint64_t>());
  } else if (value.is_number_integer()) {
    out.set_int64_param(value.get<int64_t>());
  } else if (value.is_number_float()) {
    out.set_double_param(value.get<double>());
  } else if (value.is_string()) {
    out.set_string_param(value.get<std::string>());
  } else {
    return Invalid(where,
                   absl::StrCat("parameter '", key,
                                "' must be a bool, a number or a string, got ",
                                DumpJson(value)));
  }
  return out;
}

absl::StatusOr<const Json*> ObjectMember(const Json& object,
                                         const char* key,
                                         std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return nullptr;
  if (!it->is_object()) {
    return Invalid(where, absl::StrCat("'", key, "' must be a JSON object"));
  }
  return &*it;
}

absl::Status ParseRequestParameters(const Json& request,
                                    const std::string& model,
                                    HttpInferRequest* out) {
  const std::string where = ModelWhere(model);
  auto params = ObjectMember(request, "parameters", where);
  if (!params.ok()) return params.status();
  if (*params == nullptr) return absl::OkStatus();
  for (const auto& [key, value] : (*params)->items()) {
    if (key == "binary_data_output") {
      if (!value.is_boolean()) {
        return Invalid(where, "parameter 'binary_data_output' must be a bool");
      }
      out->output_format.binary_by_default = value.get<bool>();
    } else if (absl::StartsWith(key, "triton_")) {
      return Invalid(where, absl::StrCat("parameter '", key,
                                         "': keys starting with 'triton_' "
                                         "are reserved"));
    } else {
      auto parameter = ToInferParameter(value, key, where);
      if (!parameter.ok()) return parameter.status();
      (*out->request.mutable_parameters())[key] = *std::move(parameter);
    }
  }
  return absl::OkStatus();
}

// The binary tensor bytes after the JSON header, handed out in input order.
struct BinaryData {
  std::string_view bytes;
  size_t offset = 0;
  bool header_given = false;
};

absl::StatusOr<std::string> TakeBinary(const Json& size_json,
                                       std::string_view where,
                                       BinaryData* binary) {
  if (!size_json.is_number_unsigned()) {
    return Invalid(where,
                   absl::StrCat("parameters.binary_data_size must be a "
                                "non-negative integer, got ",
                                DumpJson(size_json)));
  }
  const uint64_t size = size_json.get<uint64_t>();
  if (size > 0 && !binary->header_given) {
    return Invalid(where,
                   "binary input data needs the Inference-Header-Content-"
                   "Length header (the byte size of the JSON part of the "
                   "body)");
  }
  const size_t remaining = binary->bytes.size() - binary->offset;
  if (size > remaining) {
    return Invalid(where,
                   absl::StrCat("parameters.binary_data_size is ", size,
                                ", but only ", remaining,
                                " bytes of binary data remain in the body"));
  }
  std::string bytes(binary->bytes.substr(binary->offset, size));
  binary->offset += size;
  return bytes;
}

absl::StatusOr<std::vector<int64_t>> ParseShape(const Json& input,
                                                std::string_view where) {
  auto it = input.find("shape");
  if (it == input.end() || !it->is_array()) {
    return Invalid(where, "'shape' must be a JSON array of dims");
  }
  std::vector<int64_t> shape;
  for (const Json& d : *it) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() >
            static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Invalid(where, absl::StrCat("'shape' must hold non-negative "
                                         "integers, got ",
                                         DumpJson(*it)));
    }
    shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  return shape;
}

absl::StatusOr<std::string> StringMember(const Json& object, const char* key,
                                         std::string_view where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return Invalid(where, absl::StrCat("'", key, "' must be a string"));
  }
  return it->get<std::string>();
}

absl::Status ParseInput(const Json& input, size_t index,
                        const std::string& model, BinaryData* binary,
                        HttpInferRequest* out) {
  if (!input.is_object()) {
    return Invalid(ModelWhere(model),
                   absl::StrCat("inputs[", index, "] must be a JSON object"));
  }
  auto name = StringMember(input, "name",
                           absl::StrCat(ModelWhere(model), " inputs[", index,
                                        "]"));
  if (!name.ok()) return name.status();
  const std::string where = TensorWhere(model, "input", *name);
  auto datatype = StringMember(input, "datatype", where);
  if (!datatype.ok()) return datatype.status();
  auto shape = ParseShape(input, where);
  if (!shape.ok()) return shape.status();
  auto params = ObjectMember(input, "parameters", where);
  if (!params.ok()) return params.status();

  const Json* binary_size = nullptr;
  if (*params != nullptr) {
    for (const auto& [key, value] : (*params)->items()) {
      if (key == "binary_data_size") {
        binary_size = &value;
      } else if (absl::StartsWith(key, "shared_memory_")) {
        return Unsupported(where, "shared memory inputs are not supported; "
                                  "send the data in the body");
      }
    }
  }
  const bool has_data = input.contains("data");
  if (has_data == (binary_size != nullptr)) {
    return Invalid(where, has_data
                              ? "set either 'data' or "
                                "parameters.binary_data_size, not both"
                              : "set 'data' or parameters.binary_data_size");
  }

  std::string bytes;
  if (binary_size != nullptr) {
    auto taken = TakeBinary(*binary_size, where, binary);
    if (!taken.ok()) return taken.status();
    bytes = *std::move(taken);
  } else {
    auto type = ParseWireDatatype(*datatype);
    if (!type.ok()) return Invalid(where, std::string(type.status().message()));
    auto converted = JsonDataToBytes(input["data"], *type, *shape, where);
    if (!converted.ok()) return converted.status();
    bytes = *std::move(converted);
  }

  auto* tensor = out->request.add_inputs();
  tensor->set_name(*name);
  tensor->set_datatype(*datatype);
  for (int64_t d : *shape) tensor->add_shape(d);
  out->request.add_raw_input_contents(std::move(bytes));
  return absl::OkStatus();
}

absl::Status ParseOutput(const Json& output, size_t index,
                         const std::string& model, HttpInferRequest* out) {
  if (!output.is_object()) {
    return Invalid(ModelWhere(model),
                   absl::StrCat("outputs[", index, "] must be a JSON object"));
  }
  auto name = StringMember(output, "name",
                           absl::StrCat(ModelWhere(model), " outputs[", index,
                                        "]"));
  if (!name.ok()) return name.status();
  const std::string where = TensorWhere(model, "output", *name);
  auto params = ObjectMember(output, "parameters", where);
  if (!params.ok()) return params.status();
  if (*params != nullptr) {
    for (const auto& [key, value] : (*params)->items()) {
      if (key == "binary_data") {
        if (!value.is_boolean()) {
          return Invalid(where, "parameters.binary_data must be a bool");
        }
        out->output_format.binary[*name] = value.get<bool>();
      } else if (key == "classification") {
        // tritonclient sends it only for class_count > 0; 0 means "off".
        if (!value.is_number_integer()) {
          return Invalid(where,
                         "parameters.classification must be an integer");
        }
        if (value.get<int64_t>() != 0) {
          return Unsupported(
              where,
              "the classification extension is not supported; request the "
              "output tensor and take its top-k on the client");
        }
      } else if (absl::StartsWith(key, "shared_memory_")) {
        return Unsupported(where, "shared memory outputs are not supported; "
                                  "outputs come back in the body");
      }
    }
  }
  out->request.add_outputs()->set_name(*name);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpInferRequest> ParseInferRequest(
    std::string_view body, std::optional<size_t> header_length,
    const std::string& model_name, const std::string& model_version) {
  const std::string where = ModelWhere(model_name);
  const size_t json_size = header_length.value_or(body.size());
  if (json_size > body.size()) {
    return Invalid(where, absl::StrCat("Inference-Header-Content-Length ",
                                       json_size, " exceeds the body's ",
                                       body.size(), " bytes"));
  }
  const std::string_view json_text = body.substr(0, json_size);
  Json request;
  try {
    request = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return Invalid(where,
                   absl::StrCat("the request is not valid JSON: ", e.what()));
  }
  if (!request.is_object()) {
    return Invalid(where, "the request must be a JSON object");
  }

  HttpInferRequest out;
  out.request.set_model_name(model_name);
  out.request.set_model_version(model_version);
  if (auto id = request.find("id"); id != request.end()) {
    if (!id->is_string()) return Invalid(where, "'id' must be a string");
    out.request.set_id(id->get<std::string>());
  }
  absl::Status status = ParseRequestParameters(request, model_name, &out);
  if (!status.ok()) return status;

  auto inputs = request.find("inputs");
  if (inputs == request.end() || !inputs->is_array()) {
    return Invalid(where, "'inputs' must be a JSON array");
  }
  BinaryData binary;
  binary.bytes = body.substr(json_size);
  binary.header_given = header_length.has_value();
  for (size_t i = 0; i < inputs->size(); ++i) {
    status = ParseInput((*inputs)[i], i, model_name, &binary, &out);
    if (!status.ok()) return status;
  }
  if (binary.offset != binary.bytes.size()) {
    return Invalid(where,
                   absl::StrCat("the body carries ", binary.bytes.size(),
                                " bytes of binary data after the JSON header, "
                                "but the inputs' binary_data_size add up to ",
                                binary.offset));
  }

  if (auto outputs = request.find("outputs"); outputs != request.end()) {
    if (!outputs->is_array()) {
      return Invalid(where, "'outputs' must be a JSON array");
    }
    for (size_t i = 0; i < outputs->size(); ++i) {
      status = ParseOutput((*outputs)[i], i, model_name, &out);
      if (!status.ok()) return status;
    }
  }
  return out;
}

absl::StatusOr<HttpInferRequest> ParseRawInferRequest(
    std::string body, const inference::ModelConfig& config,
    const std::string& model_version) {
  const std::string where = ModelWhere(config.name());
  if (config.input_size() != 1) {
    return Invalid(
        where,
        absl::StrCat("a raw binary request (Inference-Header-Content-Length: "
                     "0) needs a model with exactly 1 input, this one has ",
                     config.input_size(), " [",
                     absl::StrJoin(config.input(), ",",
                                   [](std::string* s,
                                      const inference::ModelInput& in) {
                                     s->append(in.name());
                                   }),
                     "]"));
  }
  const inference::ModelInput& input = config.input(0);
  const std::string input_where = TensorWhere(config.name(), "input",
                                              input.name());
  const size_t element_size = WireElementSize(input.data_type());
  if (element_size == 0) {
    return Invalid(input_where,
                   absl::StrCat("a raw binary request cannot carry ",
                                Av(WireDatatype(input.data_type())), " data"));
  }
  std::vector<int64_t> shape =
      config::FullShape(config, input.dims());
  if (config.max_batch_size() > 0) shape[0] = 1;
  int variable = -1;
  size_t fixed_bytes = element_size;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] >= 0) {
      fixed_bytes *= static_cast<size_t>(shape[i]);
      continue;
    }
    if (variable >= 0) {
      return Invalid(input_where,
                     "the shape of a raw binary input cannot be deduced: the "
                     "config has more than one variable-size dim");
    }
    variable = static_cast<int>(i);
  }
  if (variable >= 0) {
    if (fixed_bytes == 0) {
      return Invalid(input_where,
                     "the shape of a raw binary input cannot be deduced: the "
                     "config's other dims hold no elements");
    }
    shape[variable] = static_cast<int64_t>(body.size() / fixed_bytes);
  }

  HttpInferRequest out;
  out.request.set_model_name(config.name());
  out.request.set_model_version(model_version);
  auto* tensor = out.request.add_inputs();
  tensor->set_name(input.name());
  tensor->set_datatype(std::string(WireDatatype(input.data_type())));
  for (int64_t d : shape) tensor->add_shape(d);
  out.request.add_raw_input_contents(std::move(body));
  out.output_format.binary_by_default = true;
  return out;
}

}  // namespace kiln::server
