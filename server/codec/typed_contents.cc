#include "server/codec/typed_contents.h"

#include <cstring>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/codec/datatype.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

struct FieldCount {
  absl::string_view name;
  int size;
};

std::vector<FieldCount> FieldCounts(const inference::InferTensorContents& c) {
  return {{"bool_contents", c.bool_contents_size()},
          {"int_contents", c.int_contents_size()},
          {"int64_contents", c.int64_contents_size()},
          {"uint_contents", c.uint_contents_size()},
          {"uint64_contents", c.uint64_contents_size()},
          {"fp32_contents", c.fp32_contents_size()},
          {"fp64_contents", c.fp64_contents_size()},
          {"bytes_contents", c.bytes_contents_size()}};
}

// Narrows each value into Out, refusing values that Out cannot represent
// (silently wrapping 300 into an INT8 would corrupt the input).
template <typename Out, typename In>
absl::Status CopyNarrowed(const google::protobuf::RepeatedField<In>& values,
                          absl::string_view field, inference::DataType type,
                          absl::string_view where, void* dst) {
  Out* out = static_cast<Out*>(dst);
  for (int i = 0; i < values.size(); ++i) {
    const In v = values.Get(i);
    if (v < static_cast<In>(std::numeric_limits<Out>::min()) ||
        v > static_cast<In>(std::numeric_limits<Out>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", field, "[", i, "] = ", v, " is out of range for ",
          Av(WireDatatype(type)), " (expected ",
          static_cast<int64_t>(std::numeric_limits<Out>::min()), "..",
          static_cast<int64_t>(std::numeric_limits<Out>::max()), ")"));
    }
    out[i] = static_cast<Out>(v);
  }
  return absl::OkStatus();
}

template <typename T>
void CopySame(const google::protobuf::RepeatedField<T>& values, void* dst) {
  if (!values.empty()) std::memcpy(dst, values.data(), values.size() * sizeof(T));
}

}  // namespace

std::string_view TypedContentsField(inference::DataType type) {
  switch (type) {
    case inference::TYPE_BOOL: return "bool_contents";
    case inference::TYPE_INT8:
    case inference::TYPE_INT16:
    case inference::TYPE_INT32: return "int_contents";
    case inference::TYPE_INT64: return "int64_contents";
    case inference::TYPE_UINT8:
    case inference::TYPE_UINT16:
    case inference::TYPE_UINT32: return "uint_contents";
    case inference::TYPE_UINT64: return "uint64_contents";
    case inference::TYPE_FP32: return "fp32_contents";
    case inference::TYPE_FP64: return "fp64_contents";
    case inference::TYPE_STRING: return "bytes_contents";
    default: return "";
  }
}

absl::StatusOr<engine::Tensor> TensorFromTypedContents(
    inference::DataType type, engine::DType dtype, std::vector<int64_t> shape,
    int64_t num_elements, const inference::InferTensorContents& contents,
    std::string_view where) {
  const absl::string_view wire = Av(WireDatatype(type));
  const absl::string_view expected_field = Av(TypedContentsField(type));
  const absl::string_view at = Av(where);
  const std::vector<FieldCount> fields = FieldCounts(contents);

  int matching = 0;
  for (const FieldCount& f : fields) {
    if (f.size == 0) continue;
    if (f.name != expected_field) {
      if (expected_field.empty()) break;  // reported just below
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": datatype ", wire, " expects its data in ",
                       expected_field, ", got ", f.name));
    }
    matching = f.size;
  }
  if (expected_field.empty()) {
    bool any = false;
    for (const FieldCount& f : fields) any = any || f.size > 0;
    if (any || num_elements > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": ", wire, " data must be sent in raw_input_contents"));
    }
  } else if (matching == 0 && num_elements > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, ": no data: expected ", num_elements, " ", wire,
        " elements in raw_input_contents or ", expected_field, ", got none"));
  } else if (matching != num_elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, ": expected ", num_elements, " elements in ", expected_field,
        " for shape ", engine::ShapeToString(shape), ", got ", matching));
  }

  engine::Tensor t = engine::Tensor::Allocate(dtype, std::move(shape));
  absl::Status s;
  switch (type) {
    case inference::TYPE_BOOL: {
      auto* out = static_cast<uint8_t*>(t.data);
      for (int i = 0; i < contents.bool_contents_size(); ++i) {
        out[i] = contents.bool_contents(i) ? 1 : 0;
      }
      break;
    }
    case inference::TYPE_UINT8:
      s = CopyNarrowed<uint8_t>(contents.uint_contents(), "uint_contents", type,
                                at, t.data);
      break;
    case inference::TYPE_INT8:
      s = CopyNarrowed<int8_t>(contents.int_contents(), "int_contents", type,
                               at, t.data);
      break;
    case inference::TYPE_INT16:
      s = CopyNarrowed<int16_t>(contents.int_contents(), "int_contents", type,
                                at, t.data);
      break;
    case inference::TYPE_INT32: CopySame(contents.int_contents(), t.data); break;
    case inference::TYPE_INT64: CopySame(contents.int64_contents(), t.data); break;
    case inference::TYPE_FP32: CopySame(contents.fp32_contents(), t.data); break;
    case inference::TYPE_FP64: CopySame(contents.fp64_contents(), t.data); break;
    case inference::TYPE_FP16:
    case inference::TYPE_BF16:
      break;  // only reachable with zero elements: nothing to copy
    default:
      // The engine dtype mapping refuses every other type before we get here.
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": datatype ", wire, " is not supported"));
  }
  if (!s.ok()) return s;
  return t;
}

}  // namespace kiln::server
