#include "server/http/http_routes.h"

#include <vector>

#include "absl/strings/ascii.h"

namespace kiln::server {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool IsVersion(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::optional<Route> Make(RouteKind kind, std::string_view model = {},
                          std::string_view version = {},
                          std::string_view repository = {}) {
  return Route{kind, std::string(model), std::string(version),
               std::string(repository)};
}

// segments after "models": {m}[/versions/{v}][/{action}]
std::optional<Route> MatchModel(const std::vector<std::string_view>& s) {
  if (s.empty()) return std::nullopt;
  const std::string_view model = s[0];
  size_t next = 1;
  std::string_view version;
  if (s.size() >= 3 && s[1] == "versions") {
    if (!IsVersion(s[2])) return std::nullopt;
    version = s[2];
    next = 3;
  }
  if (next == s.size()) return Make(RouteKind::kModelMetadata, model, version);
  if (next + 1 != s.size()) return std::nullopt;
  const std::string_view action = s[next];
  if (action == "ready") return Make(RouteKind::kModelReady, model, version);
  if (action == "config") return Make(RouteKind::kModelConfig, model, version);
  if (action == "stats") return Make(RouteKind::kModelStats, model, version);
  if (action == "infer") return Make(RouteKind::kModelInfer, model, version);
  return std::nullopt;
}

// segments after "repository": [{r}/](index | models/{m}/(load|unload))
std::optional<Route> MatchRepository(std::vector<std::string_view> s) {
  std::string_view repository;
  if (!s.empty() && s[0] != "index" && s[0] != "models") {
    repository = s[0];
    s.erase(s.begin());
  }
  if (s.size() == 1 && s[0] == "index") {
    return Make(RouteKind::kRepositoryIndex, {}, {}, repository);
  }
  if (s.size() == 3 && s[0] == "models") {
    if (s[2] == "load") return Make(RouteKind::kModelLoad, s[1], {}, repository);
    if (s[2] == "unload") {
      return Make(RouteKind::kModelUnload, s[1], {}, repository);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Route> MatchRoute(std::string_view path) {
  if (path == "/v2") return Make(RouteKind::kServerMetadata);
  constexpr std::string_view kPrefix = "/v2/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::vector<std::string_view> s = Split(path.substr(kPrefix.size()));
  for (std::string_view segment : s) {
    if (segment.empty()) return std::nullopt;
  }
  const std::vector<std::string_view> rest(s.begin() + 1, s.end());
  if (s[0] == "health" && s.size() == 2) {
    if (s[1] == "live") return Make(RouteKind::kHealthLive);
    if (s[1] == "ready") return Make(RouteKind::kHealthReady);
    return std::nullopt;
  }
  if (s[0] == "models") {
    // As in tritonserver, this one path means "every model", not the
    // metadata of a model named "stats".
    if (rest.size() == 1 && rest[0] == "stats") {
      return Make(RouteKind::kModelStats);
    }
    return MatchModel(rest);
  }
  if (s[0] == "repository") return MatchRepository(rest);
  return std::nullopt;
}

std::string_view RouteMethod(RouteKind kind) {
  switch (kind) {
    case RouteKind::kModelInfer:
    case RouteKind::kRepositoryIndex:
    case RouteKind::kModelLoad:
    case RouteKind::kModelUnload:
      return "POST";
    default:
      return "GET";
  }
}

}  // namespace kiln::server
