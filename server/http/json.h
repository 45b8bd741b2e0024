// The JSON type of the HTTP/REST endpoint: nlohmann's, keeping keys in
// insertion order so replies read like Triton's ("model_name" before
// "outputs").
#ifndef KILN_SERVER_HTTP_JSON_H_
#define KILN_SERVER_HTTP_JSON_H_

#include <string>

#include <nlohmann/json.hpp>

namespace kiln::server {

using Json = nlohmann::ordered_json;

// Compact text of `value`; invalid UTF-8 in strings (a model name taken from
// a URL, say) is replaced rather than thrown on.
inline std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_JSON_H_
