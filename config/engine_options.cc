#include "config/engine_options.h"

#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kiln::config {
namespace {

constexpr absl::string_view kOptLevel = "KILN_OPT_LEVEL";
constexpr absl::string_view kPrecision = "KILN_PRECISION";
constexpr absl::string_view kAccuracyCheck = "KILN_ACCURACY_CHECK";
constexpr absl::string_view kPlanCacheSize = "KILN_PLAN_CACHE_SIZE";
constexpr absl::string_view kBatchBuckets = "KILN_BATCH_BUCKETS";
constexpr absl::string_view kIntraOpThreads = "KILN_INTRA_OP_THREADS";
constexpr absl::string_view kInterOpThreads = "KILN_INTER_OP_THREADS";
constexpr absl::string_view kAsyncCompile = "KILN_ASYNC_COMPILE";
// Triton PyTorch-backend spellings.
constexpr absl::string_view kTritonIntraOp = "INTRA_OP_THREAD_COUNT";
constexpr absl::string_view kTritonInterOp = "INTER_OP_THREAD_COUNT";
constexpr absl::string_view kTritonDisableOpt = "DISABLE_OPTIMIZED_EXECUTION";

// The KILN_ keys a config may use; anything else with the prefix is a typo.
constexpr absl::string_view kKnownKilnKeys[] = {
    kOptLevel,      kPrecision,      kAccuracyCheck,
    kPlanCacheSize, kBatchBuckets, kIntraOpThreads, kInterOpThreads, kAsyncCompile,
};

constexpr absl::string_view kFromParameter = "parameter";
constexpr absl::string_view kFromEnvironment = "environment";

// A value as given, with where it came from, so an error can say both.
struct Raw {
  absl::string_view source;  // kFromParameter or kFromEnvironment
  std::string key;
  std::string value;  // untrimmed, as given
};

using Getenv =
    std::function<std::optional<std::string>(const std::string&)>;

std::optional<Raw> FromConfig(const inference::ModelConfig& config,
                              absl::string_view key) {
  auto it = config.parameters().find(std::string(key));
  if (it == config.parameters().end()) return std::nullopt;
  return Raw{kFromParameter, std::string(key), it->second.string_value()};
}

// An empty (or all-blank) variable counts as unset: `export KILN_X=` is the
// usual way to clear a setting in a shell script or a manifest.
std::optional<Raw> FromEnv(const Getenv& getenv, absl::string_view key) {
  std::optional<std::string> value = getenv(std::string(key));
  if (!value.has_value() || absl::StripAsciiWhitespace(*value).empty()) {
    return std::nullopt;
  }
  return Raw{kFromEnvironment, std::string(key), *std::move(value)};
}

absl::Status BadValue(absl::string_view model, const Raw& raw,
                      absl::string_view expected) {
  const absl::string_view where = raw.source == kFromParameter
                                      ? "config parameter"
                                      : "environment variable";
  return absl::InvalidArgumentError(
      absl::StrCat("model '", model, "': ", where, " ", raw.key, " must be ",
                   expected, "; got '", raw.value, "'"));
}

absl::StatusOr<int> ParseInt(absl::string_view model, const Raw& raw, int min,
                             int max) {
  const std::string expected =
      max == INT32_MAX ? absl::StrCat("an integer >= ", min)
                       : absl::StrCat("an integer in ", min, "..", max);
  const absl::string_view text = absl::StripAsciiWhitespace(raw.value);
  int64_t parsed = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &parsed) || parsed < min ||
      parsed > max) {
    return BadValue(model, raw, expected);
  }
  return static_cast<int>(parsed);
}

absl::StatusOr<bool> ParseBool(absl::string_view model, const Raw& raw) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw.value);
  if (text == "1" || absl::EqualsIgnoreCase(text, "true")) return true;
  if (text == "0" || absl::EqualsIgnoreCase(text, "false")) return false;
  return BadValue(model, raw, "one of true, false, 1, 0");
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view model,
                                         const Raw& raw) {
  const absl::string_view text = absl::StripAsciiWhitespace(raw.value);
  for (Precision p : {Precision::kAuto, Precision::kFp32, Precision::kBf16}) {
    const std::string_view name = PrecisionName(p);
    if (absl::EqualsIgnoreCase(text, absl::string_view(name.data(), name.size()))) {
      return p;
    }
  }
  return BadValue(model, raw, "one of auto, fp32, bf16");
}

// "1,2,4,8": positive, strictly increasing batch sizes.
absl::StatusOr<std::vector<int64_t>> ParseBuckets(absl::string_view model, const Raw& raw) {
  std::vector<int64_t> buckets;
  for (absl::string_view part : absl::StrSplit(raw.value, ',')) {
    int64_t b = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &b) || b < 1 ||
        (!buckets.empty() && b <= buckets.back())) {
      return BadValue(model, raw, "increasing positive batch sizes separated by commas, e.g. 1,2,4,8");
    }
    buckets.push_back(b);
  }
  return buckets;
}

// Parses every candidate that is present (strongest first), so a malformed
// value is reported even when a stronger source overrides it, and stores the
// strongest one. Leaves `*out` and `*source` alone when none is present.
template <typename T, typename Parse>
absl::Status Resolve(const std::vector<std::optional<Raw>>& candidates,
                     Parse parse, T* out, std::string* source) {
  bool chosen = false;
  for (const std::optional<Raw>& raw : candidates) {
    if (!raw.has_value()) continue;
    absl::StatusOr<T> value = parse(*raw);
    if (!value.ok()) return value.status();
    if (!chosen) {
      *out = *value;
      *source = std::string(raw->source);
      chosen = true;
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view PrecisionName(Precision p) {
  switch (p) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
  }
  return "unknown";
}

absl::StatusOr<EngineOptions> ResolveEngineOptions(
    const inference::ModelConfig& config, const Getenv& getenv) {
  const std::string& model = config.name();

  for (const auto& [key, unused] : config.parameters()) {
    if (!absl::StartsWith(key, "KILN_")) continue;  // Triton's or others'
    bool known = false;
    for (absl::string_view k : kKnownKilnKeys) known = known || key == k;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model '", model, "': unknown config parameter ", key,
          "; known: ", absl::StrJoin(kKnownKilnKeys, ", ")));
    }
  }

  EngineOptions options;
  for (absl::string_view field :
       {"opt_level", "precision", "accuracy_check", "plan_cache_size", "batch_buckets",
        "intra_op_threads", "inter_op_threads", "async_compile"}) {
    options.sources[std::string(field)] = std::string(kFromDefault);
  }

  auto int_in = [&model](int min, int max) {
    return [&model, min, max](const Raw& raw) {
      return ParseInt(model, raw, min, max);
    };
  };
  auto boolean = [&model](const Raw& raw) { return ParseBool(model, raw); };
  auto precision = [&model](const Raw& raw) {
    return ParsePrecision(model, raw);
  };

  // Optimization level. Triton's DISABLE_OPTIMIZED_EXECUTION=true stands for
  // "level 0" at config strength, below an explicit KILN_OPT_LEVEL in the
  // config; =false asks for nothing, so it is not a candidate.
  std::optional<Raw> disable_opt;
  if (std::optional<Raw> raw = FromConfig(config, kTritonDisableOpt)) {
    absl::StatusOr<bool> disabled = ParseBool(model, *raw);
    if (!disabled.ok()) return disabled.status();
    if (*disabled) disable_opt = Raw{kFromParameter, raw->key, "0"};
  }
  if (absl::Status s = Resolve(
          {FromConfig(config, kOptLevel), disable_opt, FromEnv(getenv, kOptLevel)},
          int_in(0, 3), &options.optimization_level,
          &options.sources["opt_level"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve(
          {FromConfig(config, kPrecision), FromEnv(getenv, kPrecision)},
          precision, &options.precision, &options.sources["precision"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve({FromConfig(config, kAccuracyCheck),
                                FromEnv(getenv, kAccuracyCheck)},
                               boolean, &options.accuracy_check,
                               &options.sources["accuracy_check"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve({FromConfig(config, kAsyncCompile),
                                FromEnv(getenv, kAsyncCompile)},
                               boolean, &options.async_compile,
                               &options.sources["async_compile"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve({FromConfig(config, kPlanCacheSize),
                                FromEnv(getenv, kPlanCacheSize)},
                               int_in(1, INT32_MAX), &options.plan_cache_size,
                               &options.sources["plan_cache_size"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve({FromConfig(config, kBatchBuckets),
                                FromEnv(getenv, kBatchBuckets)},
                               [&model](const Raw& raw) { return ParseBuckets(model, raw); },
                               &options.batch_buckets, &options.sources["batch_buckets"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve(
          {FromConfig(config, kIntraOpThreads), FromConfig(config, kTritonIntraOp),
           FromEnv(getenv, kIntraOpThreads)},
          int_in(0, INT32_MAX), &options.intra_op_threads,
          &options.sources["intra_op_threads"]);
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Resolve(
          {FromConfig(config, kInterOpThreads), FromConfig(config, kTritonInterOp),
           FromEnv(getenv, kInterOpThreads)},
          int_in(0, INT32_MAX), &options.inter_op_threads,
          &options.sources["inter_op_threads"]);
      !s.ok()) {
    return s;
  }

  return options;
}

absl::StatusOr<EngineOptions> ResolveEngineOptions(
    const inference::ModelConfig& config) {
  return ResolveEngineOptions(
      config, [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      });
}

std::string DescribeEngineOptions(const EngineOptions& options) {
  auto source = [&options](const std::string& field) {
    auto it = options.sources.find(field);
    return it == options.sources.end() ? std::string(kFromDefault)
                                       : it->second;
  };
  const std::string_view precision = PrecisionName(options.precision);
  return absl::StrCat(
      "opt_level=", options.optimization_level, " (", source("opt_level"),
      ") precision=", absl::string_view(precision.data(), precision.size()),
      " (", source("precision"), ") accuracy_check=",
      options.accuracy_check ? "true" : "false", " (",
      source("accuracy_check"), ") plan_cache_size=", options.plan_cache_size,
      " (", source("plan_cache_size"), ") batch_buckets=",
      options.batch_buckets.empty() ? "off" : absl::StrJoin(options.batch_buckets, ","), " (",
      source("batch_buckets"), ") intra_op_threads=",
      options.intra_op_threads, " (", source("intra_op_threads"),
      ") inter_op_threads=", options.inter_op_threads, " (",
      source("inter_op_threads"), ") async_compile=", options.async_compile ? "true" : "false",
      " (", source("async_compile"), ")");
}

}  // namespace kiln::config
