// The URL paths of the HTTP/REST endpoint (KServe v2 + Triton's
// extensions), matched the way tritonserver matches them. Pure functions,
// thread safe.
#ifndef KILN_SERVER_HTTP_HTTP_ROUTES_H_
#define KILN_SERVER_HTTP_HTTP_ROUTES_H_

#include <optional>
#include <string>
#include <string_view>

namespace kiln::server {

enum class RouteKind {
  kHealthLive,       // GET  /v2/health/live
  kHealthReady,      // GET  /v2/health/ready
  kServerMetadata,   // GET  /v2
  kModelMetadata,    // GET  /v2/models/{m}[/versions/{v}]
  kModelReady,       // GET  /v2/models/{m}[/versions/{v}]/ready
  kModelConfig,      // GET  /v2/models/{m}[/versions/{v}]/config
  kModelStats,       // GET  /v2/models[/{m}[/versions/{v}]]/stats
  kModelInfer,       // POST /v2/models/{m}[/versions/{v}]/infer
  kRepositoryIndex,  // POST /v2/repository[/{r}]/index
  kModelLoad,        // POST /v2/repository[/{r}]/models/{m}/load
  kModelUnload,      // POST /v2/repository[/{r}]/models/{m}/unload
};

struct Route {
  RouteKind kind;
  std::string model;       // empty for server-level routes and all-model stats
  std::string version;     // empty = the model's policy picks
  std::string repository;  // the optional repository segment
};

// The route of a (URL-decoded) path, or nullopt when there is none (404).
// Versions are decimal digits, as in tritonserver's routes; a path with an
// empty segment (a doubled or trailing slash) matches nothing.
std::optional<Route> MatchRoute(std::string_view path);

// The method a route takes: "GET" or "POST" (others get 405).
std::string_view RouteMethod(RouteKind kind);

}  // namespace kiln::server

#endif  // KILN_SERVER_HTTP_HTTP_ROUTES_H_
