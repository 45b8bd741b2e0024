#include "server/http/tensor_json.h"

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/tensor.h"
#include "server/codec/datatype.h"

namespace kiln::server {
namespace {

// absl on this platform has its own string_view type, and StrCat takes only
// that one.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Deeper nesting than any tensor rank is a malformed (or hostile) request.
constexpr int kMaxDepth = 64;

absl::Status Invalid(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Av(where), ": ", Av(what)));
}

// Calls visit(value) for each leaf of `data` in row-major order, stopping at
// the first error.
template <typename Visit>
absl::Status ForEachValue(const Json& data, int depth, std::string_view where,
                          Visit& visit) {
  if (!data.is_array()) return visit(data);
  if (depth >= kMaxDepth) {
    return Invalid(where, absl::StrCat("'data' is nested deeper than ",
                                       kMaxDepth, " levels"));
  }
  for (const Json& item : data) {
    absl::Status s = ForEachValue(item, depth + 1, where, visit);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// product(shape), saturating at int64 max (more values than any body holds).
int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
    if (n > std::numeric_limits<int64_t>::max() / d) {
      n = std::numeric_limits<int64_t>::max();
    } else {
      n *= d;
    }
  }
  return n;
}

std::string BadValue(int64_t index, const Json& value, inference::DataType type,
                     std::string_view expected) {
  return absl::StrCat("'data' value ", index, " (", DumpJson(value),
                      ") is not a valid ", Av(WireDatatype(type)), " (expected ",
                      Av(expected), ")");
}

// Appends value as T when it is a JSON integer within T's range.
template <typename T>
bool AppendInteger(const Json& value, std::string* out) {
  T v;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
    v = static_cast<T>(u);
  } else if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < 0 && !std::numeric_limits<T>::is_signed) return false;
    if (std::numeric_limits<T>::is_signed &&
        (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
         i > static_cast<int64_t>(std::numeric_limits<T>::max()))) {
      return false;
    }
    v = static_cast<T>(i);
  } else {
    return false;
  }
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
  return true;
}

template <typename T>
std::string IntegerRange() {
  return absl::StrCat("an integer in ",
                      static_cast<int64_t>(std::numeric_limits<T>::min()), "..",
                      std::numeric_limits<T>::max());
}

// What a value of `type` must be, for error messages.
std::string ExpectedValue(inference::DataType type) {
  switch (type) {
    case inference::TYPE_BOOL: return "true or false";
    case inference::TYPE_UINT8: return IntegerRange<uint8_t>();
    case inference::TYPE_UINT16: return IntegerRange<uint16_t>();
    case inference::TYPE_UINT32: return IntegerRange<uint32_t>();
    case inference::TYPE_UINT64: return IntegerRange<uint64_t>();
    case inference::TYPE_INT8: return IntegerRange<int8_t>();
    case inference::TYPE_INT16: return IntegerRange<int16_t>();
    case inference::TYPE_INT32: return IntegerRange<int32_t>();
    case inference::TYPE_INT64: return IntegerRange<int64_t>();
    case inference::TYPE_FP32: return "a number within FP32's range";
    case inference::TYPE_FP64: return "a number";
    case inference::TYPE_STRING: return "a string";
    default: return "a known datatype";
  }
}

// Appends one value of `type`; false when it is not one (ExpectedValue says
// what it should be).
bool AppendValue(const Json& value, inference::DataType type, std::string* out) {
  switch (type) {
    case inference::TYPE_BOOL:
      if (!value.is_boolean()) return false;
      out->push_back(value.get<bool>() ? 1 : 0);
      return true;
    case inference::TYPE_UINT8: return AppendInteger<uint8_t>(value, out);
    case inference::TYPE_UINT16: return AppendInteger<uint16_t>(value, out);
    case inference::TYPE_UINT32: return AppendInteger<uint32_t>(value, out);
    case inference::TYPE_UINT64: return AppendInteger<uint64_t>(value, out);
    case inference::TYPE_INT8: return AppendInteger<int8_t>(value, out);
    case inference::TYPE_INT16: return AppendInteger<int16_t>(value, out);
    case inference::TYPE_INT32: return AppendInteger<int32_t>(value, out);
    case inference::TYPE_INT64: return AppendInteger<int64_t>(value, out);
    case inference::TYPE_FP32: {
      if (!value.is_number()) return false;
      const double d = value.get<double>();
      if (std::isfinite(d) && std::fabs(d) > FLT_MAX) return false;
      const float f = static_cast<float>(d);
      out->append(reinterpret_cast<const char*>(&f), sizeof(f));
      return true;
    }
    case inference::TYPE_FP64: {
      if (!value.is_number()) return false;
      const double d = value.get<double>();
      out->append(reinterpret_cast<const char*>(&d), sizeof(d));
      return true;
    }
    case inference::TYPE_STRING: {
      if (!value.is_string()) return false;
      const std::string& s = value.get_ref<const std::string&>();
      if (s.size() > std::numeric_limits<uint32_t>::max()) return false;
      const uint32_t len = static_cast<uint32_t>(s.size());
      out->append(reinterpret_cast<const char*>(&len), sizeof(len));
      out->append(s);
      return true;
    }
    default:
      return false;
  }
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

absl::StatusOr<std::string> JsonDataToBytes(const Json& data,
                                            inference::DataType type,
                                            const std::vector<int64_t>& shape,
                                            std::string_view where) {
  if (type == inference::TYPE_FP16 || type == inference::TYPE_BF16) {
    return Invalid(where, absl::StrCat(
                              Av(WireDatatype(type)),
                              " data cannot be sent as JSON; send this input "
                              "as binary data (parameters.binary_data_size)"));
  }
  if (type == inference::TYPE_INVALID || WireDatatype(type) == "INVALID") {
    return Invalid(where, "invalid datatype");
  }
  if (!data.is_array()) return Invalid(where, "'data' must be a JSON array");

  int64_t count = 0;
  auto count_leaf = [&count](const Json&) {
    ++count;
    return absl::OkStatus();
  };
  absl::Status counted = ForEachValue(data, 0, where, count_leaf);
  if (!counted.ok()) return counted;
  const int64_t expected = ElementCount(shape);
  if (count != expected) {
    return Invalid(where, absl::StrCat("'data' holds ", count,
                                       " values, shape ",
                                       engine::ShapeToString(shape), " needs ",
                                       expected));
  }

  std::string bytes;
  const size_t element_size = WireElementSize(type);
  if (element_size > 0) bytes.reserve(static_cast<size_t>(count) * element_size);
  int64_t index = 0;
  auto append = [&](const Json& value) {
    if (!AppendValue(value, type, &bytes)) {
      return Invalid(where,
                     BadValue(index, value, type, ExpectedValue(type)));
    }
    ++index;
    return absl::OkStatus();
  };
  absl::Status appended = ForEachValue(data, 0, where, append);
  if (!appended.ok()) return appended;
  return bytes;
}

absl::StatusOr<Json> BytesToJsonData(std::string_view bytes,
                                     inference::DataType type,
                                     std::string_view where) {
  if (type == inference::TYPE_FP16 || type == inference::TYPE_BF16) {
    return Invalid(where, absl::StrCat(
                              Av(WireDatatype(type)),
                              " data cannot be sent as JSON; request this "
                              "output as binary data (parameters.binary_data "
                              "true, or binary_data_output true on the "
                              "request)"));
  }
  const size_t element_size = WireElementSize(type);
  if (element_size == 0) {
    return Invalid(where, absl::StrCat(Av(WireDatatype(type)),
                                       " data has no JSON form here; request "
                                       "this output as binary data"));
  }
  if (bytes.size() % element_size != 0) {
    return absl::InternalError(absl::StrCat(
        Av(where), ": ", bytes.size(), " bytes is not a whole number of ",
        Av(WireDatatype(type)), " elements"));
  }
  Json data = Json::array();
  const size_t n = bytes.size() / element_size;
  const char* p = bytes.data();
  for (size_t i = 0; i < n; ++i, p += element_size) {
    switch (type) {
      case inference::TYPE_BOOL: data.push_back(*p != 0); break;
      case inference::TYPE_UINT8: data.push_back(Load<uint8_t>(p)); break;
      case inference::TYPE_UINT16: data.push_back(Load<uint16_t>(p)); break;
      case inference::TYPE_UINT32: data.push_back(Load<uint32_t>(p)); break;
      case inference::TYPE_UINT64: data.push_back(Load<uint64_t>(p)); break;
      case inference::TYPE_INT8: data.push_back(Load<int8_t>(p)); break;
      case inference::TYPE_INT16: data.push_back(Load<int16_t>(p)); break;
      case inference::TYPE_INT32: data.push_back(Load<int32_t>(p)); break;
      case inference::TYPE_INT64: data.push_back(Load<int64_t>(p)); break;
      case inference::TYPE_FP32:
        data.push_back(static_cast<double>(Load<float>(p)));
        break;
      case inference::TYPE_FP64: data.push_back(Load<double>(p)); break;
      default:
        return Invalid(where, "invalid datatype");
    }
  }
  return data;
}

}  // namespace kiln::server
