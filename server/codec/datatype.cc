#include "server/codec/datatype.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::server {
namespace {

struct WireName {
  inference::DataType type;
  std::string_view name;
};

constexpr WireName kWireNames[] = {
    {inference::TYPE_BOOL, "BOOL"},     {inference::TYPE_UINT8, "UINT8"},
    {inference::TYPE_UINT16, "UINT16"}, {inference::TYPE_UINT32, "UINT32"},
    {inference::TYPE_UINT64, "UINT64"}, {inference::TYPE_INT8, "INT8"},
    {inference::TYPE_INT16, "INT16"},   {inference::TYPE_INT32, "INT32"},
    {inference::TYPE_INT64, "INT64"},   {inference::TYPE_FP16, "FP16"},
    {inference::TYPE_FP32, "FP32"},     {inference::TYPE_FP64, "FP64"},
    {inference::TYPE_STRING, "BYTES"},  {inference::TYPE_BF16, "BF16"},
};

}  // namespace

absl::StatusOr<inference::DataType> ParseWireDatatype(std::string_view datatype) {
  for (const WireName& w : kWireNames) {
    if (w.name == datatype) return w.type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown datatype '", std::string(datatype),
                   "' (expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, "
                   "INT16, INT32, INT64, FP16, FP32, FP64, BYTES, BF16)"));
}

std::string_view WireDatatype(inference::DataType type) {
  for (const WireName& w : kWireNames) {
    if (w.type == type) return w.name;
  }
  return "INVALID";
}

absl::StatusOr<engine::DType> ToEngineDType(inference::DataType type) {
  switch (type) {
    case inference::TYPE_BOOL: return engine::DType::kBool;
    case inference::TYPE_UINT8: return engine::DType::kUInt8;
    case inference::TYPE_INT8: return engine::DType::kInt8;
    case inference::TYPE_INT16: return engine::DType::kInt16;
    case inference::TYPE_INT32: return engine::DType::kInt32;
    case inference::TYPE_INT64: return engine::DType::kInt64;
    case inference::TYPE_FP16: return engine::DType::kFloat16;
    case inference::TYPE_BF16: return engine::DType::kBFloat16;
    case inference::TYPE_FP32: return engine::DType::kFloat32;
    case inference::TYPE_FP64: return engine::DType::kFloat64;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("datatype ", std::string(WireDatatype(type)),
                   " is not supported (TorchScript tensors cannot hold it)"));
}

inference::DataType ToConfigDataType(engine::DType dtype) {
  switch (dtype) {
    case engine::DType::kBool: return inference::TYPE_BOOL;
    case engine::DType::kUInt8: return inference::TYPE_UINT8;
    case engine::DType::kInt8: return inference::TYPE_INT8;
    case engine::DType::kInt16: return inference::TYPE_INT16;
    case engine::DType::kInt32: return inference::TYPE_INT32;
    case engine::DType::kInt64: return inference::TYPE_INT64;
    case engine::DType::kFloat16: return inference::TYPE_FP16;
    case engine::DType::kBFloat16: return inference::TYPE_BF16;
    case engine::DType::kFloat32: return inference::TYPE_FP32;
    case engine::DType::kFloat64: return inference::TYPE_FP64;
  }
  return inference::TYPE_INVALID;
}

std::string_view WireDatatype(engine::DType dtype) {
  return WireDatatype(ToConfigDataType(dtype));
}

size_t WireElementSize(inference::DataType type) {
  switch (type) {
    case inference::TYPE_BOOL:
    case inference::TYPE_UINT8:
    case inference::TYPE_INT8:
      return 1;
    case inference::TYPE_UINT16:
    case inference::TYPE_INT16:
    case inference::TYPE_FP16:
    case inference::TYPE_BF16:
      return 2;
    case inference::TYPE_UINT32:
    case inference::TYPE_INT32:
    case inference::TYPE_FP32:
      return 4;
    case inference::TYPE_UINT64:
    case inference::TYPE_INT64:
    case inference::TYPE_FP64:
      return 8;
    default:
      return 0;
  }
}

}  // namespace kiln::server
