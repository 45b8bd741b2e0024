#include "server/http/proto_json.h"

#include <string>

#include "absl/strings/escaping.h"

namespace kiln::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Element `index` of a repeated field, or the singular field when index < 0.
Json FieldValue(const Message& message, const FieldDescriptor* field,
                int index) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return repeated ? r->GetRepeatedInt32(message, field, index)
                      : r->GetInt32(message, field);
    case FieldDescriptor::CPPTYPE_INT64:
      return repeated ? r->GetRepeatedInt64(message, field, index)
                      : r->GetInt64(message, field);
    case FieldDescriptor::CPPTYPE_UINT32:
      return repeated ? r->GetRepeatedUInt32(message, field, index)
                      : r->GetUInt32(message, field);
    case FieldDescriptor::CPPTYPE_UINT64:
      return repeated ? r->GetRepeatedUInt64(message, field, index)
                      : r->GetUInt64(message, field);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return repeated ? r->GetRepeatedDouble(message, field, index)
                      : r->GetDouble(message, field);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return static_cast<double>(repeated
                                     ? r->GetRepeatedFloat(message, field, index)
                                     : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return repeated ? r->GetRepeatedBool(message, field, index)
                      : r->GetBool(message, field);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = repeated ? r->GetRepeatedEnum(message, field, index)
                                   : r->GetEnum(message, field);
      return value->name();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = repeated ? r->GetRepeatedString(message, field, index)
                               : r->GetString(message, field);
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        return absl::Base64Escape(s);
      }
      return s;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(repeated ? r->GetRepeatedMessage(message, field, index)
                                  : r->GetMessage(message, field));
  }
  return nullptr;
}

// A map entry's key as a JSON object key (protobuf's JSON mapping: the
// key's text).
std::string MapKey(const Message& entry) {
  const FieldDescriptor* key = entry.GetDescriptor()->map_key();
  const Json value = FieldValue(entry, key, -1);
  return value.is_string() ? value.get<std::string>() : DumpJson(value);
}

}  // namespace

Json ProtoToJson(const Message& message) {
  const Reflection* r = message.GetReflection();
  Json out = Json::object();
  const auto* descriptor = message.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_map()) {
      Json map = Json::object();
      for (int k = 0; k < r->FieldSize(message, field); ++k) {
        const Message& entry = r->GetRepeatedMessage(message, field, k);
        map[MapKey(entry)] =
            FieldValue(entry, entry.GetDescriptor()->map_value(), -1);
      }
      out[field->name()] = std::move(map);
    } else if (field->is_repeated()) {
      Json list = Json::array();
      for (int k = 0; k < r->FieldSize(message, field); ++k) {
        list.push_back(FieldValue(message, field, k));
      }
      out[field->name()] = std::move(list);
    } else if (field->has_presence() && !r->HasField(message, field)) {
      continue;  // unset message, oneof member or optional scalar
    } else {
      out[field->name()] = FieldValue(message, field, -1);
    }
  }
  return out;
}

}  // namespace kiln::server
