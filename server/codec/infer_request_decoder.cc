#include "server/codec/infer_request_decoder.h"

#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/codec/datatype.h"
#include "server/codec/shape.h"
#include "server/codec/typed_contents.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

std::string Where(const inference::ModelConfig& config, std::string_view input) {
  return absl::StrCat("model '", config.name(), "' input '", Av(input), "'");
}

std::string ConfigInputNames(const inference::ModelConfig& config) {
  return absl::StrCat(
      "[", absl::StrJoin(config.input(), ",",
                         [](std::string* out, const inference::ModelInput& in) {
                           out->append(in.name());
                         }),
      "]");
}

std::string RequestInputNames(const inference::ModelInferRequest& request) {
  return absl::StrCat(
      "[",
      absl::StrJoin(request.inputs(), ",",
                    [](std::string* out,
                       const inference::ModelInferRequest::InferInputTensor& in) {
                      out->append(in.name());
                    }),
      "]");
}

// Maps each request input to its config input (request index -> config
// index), refusing unknown, repeated and missing names.
absl::StatusOr<std::vector<int>> MatchInputNames(
    const inference::ModelInferRequest& request,
    const inference::ModelConfig& config) {
  absl::flat_hash_map<std::string_view, int> by_name;
  for (int j = 0; j < config.input_size(); ++j) by_name[config.input(j).name()] = j;

  std::vector<int> config_index(request.inputs_size());
  std::vector<bool> given(config.input_size(), false);
  for (int i = 0; i < request.inputs_size(); ++i) {
    const std::string& name = request.inputs(i).name();
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", config.name(), "': unexpected input '", name,
                       "', expected inputs ", ConfigInputNames(config)));
    }
    if (given[it->second]) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(config, name), ": duplicate input, given more than once"));
    }
    given[it->second] = true;
    config_index[i] = it->second;
  }
  for (int j = 0; j < config.input_size(); ++j) {
    if (!given[j]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", config.name(), "': missing input '", config.input(j).name(),
          "', expected inputs ", ConfigInputNames(config), ", got ",
          RequestInputNames(request)));
    }
  }
  return config_index;
}

absl::Status CheckBoolBytes(std::string_view bytes, std::string_view where) {
  // TorchScript assumes a bool byte is 0 or 1; anything else is undefined
  // behaviour in its kernels, so it is refused here.
  for (size_t k = 0; k < bytes.size(); ++k) {
    const auto b = static_cast<unsigned char>(bytes[k]);
    if (b > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Av(where), ": BOOL element ", k, " has byte value ", b,
                       ", expected 0 or 1"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

engine::Tensor TensorFromRawBytes(engine::DType dtype, std::vector<int64_t> shape,
                                  std::string_view bytes,
                                  std::shared_ptr<const void> owner) {
  const size_t alignment = engine::ElementSize(dtype);
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignment == 0) {
    // Tensor::View takes a mutable pointer; the contract in the header makes
    // viewed request bytes read-only.
    return engine::Tensor::View(dtype, std::move(shape),
                                const_cast<char*>(bytes.data()), bytes.size(),
                                std::move(owner));
  }
  engine::Tensor t = engine::Tensor::Allocate(dtype, std::move(shape));
  if (!bytes.empty()) std::memcpy(t.data, bytes.data(), bytes.size());
  return t;
}

absl::StatusOr<DecodedInputs> DecodeInferInputs(
    const inference::ModelInferRequest& request,
    const inference::ModelConfig& config,
    std::shared_ptr<const void> request_owner) {
  absl::StatusOr<std::vector<int>> config_index = MatchInputNames(request, config);
  if (!config_index.ok()) return config_index.status();

  const bool use_raw = request.raw_input_contents_size() > 0;
  if (use_raw) {
    if (request.raw_input_contents_size() != request.inputs_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", config.name(), "': expected ", request.inputs_size(),
          " raw_input_contents entries (one per input), got ",
          request.raw_input_contents_size()));
    }
    for (const auto& in : request.inputs()) {
      if (in.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(config, in.name()),
            ": contents must not be set when raw_input_contents is used"));
      }
    }
  }

  const int32_t max_batch_size = config.max_batch_size();
  DecodedInputs out;
  out.tensors.resize(config.input_size());
  std::string batch_input;  // the input that set out.batch_size
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    const inference::ModelInput& cfg = config.input((*config_index)[i]);
    const std::string where = Where(config, in.name());

    absl::StatusOr<inference::DataType> type = ParseWireDatatype(in.datatype());
    if (!type.ok() || *type != cfg.data_type()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected datatype ", Av(WireDatatype(cfg.data_type())),
                       ", got ", in.datatype()));
    }
    absl::StatusOr<engine::DType> dtype = ToEngineDType(cfg.data_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", dtype.status().message()));
    }

    std::vector<int64_t> shape(in.shape().begin(), in.shape().end());
    for (int64_t d : shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": shape ", engine::ShapeToString(shape),
                         " has a negative dimension"));
      }
    }
    const std::vector<int64_t> expected = FullConfigShape(cfg.dims(), max_batch_size);
    if (!ShapeMatches(expected, shape)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected shape ", engine::ShapeToString(expected), ", got ",
          engine::ShapeToString(shape)));
    }
    if (max_batch_size > 0) {
      const int64_t batch = shape[0];
      if (batch < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": expected batch size >= 1, got ", batch));
      }
      if (batch > max_batch_size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": batch size ", batch,
                         " exceeds the model's max_batch_size ", max_batch_size));
      }
      if (batch_input.empty()) {
        out.batch_size = batch;
        batch_input = in.name();
      } else if (batch != out.batch_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": expected batch size ", out.batch_size, " (as input '",
            batch_input, "'), got ", batch));
      }
    }

    const size_t element_size = engine::ElementSize(*dtype);
    const std::optional<int64_t> byte_size = CheckedByteSize(shape, element_size);
    if (!byte_size.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": shape ", engine::ShapeToString(shape),
                       " is too large (its byte size overflows 64 bits)"));
    }

    engine::Tensor tensor;
    if (use_raw) {
      const std::string& raw = request.raw_input_contents(i);
      if (raw.size() != static_cast<uint64_t>(*byte_size)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": expected ", *byte_size, " bytes for shape ",
            engine::ShapeToString(shape), " ", in.datatype(), ", got ", raw.size()));
      }
      if (*dtype == engine::DType::kBool) {
        absl::Status s = CheckBoolBytes(raw, where);
        if (!s.ok()) return s;
      }
      tensor = TensorFromRawBytes(*dtype, std::move(shape), raw, request_owner);
    } else {
      absl::StatusOr<engine::Tensor> typed = TensorFromTypedContents(
          cfg.data_type(), *dtype, std::move(shape),
          *byte_size / static_cast<int64_t>(element_size), in.contents(), where);
      if (!typed.ok()) return typed.status();
      tensor = *std::move(typed);
    }
    out.tensors[(*config_index)[i]] = std::move(tensor);
  }
  return out;
}

}  // namespace kiln::server
