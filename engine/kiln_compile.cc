// kiln-compile: what the engine does with one model at one input shape, for
// a user deciding whether to trust it. Prints the passes, the nodes left to
// TorchScript and why, each segment with what was fused, per-stage compile
// times, the accuracy check, and reference vs plan latency.
//
//   kiln-compile MODEL.pt --input 1x3x224x224[,1x128:i64] [--precision auto|fp32|bf16]
//                [--winograd auto|off] [--runs 20] [--threads N] [--json] [--verbose] [--graph]
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/compiler.h"
#include "engine/loader.h"

namespace kiln::engine {
namespace {

struct Flags {
  std::string model;
  std::string inputs;
  std::string precision = "auto";
  std::string winograd = "auto";
  int runs = 20;
  int threads = 0;
  bool json = false;
  bool verbose = false;
  bool graph = false;
};

constexpr char kUsage[] =
    "usage: kiln-compile MODEL.pt --input 1x3x224x224[,1x128:i64] "
    "[--precision auto|fp32|bf16] [--winograd auto|off] [--runs N] [--threads N] [--json] "
    "[--verbose] [--graph]\n";

bool ParseFlags(int argc, char** argv, Flags* flags, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) {
        *error = absl::StrCat(arg, " needs a value");
        return false;
      }
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--input") {
      if (!value(&flags->inputs)) return false;
    } else if (arg == "--precision") {
      if (!value(&flags->precision)) return false;
      if (flags->precision != "auto" && flags->precision != "fp32" && flags->precision != "bf16") {
        *error = absl::StrCat("--precision must be auto, fp32 or bf16; got '", flags->precision, "'");
        return false;
      }
    } else if (arg == "--winograd") {
      if (!value(&flags->winograd)) return false;
      if (flags->winograd != "auto" && flags->winograd != "off") {
        *error = absl::StrCat("--winograd must be auto or off; got '", flags->winograd, "'");
        return false;
      }
    } else if (arg == "--runs") {
      if (!value(&v) || !absl::SimpleAtoi(v, &flags->runs) || flags->runs < 1) {
        *error = "--runs needs a positive integer";
        return false;
      }
    } else if (arg == "--threads") {
      if (!value(&v) || !absl::SimpleAtoi(v, &flags->threads) || flags->threads < 1) {
        *error = "--threads needs a positive integer";
        return false;
      }
    } else if (arg == "--json") {
      flags->json = true;
    } else if (arg == "--verbose") {
      flags->verbose = true;
    } else if (arg == "--graph") {
      flags->graph = true;
    } else if (arg == "--help" || arg == "-h") {
      *error = "";
      return false;
    } else if (!arg.empty() && arg[0] != '-' && flags->model.empty()) {
      flags->model = arg;
    } else {
      *error = absl::StrCat("unknown argument '", arg, "'");
      return false;
    }
  }
  if (flags->model.empty() || flags->inputs.empty()) {
    *error = "MODEL.pt and --input are required";
    return false;
  }
  return true;
}

// "1x3x224x224,1x128:i64" -> random tensors (normal floats; small ints).
absl::StatusOr<std::vector<at::Tensor>> MakeInputs(const std::string& spec) {
  std::vector<at::Tensor> inputs;
  torch::manual_seed(0);
  for (absl::string_view one : absl::StrSplit(spec, ',')) {
    std::vector<std::string> parts = absl::StrSplit(one, ':');
    std::vector<int64_t> dims;
    for (absl::string_view d : absl::StrSplit(parts[0], 'x')) {
      int64_t n = 0;
      if (!absl::SimpleAtoi(d, &n) || n < 0) {
        return absl::InvalidArgumentError(absl::StrCat("bad shape '", parts[0], "' in --input"));
      }
      dims.push_back(n);
    }
    const std::string type = parts.size() > 1 ? parts[1] : "f32";
    if (type == "f32") {
      inputs.push_back(torch::randn(dims));
    } else if (type == "i64") {
      inputs.push_back(torch::randint(0, 100, dims, torch::kLong));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("input type must be f32 or i64; got '", type, "'"));
    }
  }
  return inputs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median milliseconds of `runs` calls of `a` and of `b`, measured in
// alternating blocks (about five of each, a warm-up call before each block,
// excluded): a shared machine that slows down or speeds up for a few seconds
// then weighs on both figures alike, and each block still runs with warm
// caches, as a model served back to back does.
template <typename A, typename B>
std::pair<double, double> AlternatingMediansMs(int runs, A&& a, B&& b) {
  auto time_ms = [](auto& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  };
  const int block = std::max(1, runs / 5);
  std::vector<double> a_ms, b_ms;
  while (static_cast<int>(a_ms.size()) < runs) {
    const int n = std::min(block, runs - static_cast<int>(a_ms.size()));
    a();  // warm-up
    for (int i = 0; i < n; ++i) a_ms.push_back(time_ms(a));
    b();
    for (int i = 0; i < n; ++i) b_ms.push_back(time_ms(b));
  }
  return {Median(a_ms), Median(b_ms)};
}

int Main(int argc, char** argv) {
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (!error.empty()) std::cerr << "kiln-compile: " << error << "\n";
    std::cerr << kUsage;
    return error.empty() ? 0 : 2;
  }
  const int threads = flags.threads > 0 ? flags.threads
                                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  c10::InferenceMode inference_mode;

  auto inputs = MakeInputs(flags.inputs);
  if (!inputs.ok()) {
    std::cerr << "kiln-compile: " << inputs.status().message() << "\n";
    return 2;
  }
  auto loaded = LoadTorchScript(flags.model, 3);
  if (!loaded.ok()) {
    std::cerr << "kiln-compile: " << loaded.status().message() << "\n";
    return 1;
  }
  std::ostream& out = flags.json ? std::cerr : std::cout;
  out << "model " << flags.model << ", input " << flags.inputs << ", " << threads
      << " thread(s), precision " << flags.precision << "\n";
  out << "load + freeze + passes: " << absl::StrFormat("%.2f s", loaded->report.load_seconds)
      << (loaded->report.frozen ? "" : absl::StrCat(" (NOT frozen: ", loaded->report.freeze_error, ")"))
      << "\n";
  for (const passes::PassRecord& r : loaded->passes) {
    out << absl::StrFormat("  pass %-28s %-10s %7.2f ms  nodes %d -> %d\n", r.name,
                           r.changed ? "changed" : "-", r.milliseconds, r.nodes_before,
                           r.nodes_after);
  }
  if (!loaded->optimized_graph) {
    out << "a graph pass failed on the unfrozen module: it runs as TorchScript (no plan)\n";
    return 0;
  }

  std::vector<c10::IValue> stack = {loaded->module._ivalue()};
  for (const at::Tensor& t : *inputs) stack.push_back(t);
  CompilerOptions options;
  options.precision = flags.precision == "fp32"   ? PrecisionPolicy::kFp32
                      : flags.precision == "bf16" ? PrecisionPolicy::kBf16
                                                  : PrecisionPolicy::kAuto;
  if (flags.winograd == "off") options.winograd = plan::WinogradUse::kOff;
  auto plan = BuildKeyPlan(loaded->optimized_graph, stack, options);
  if (!plan.ok()) {
    std::cerr << "kiln-compile: " << plan.status().message() << "\n";
    return 1;
  }
  const KeyPlan& key_plan = **plan;
  out << absl::StrFormat("plan built in %.3f s; kept: %s\n", key_plan.build_ms / 1000,
                         key_plan.graph ? key_plan.precision : "none (reference path)");
  for (const std::string& a : key_plan.attempts) out << "  attempt " << a << "\n";

  int left_count = 0, segments = 0;
  if (key_plan.graph) {
    const segment::PlanReport& report = key_plan.graph->report();
    out << absl::StrFormat(
        "stages: profile %.1f ms (%d run(s), %d sizes specialized), partition %.1f ms, compile %.1f ms\n",
        report.profile_ms, report.profiles, report.specialized_sizes, report.partition_ms, report.compile_ms);
    std::map<std::string, int> left;
    for (const segment::LeftNode& n : report.left) ++left[absl::StrCat(n.kind, ": ", n.reason)];
    left_count = static_cast<int>(report.left.size());
    out << "nodes left to TorchScript: " << left_count << "\n";
    for (const auto& [what, count] : left) out << "  " << count << " x " << what << "\n";
    for (size_t i = 0; i < report.segments.size(); ++i) {
      const segment::SegmentSummary& s = report.segments[i];
      if (s.precision.empty()) {
        out << absl::StrFormat("segment %d: %d nodes LEFT to TorchScript: %s\n", i,
                               s.torchscript_nodes, s.left_reason);
        continue;
      }
      ++segments;
      out << absl::StrFormat(
          "segment %d: %d TorchScript nodes -> %d ops (%d fused), %s, %d steps (%d reorders), "
          "%d Winograd convolution(s), arena %.1f MiB, weights %.1f MiB, compiled in %.1f ms\n",
          i, s.torchscript_nodes, s.ir_nodes, s.fusions, s.precision, s.plan.steps,
          s.plan.reorders, s.plan.winograd_convolutions, s.plan.arena_bytes / 1048576.0,
          s.plan.weight_bytes / 1048576.0, s.compile_ms);
      out << "  check: " << s.check.Summary() << "\n";
      for (const std::string& r : s.retries) out << "  retry: " << r << "\n";
      if (flags.verbose) {
        for (const std::string& f : s.fused) out << "  fused: " << f << "\n";
        for (const std::string& l : s.plan.step_labels) out << "  step: " << l << "\n";
      }
    }
  }
  if (flags.graph && key_plan.graph) out << "plan graph:\n" << key_plan.graph->graph() << "\n";
  out << "accuracy (plan vs reference on this input): " << key_plan.final_check.Summary() << "\n";

  // Latency: the frozen module run by LibTorch (the reference) vs the plan.
  std::vector<c10::IValue> args(stack.begin() + 1, stack.end());
  auto reference = [&]() { loaded->module.forward(args); };
  double reference_ms = 0, plan_ms = 0;
  if (key_plan.graph) {
    std::tie(reference_ms, plan_ms) = AlternatingMediansMs(
        flags.runs, reference, [&]() { key_plan.graph->Run(stack); });
  } else {
    reference_ms = plan_ms = AlternatingMediansMs(flags.runs, reference, [] {}).first;
  }
  out << absl::StrFormat("latency (median of %d, alternating blocks): reference %.3f ms, plan %.3f ms, speedup %.2fx\n",
                         flags.runs, reference_ms, plan_ms, reference_ms / plan_ms);

  if (flags.json) {
    double max_abs = 0, cosine = 1;
    for (const OutputComparison& o : key_plan.final_check.outputs) {
      max_abs = std::max(max_abs, o.max_abs_error);
      cosine = std::min(cosine, o.cosine);
    }
    std::cout << absl::StrFormat(
        "{\"model\": \"%s\", \"precision\": \"%s\", \"plan_precision\": \"%s\", "
        "\"median_ms\": %.4f, \"reference_median_ms\": %.4f, \"compile_seconds\": %.4f, "
        "\"accuracy\": {\"passed\": %s, \"max_abs_error\": %.6g, \"cosine\": %.8f}, "
        "\"nodes_left_to_torchscript\": %d, \"segments\": %d, \"threads\": %d}\n",
        flags.model, flags.precision, key_plan.graph ? key_plan.precision : "none", plan_ms,
        reference_ms, key_plan.build_ms / 1000,
        key_plan.final_check.passed ? "true" : "false", max_abs, cosine, left_count, segments,
        threads);
  }
  return 0;
}

}  // namespace
}  // namespace kiln::engine

int main(int argc, char** argv) { return kiln::engine::Main(argc, argv); }
