#include "config/server_flags.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kiln::config {
namespace {

// One table drives both parsing and --help, so the usage text cannot drift
// from what the parser accepts, and the defaults it prints are read from a
// default-constructed ServerFlags rather than restated.
struct FlagSpec {
  absl::string_view name;        // without the leading "--"
  absl::string_view value_hint;  // shown in usage, e.g. "<port>"
  absl::string_view help;
  bool is_bool;
  // Renders the flag's current value in `flags` (used for defaults).
  std::function<std::string(const ServerFlags&)> show;
  // Stores `value` into `flags`; the error names the flag and the value.
  std::function<absl::Status(absl::string_view value, ServerFlags* flags)> set;
};

std::string Quote(absl::string_view value) {
  return absl::StrCat("'", value, "'");
}

absl::Status BadValue(absl::string_view flag, absl::string_view expected,
                      absl::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, ": expected ", expected, ", got ", Quote(value)));
}

absl::StatusOr<int> ParseInt(absl::string_view flag, absl::string_view value,
                             int min, int max) {
  const std::string expected =
      max == INT_MAX ? absl::StrCat("an integer >= ", min)
                     : absl::StrCat("an integer in ", min, "..", max);
  int64_t parsed = 0;
  // SimpleAtoi tolerates surrounding spaces; a flag value should not.
  if (value.empty() || absl::ascii_isspace(value.front()) ||
      absl::ascii_isspace(value.back()) || !absl::SimpleAtoi(value, &parsed) ||
      parsed < min || parsed > max) {
    return BadValue(flag, expected, value);
  }
  return static_cast<int>(parsed);
}

std::optional<bool> ParseBoolValue(absl::string_view value) {
  if (value == "1" || absl::EqualsIgnoreCase(value, "true")) return true;
  if (value == "0" || absl::EqualsIgnoreCase(value, "false")) return false;
  return std::nullopt;
}

std::string ShowBool(bool value) { return value ? "true" : "false"; }

std::string ShowMode(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone:
      return "none";
    case ModelControlMode::kPoll:
      return "poll";
    case ModelControlMode::kExplicit:
      return "explicit";
  }
  return "none";
}

FlagSpec IntFlag(absl::string_view name, absl::string_view hint,
                 absl::string_view help, int ServerFlags::*field, int min,
                 int max) {
  return {name,
          hint,
          help,
          false,
          [field](const ServerFlags& f) { return std::to_string(f.*field); },
          [name, field, min, max](absl::string_view value, ServerFlags* f) {
            absl::StatusOr<int> parsed = ParseInt(name, value, min, max);
            if (!parsed.ok()) return parsed.status();
            f->*field = *parsed;
            return absl::OkStatus();
          }};
}

FlagSpec BoolFlag(absl::string_view name, absl::string_view help,
                  bool ServerFlags::*field) {
  return {name,
          "<bool>",
          help,
          true,
          [field](const ServerFlags& f) { return ShowBool(f.*field); },
          [name, field](absl::string_view value, ServerFlags* f) {
            std::optional<bool> parsed = ParseBoolValue(value);
            if (!parsed) return BadValue(name, "true, false, 1 or 0", value);
            f->*field = *parsed;
            return absl::OkStatus();
          }};
}

FlagSpec StringFlag(absl::string_view name, absl::string_view hint,
                    absl::string_view help, std::string ServerFlags::*field) {
  return {name,
          hint,
          help,
          false,
          [field](const ServerFlags& f) { return f.*field; },
          [name, field](absl::string_view value, ServerFlags* f) {
            if (value.empty())
              return BadValue(name, "a non-empty value", value);
            f->*field = std::string(value);
            return absl::OkStatus();
          }};
}

FlagSpec RepeatedFlag(absl::string_view name, absl::string_view hint,
                      absl::string_view help,
                      std::vector<std::string> ServerFlags::*field) {
  return {name,
          hint,
          help,
          false,
          [](const ServerFlags&) { return std::string("none"); },
          [name, field](absl::string_view value, ServerFlags* f) {
            if (value.empty())
              return BadValue(name, "a non-empty value", value);
            (f->*field).push_back(std::string(value));
            return absl::OkStatus();
          }};
}

// Metrics flags.
std::string ShowDoubles(const std::vector<double>& values) {
  std::string text;
  for (double v : values) {
    if (!text.empty()) text += ',';
    absl::StrAppend(&text, v);
  }
  return text;
}

// "0.001,0.01,0.1": finite, positive, strictly increasing.
absl::Status SetLatencyBuckets(absl::string_view value, ServerFlags* f) {
  constexpr absl::string_view kName = "metrics-latency-buckets-seconds";
  constexpr absl::string_view kExpected =
      "a comma-separated list of increasing positive numbers of seconds";
  std::vector<double> bounds;
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    double bound = 0;
    if (item.empty() || absl::ascii_isspace(item.front()) ||
        absl::ascii_isspace(item.back()) || !absl::SimpleAtod(item, &bound) ||
        !std::isfinite(bound) || bound <= 0 || (!bounds.empty() && bound <= bounds.back())) {
      return BadValue(kName, kExpected, value);
    }
    bounds.push_back(bound);
  }
  f->metrics_latency_buckets_seconds = std::move(bounds);
  return absl::OkStatus();
}

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec>* const flags = new std::vector<FlagSpec>{
      RepeatedFlag("model-repository", "<path>",
                   "Model repository directory. Repeatable; at least one is "
                   "required.",
                   &ServerFlags::model_repositories),
      {"model-control-mode", "<none|poll|explicit>",
       "none: load every model at startup; poll: also reload on repository "
       "changes; explicit: load only --load-model models and on request.",
       false,
       [](const ServerFlags& f) { return ShowMode(f.model_control_mode); },
       [](absl::string_view value, ServerFlags* f) {
         if (value == "none") {
           f->model_control_mode = ModelControlMode::kNone;
         } else if (value == "poll") {
           f->model_control_mode = ModelControlMode::kPoll;
         } else if (value == "explicit") {
           f->model_control_mode = ModelControlMode::kExplicit;
         } else {
           return BadValue("model-control-mode", "none, poll or explicit",
                           value);
         }
         return absl::OkStatus();
       }},
      IntFlag("repository-poll-secs", "<seconds>",
              "Seconds between repository polls in poll mode.",
              &ServerFlags::repository_poll_secs, 1, INT_MAX),
      RepeatedFlag("load-model", "<name>",
                   "Model to load at startup in explicit mode. Repeatable; "
                   "'*' loads all.",
                   &ServerFlags::load_models),
      BoolFlag("strict-readiness",
               "Report ready only when the server and every model are ready.",
               &ServerFlags::strict_readiness),
      BoolFlag("exit-on-error", "Exit when a model fails to load at startup.",
               &ServerFlags::exit_on_error),
      IntFlag("http-port", "<port>", "HTTP/REST port.", &ServerFlags::http_port,
              0, 65535),
      IntFlag("grpc-port", "<port>", "gRPC port.", &ServerFlags::grpc_port, 0,
              65535),
      IntFlag("metrics-port", "<port>", "Prometheus metrics port.",
              &ServerFlags::metrics_port, 0, 65535),
      BoolFlag("allow-http", "Serve HTTP/REST.", &ServerFlags::allow_http),
      BoolFlag("allow-grpc", "Serve gRPC.", &ServerFlags::allow_grpc),
      BoolFlag("allow-metrics", "Serve metrics.", &ServerFlags::allow_metrics),
      StringFlag("grpc-address", "<address>", "Address gRPC listens on.",
                 &ServerFlags::grpc_address),
      StringFlag("http-address", "<address>", "Address HTTP listens on.",
                 &ServerFlags::http_address),
      IntFlag("http-thread-count", "<n>",
              "HTTP worker threads; each serves one connection at a time.",
              &ServerFlags::http_thread_count, 1, INT_MAX),
      IntFlag("http-max-input-size", "<bytes>",
              "Largest JSON part of an HTTP request (binary tensors not "
              "counted); larger ones get 413.",
              &ServerFlags::http_max_input_size, 1, INT_MAX),
      StringFlag("metrics-address", "<address>",
                 "Address the metrics endpoint listens on.",
                 &ServerFlags::metrics_address),
      {"metrics-latency-buckets-seconds", "<s1,s2,...>",
       "Upper bounds in seconds of the kiln_*_duration_seconds latency "
       "histograms, increasing.",
       false,
       [](const ServerFlags& f) {
         return ShowDoubles(f.metrics_latency_buckets_seconds);
       },
       SetLatencyBuckets},
      IntFlag("log-verbose", "<level>", "Verbose logging level; 0 = off.",
              &ServerFlags::log_verbose, 0, INT_MAX),
      IntFlag("exit-timeout-secs", "<seconds>",
              "Seconds shutdown waits for in-flight requests.",
              &ServerFlags::exit_timeout_secs, 0, INT_MAX),
      IntFlag("intra-op-threads", "<n>",
              "LibTorch intra-op threads per model instance; 0 = cores / "
              "instances.",
              &ServerFlags::intra_op_thread_count, 0, INT_MAX),
  };
  return *flags;
}

const FlagSpec* FindFlag(absl::string_view name) {
  for (const FlagSpec& spec : Flags()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// Checks that need the whole command line, not one flag.
absl::Status CheckCombination(const ServerFlags& flags) {
  if (flags.model_repositories.empty()) {
    return absl::InvalidArgumentError(
        "--model-repository is required (see --help)");
  }
  if (!flags.load_models.empty() &&
      flags.model_control_mode != ModelControlMode::kExplicit) {
    return absl::InvalidArgumentError(
        "--load-model requires --model-control-mode=explicit");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerFlags> ParseServerFlags(int argc,
                                             const char* const* argv) {
  ServerFlags flags;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return absl::CancelledError(ServerFlagsUsage());
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument ", Quote(arg),
                       " (flags start with --; see "
                       "--help)"));
    }
    const absl::string_view body = arg.substr(2);
    const size_t eq = body.find('=');
    const absl::string_view name = body.substr(0, eq);
    const FlagSpec* spec = FindFlag(name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '--", name, "' (see --help)"));
    }
    absl::string_view value;
    if (eq != absl::string_view::npos) {
      value = body.substr(eq + 1);
    } else {
      // The value is the next argument unless that is another flag. Kiln takes
      // no positional arguments, so a bare boolean followed by a non-flag can
      // only mean "--flag value"; a bad value there is reported, not skipped.
      const bool next_is_value =
          i + 1 < argc && !absl::StartsWith(argv[i + 1], "--");
      if (next_is_value) {
        value = argv[++i];
      } else if (spec->is_bool) {
        value = "true";
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, ": missing value ", spec->value_hint));
      }
    }
    absl::Status status = spec->set(value, &flags);
    if (!status.ok()) return status;
  }
  absl::Status status = CheckCombination(flags);
  if (!status.ok()) return status;
  return flags;
}

std::string ServerFlagsUsage() {
  const ServerFlags defaults;
  std::string usage =
      "Usage: kiln-server --model-repository=<path> [flags]\n\n"
      "Flags take --flag=value or --flag value; booleans take true, false, 1 "
      "or 0, and a bare boolean flag means true.\n\n";
  for (const FlagSpec& spec : Flags()) {
    absl::StrAppendFormat(&usage, "  --%s=%s\n      %s (default: %s)\n",
                          spec.name, spec.value_hint, spec.help,
                          spec.show(defaults));
  }
  absl::StrAppend(&usage, "  --help\n      Print this text and exit.\n");
  return usage;
}

}  // namespace kiln::config
