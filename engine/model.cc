#include "engine/model.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/passes/freeze_module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/script.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/torch_tensor.h"

namespace kiln::engine {
namespace {

// LibTorch errors carry a C++ backtrace after the first lines; clients and
// logs want the message only.
std::string TorchMessage(const c10::Error& e) {
  return std::string(absl::StripAsciiWhitespace(e.what_without_backtrace()));
}

// How the server's input names map onto forward(): either positions in the
// argument list, or keys of the single Dict[str, Tensor] argument.
struct InputBinding {
  bool dict_input = false;
  std::vector<std::string> dict_keys;  // per server input, when dict_input
  std::vector<int> positions;          // per server input, otherwise
  size_t argument_count = 0;
};

std::optional<int> IndexSuffix(const std::string& name) {
  size_t pos = name.rfind("__");
  if (pos == std::string::npos || pos + 2 >= name.size()) return std::nullopt;
  int index = 0;
  if (!absl::SimpleAtoi(name.substr(pos + 2), &index) || index < 0) {
    return std::nullopt;
  }
  return index;
}

absl::StatusOr<InputBinding> BindInputs(const std::vector<Argument>& args,
                                        const std::vector<std::string>& names) {
  InputBinding binding;
  binding.argument_count = args.size();
  std::vector<std::string> arg_names;
  for (const Argument& a : args) arg_names.push_back(a.name);
  const std::string arg_list = absl::StrJoin(arg_names, ", ");

  if (args.size() == 1 && absl::StartsWith(args[0].type, "Dict[str,") &&
      !(names.size() == 1 && names[0] == args[0].name)) {
    binding.dict_input = true;
    binding.dict_keys = names;
    return binding;
  }
  if (names.empty()) {
    for (size_t i = 0; i < args.size(); ++i) binding.positions.push_back(i);
    return binding;
  }
  std::vector<bool> bound(args.size(), false);
  for (const std::string& name : names) {
    int position = -1;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].name == name) position = static_cast<int>(i);
    }
    if (position < 0) {
      std::optional<int> index = IndexSuffix(name);
      if (!index.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", name, "' matches no forward() argument (arguments: ",
            arg_list, "); name inputs after the arguments or as <name>__<index>"));
      }
      position = *index;
    }
    if (position >= static_cast<int>(args.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", name, "' refers to forward() argument ", position,
          " but forward() takes ", args.size(), " (", arg_list, ")"));
    }
    if (bound[position]) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", name, "' binds forward() argument '",
                       args[position].name, "' a second time"));
    }
    bound[position] = true;
    binding.positions.push_back(position);
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (!bound[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "forward() argument '", args[i].name,
          "' has no input in the model configuration (configured inputs: ",
          absl::StrJoin(names, ", "), ")"));
    }
  }
  return binding;
}

void UseIntraOpThreads(int threads) {
  // at::set_num_threads acts on the calling thread's OpenMP setting, so each
  // executing thread sets it once.
  thread_local int current = -1;
  if (current != threads) {
    at::set_num_threads(threads);
    current = threads;
  }
}

absl::Status AppendTensor(const c10::IValue& value, Outputs* outputs) {
  if (!value.isTensor()) {
    return absl::InternalError(absl::StrCat(
        "forward() returned an element of type ", value.tagKind(),
        "; only tensors, and tuples, lists or dicts of tensors, can be served"));
  }
  auto tensor = FromTorch(value.toTensor());
  if (!tensor.ok()) return absl::InternalError(tensor.status().message());
  outputs->tensors.push_back(*std::move(tensor));
  return absl::OkStatus();
}

class TorchModel final : public Model {
 public:
  TorchModel(torch::jit::Module module, std::vector<Argument> arguments,
             InputBinding binding, LoadReport report, int threads)
      : module_(std::move(module)),
        arguments_(std::move(arguments)),
        binding_(std::move(binding)),
        report_(std::move(report)),
        threads_(threads) {}

  const std::vector<Argument>& arguments() const override { return arguments_; }
  const LoadReport& load_report() const override { return report_; }
  RunStats run_stats() const override {
    RunStats stats;
    stats.runs = runs_.load(std::memory_order_relaxed);
    stats.failures = failures_.load(std::memory_order_relaxed);
    stats.run_ns = run_ns_.load(std::memory_order_relaxed);
    return stats;
  }

  absl::StatusOr<Outputs> Run(const std::vector<Tensor>& inputs) override {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Outputs> outputs = RunForward(inputs);
    if (!outputs.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      return outputs;
    }
    runs_.fetch_add(1, std::memory_order_relaxed);
    run_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count(),
                      std::memory_order_relaxed);
    return outputs;
  }

  absl::StatusOr<Outputs> RunForward(const std::vector<Tensor>& inputs) {
    const size_t expected = binding_.dict_input ? binding_.dict_keys.size()
                                                : binding_.positions.size();
    if (inputs.size() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "expected ", expected, " input tensors, got ", inputs.size()));
    }
    UseIntraOpThreads(threads_);
    try {
      c10::InferenceMode inference_mode;
      std::vector<c10::IValue> stack;
      if (binding_.dict_input) {
        c10::Dict<std::string, at::Tensor> dict;
        for (size_t i = 0; i < inputs.size(); ++i) {
          dict.insert(binding_.dict_keys[i], ToTorch(inputs[i]));
        }
        stack.emplace_back(std::move(dict));
      } else {
        stack.resize(binding_.argument_count);
        for (size_t i = 0; i < inputs.size(); ++i) {
          stack[binding_.positions[i]] = ToTorch(inputs[i]);
        }
      }
      c10::IValue result = module_.forward(std::move(stack));
      return ToOutputs(result);
    } catch (const c10::Error& e) {
      return absl::InternalError(TorchMessage(e));
    } catch (const std::exception& e) {
      return absl::InternalError(e.what());
    }
  }

 private:
  static absl::StatusOr<Outputs> ToOutputs(const c10::IValue& result) {
    Outputs outputs;
    absl::Status status;
    if (result.isTuple()) {
      for (const c10::IValue& v : result.toTupleRef().elements()) {
        if (status = AppendTensor(v, &outputs); !status.ok()) return status;
      }
    } else if (result.isList()) {
      for (const c10::IValue& v : result.toListRef()) {
        if (status = AppendTensor(v, &outputs); !status.ok()) return status;
      }
    } else if (result.isGenericDict()) {
      for (const auto& entry : result.toGenericDict()) {
        if (!entry.key().isString()) {
          return absl::InternalError(
              "forward() returned a dict whose keys are not strings");
        }
        outputs.keys.push_back(entry.key().toStringRef());
        if (status = AppendTensor(entry.value(), &outputs); !status.ok()) {
          return status;
        }
      }
    } else {
      if (status = AppendTensor(result, &outputs); !status.ok()) return status;
    }
    return outputs;
  }

  torch::jit::Module module_;
  const std::vector<Argument> arguments_;
  const InputBinding binding_;
  const LoadReport report_;
  const int threads_;
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> run_ns_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Load(
    const std::string& path, const ModelOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat("model file ", path, " not found"));
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::kCPU);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a TorchScript model that LibTorch can load: ",
        TorchMessage(e)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a TorchScript model that LibTorch can load: ", e.what()));
  }

  std::vector<Argument> arguments;
  try {
    auto method = module.find_method("forward");
    if (!method.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " has no forward() method"));
    }
    const auto& schema = method->function().getSchema();
    for (size_t i = 1; i < schema.arguments().size(); ++i) {  // 0 is self
      const auto& arg = schema.arguments()[i];
      arguments.push_back({arg.name(), arg.type()->annotation_str()});
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(TorchMessage(e));
  }

  auto binding = BindInputs(arguments, options.input_names);
  if (!binding.ok()) return binding.status();

  LoadReport report;
  module.eval();
  if (options.optimization_level >= 1) {
    try {
      module = torch::jit::freeze(module);
      report.frozen = true;
    } catch (const c10::Error& e) {
      // Modules that set attributes at run time cannot be frozen; TorchScript
      // still runs them, so Kiln serves them unfrozen.
      report.freeze_error = TorchMessage(e);
    } catch (const std::exception& e) {
      report.freeze_error = e.what();
    }
  }
  report.load_seconds = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  int threads = options.intra_op_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  return std::unique_ptr<Model>(new TorchModel(std::move(module),
                                               std::move(arguments),
                                               *std::move(binding),
                                               std::move(report), threads));
}

}  // namespace kiln::engine
