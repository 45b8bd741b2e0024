// Mappings between Kiln's three tensor-type vocabularies:
//   - the wire datatype string of the KServe v2 protocol ("FP32", "BYTES", ...);
//   - inference::DataType of model_config.proto (TYPE_FP32, TYPE_STRING, ...);
//   - engine::DType, the dtypes a TorchScript tensor can hold.
//
// The wire and config vocabularies are in one-to-one correspondence
// (TYPE_STRING <-> "BYTES"); the engine covers a subset. All functions are
// pure and thread safe.
#ifndef KILN_SERVER_CODEC_DATATYPE_H_
#define KILN_SERVER_CODEC_DATATYPE_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

// "FP32" -> TYPE_FP32, "BYTES" -> TYPE_STRING. Exact, case-sensitive match.
// InvalidArgument for anything else (TYPE_INVALID is never returned).
absl::StatusOr<inference::DataType> ParseWireDatatype(std::string_view datatype);

// TYPE_FP32 -> "FP32", TYPE_STRING -> "BYTES"; "INVALID" for TYPE_INVALID and
// values outside the enum.
std::string_view WireDatatype(inference::DataType type);

// The engine dtype that holds `type`. InvalidArgument "... not supported" for
// TYPE_UINT16/32/64, TYPE_STRING and TYPE_INVALID (TorchScript tensors have no
// such dtype).
absl::StatusOr<engine::DType> ToEngineDType(inference::DataType type);

// engine::DType -> config type / wire string. Total: every engine dtype has one.
inference::DataType ToConfigDataType(engine::DType dtype);
std::string_view WireDatatype(engine::DType dtype);

// Bytes per element on the wire: 1 for BOOL/UINT8/INT8, 2 for
// UINT16/INT16/FP16/BF16, 4 for UINT32/INT32/FP32, 8 for UINT64/INT64/FP64.
// 0 for TYPE_STRING (BYTES elements have no fixed size) and TYPE_INVALID.
size_t WireElementSize(inference::DataType type);

}  // namespace kiln::server

#endif  // KILN_SERVER_CODEC_DATATYPE_H_
