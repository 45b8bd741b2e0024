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
#include "absl/synchronization/mutex.h"
#include "engine/compiler.h"
#include "engine/interop_threads.h"
#include "engine/loader.h"
#include "engine/plan_cache.h"
#include "engine/torch_tensor.h"

namespace kiln::engine {
namespace {

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

// TorchScript's interpreter errors end with the error itself.
std::string LastLine(const std::string& text) {
  std::string trimmed(absl::StripTrailingAsciiWhitespace(text));
  const size_t start = trimmed.rfind('\n');
  return start == std::string::npos ? trimmed : trimmed.substr(start + 1);
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

// Threads running asynchronous plan builds; the destructor waits for them.
class BackgroundJobs {
 public:
  ~BackgroundJobs() {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }
  void Start(std::function<void()> job) {
    absl::MutexLock lock(&mu_);
    threads_.emplace_back(std::move(job));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

class TorchModel final : public Model {
 public:
  TorchModel(LoadedModule loaded, InputBinding binding, int threads,
             const ModelOptions& options, std::unique_ptr<PlanCache> cache)
      : module_(std::move(loaded.module)),
        arguments_(std::move(loaded.arguments)),
        binding_(std::move(binding)),
        report_(std::move(loaded.report)),
        threads_(threads),
        options_(options),
        graph_(std::move(loaded.optimized_graph)),
        cache_(std::move(cache)) {
    compiler_options_.accuracy_check = options.accuracy_check;
    compiler_options_.precision =
        options.optimization_level >= 3 ? options.precision
        : options.precision == PrecisionPolicy::kBf16 ? PrecisionPolicy::kBf16
                                                      : PrecisionPolicy::kFp32;
  }

  const std::vector<Argument>& arguments() const override { return arguments_; }
  const LoadReport& load_report() const override { return report_; }
  RunStats run_stats() const override {
    RunStats stats;
    {
      absl::MutexLock lock(&stats_mutex_);
      stats = engine_stats_;
    }
    stats.runs = runs_.load(std::memory_order_relaxed);
    stats.failures = failures_.load(std::memory_order_relaxed);
    stats.run_ns = run_ns_.load(std::memory_order_relaxed);
    if (cache_) {
      const PlanCacheStats cache = cache_->stats();
      stats.plan_cache_hits = cache.hits;
      stats.plan_cache_misses = cache.misses;
      stats.plan_cache_evictions = cache.evictions;
      stats.plan_cache_size = cache.size;
    }
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
      if (cache_) return RunPlan(inputs, std::move(stack));
      UseIntraOpThreads(threads_);
      c10::IValue result = module_.forward(std::move(stack));
      return ToOutputs(result);
    } catch (const c10::Error& e) {
      return absl::InternalError(TorchMessage(e));
    } catch (const std::exception& e) {
      return absl::InternalError(e.what());
    }
  }

 private:
  // Runs the plan of the inputs' signature, building it on first sight.
  absl::StatusOr<Outputs> RunPlan(const std::vector<Tensor>& inputs,
                                  std::vector<c10::IValue> arguments) {
    std::vector<c10::IValue> stack;
    stack.reserve(arguments.size() + 1);
    stack.push_back(module_._ivalue());
    for (c10::IValue& a : arguments) stack.push_back(std::move(a));
    const Signature exact = SignatureOf(inputs);
    const Signature signature = binding_.dict_input ? exact : cache_->Bucketed(exact);
    // Batch bucketing: zero-pad the batch dim up to the bucket; outputs are
    // cut back to the request's batch below.
    int64_t batch = -1, bucket = -1;
    if (signature != exact) {
      batch = exact.shapes[0][0];
      bucket = signature.shapes[0][0];
      for (size_t i = 1; i < stack.size(); ++i) {
        if (!stack[i].isTensor()) continue;
        const at::Tensor t = stack[i].toTensor();
        std::vector<int64_t> dims = t.sizes().vec();
        dims[0] = bucket;
        at::Tensor padded = at::zeros(dims, t.options());
        padded.narrow(0, 0, batch).copy_(t);
        stack[i] = padded;
      }
    }
    bool built_here = false;
    auto build = [this, signature](const std::vector<c10::IValue>& inputs)
        -> absl::StatusOr<std::shared_ptr<CachedPlan>> {
      UseIntraOpThreads(threads_);
      auto plan = BuildKeyPlan(graph_, inputs, compiler_options_);
      if (!plan.ok()) return plan.status();
      if ((*plan)->graph && threads_ > 1) (*plan)->run_threads = TinyPlanThreads(**plan, inputs);
      RecordBuild(signature, **plan);
      return std::shared_ptr<CachedPlan>(*std::move(plan));
    };
    std::shared_ptr<CachedPlan> found;
    if (options_.async_compile) {
      found = cache_->GetOrStartBuild(
          signature,
          [&]() -> PlanCache::Builder {
            // The build outlives this request, whose tensors wrap the
            // caller's buffers: it gets copies (made only by the request
            // that starts it).
            std::vector<c10::IValue> copied;
            for (const c10::IValue& v : stack) {
              copied.push_back(v.isTensor() ? c10::IValue(v.toTensor().clone()) : v);
            }
            return [build, copied = std::move(copied)]() {
              c10::InferenceMode inference_mode;
              return build(copied);
            };
          },
          [this](std::function<void()> job) { background_.Start(std::move(job)); });
      if (found == nullptr) {  // being built: the reference answers meanwhile
        stack.erase(stack.begin());
        UseIntraOpThreads(threads_);
        c10::IValue result = module_.forward(std::move(stack));
        if (bucket > 0) result = CutBatch(result, bucket, batch);
        return ToOutputs(result);
      }
    } else {
      auto cached = cache_->GetOrBuild(signature, [&]() {
        built_here = true;
        return build(stack);
      });
      if (!cached.ok()) return cached.status();
      found = *cached;
    }
    const KeyPlan& plan = static_cast<const KeyPlan&>(*found);
    c10::IValue result;
    if (built_here && plan.reference_outputs.size() == 1) {
      // The build already ran the reference on exactly this input.
      result = plan.reference_outputs[0];
    } else if (plan.graph && !plan.failed_at_run_time.load(std::memory_order_relaxed)) {
      try {
        // Set per plan, not per request: switching a thread's OpenMP team
        // size back and forth costs milliseconds.
        UseIntraOpThreads(plan.run_threads > 0 ? plan.run_threads : threads_);
        result = plan.graph->Run(stack).at(0);
      } catch (const std::exception& e) {
        // The reference still serves this request (and the signature from
        // now on); the plan's failure is the engine's, not the client's.
        if (!plan.failed_at_run_time.exchange(true) && options_.log) {
          options_.log(absl::StrCat(options_.label, ": the plan for ", signature.ToString(),
                                    " failed at run time; running the TorchScript reference "
                                    "for it from now on: ", LastLine(e.what())));
        }
        {
          absl::MutexLock lock(&stats_mutex_);
          ++engine_stats_.reference_fallbacks;
        }
        stack.erase(stack.begin());
        UseIntraOpThreads(threads_);
        result = module_.forward(std::move(stack));
      }
    } else {
      stack.erase(stack.begin());
      UseIntraOpThreads(threads_);
      result = module_.forward(std::move(stack));
    }
    if (bucket > 0) result = CutBatch(result, bucket, batch);
    return ToOutputs(result);
  }

  // 1 when the plan runs on one thread in under kSingleThreadBelowMs (best
  // of three), else 0. Restores the model's thread count.
  int TinyPlanThreads(const KeyPlan& plan, const std::vector<c10::IValue>& stack) const {
    constexpr double kSingleThreadBelowMs = 0.05;
    // A first run (cold caches, all threads) far above the bar: not tiny,
    // and not worth timing again on one thread.
    if (plan.first_run_ms > 20 * kSingleThreadBelowMs) return 0;
    UseIntraOpThreads(1);
    double best_ms = 1e300;
    try {
      for (int i = 0; i < 3; ++i) {
        const auto start = std::chrono::steady_clock::now();
        plan.graph->Run(stack);
        best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
      }
    } catch (const std::exception&) {
      best_ms = 1e300;  // the run below reports it
    }
    UseIntraOpThreads(threads_);
    return best_ms < kSingleThreadBelowMs ? 1 : 0;
  }

  // Tensors whose leading dim is the bucket lose the padding rows.
  static c10::IValue CutBatch(const c10::IValue& value, int64_t bucket, int64_t batch) {
    if (value.isTensor()) {
      const at::Tensor& t = value.toTensor();
      if (t.dim() > 0 && t.size(0) == bucket) return t.narrow(0, 0, batch).contiguous();
      return value;
    }
    if (value.isTuple()) {
      std::vector<c10::IValue> elements;
      for (const c10::IValue& v : value.toTupleRef().elements()) {
        elements.push_back(CutBatch(v, bucket, batch));
      }
      return c10::ivalue::Tuple::create(std::move(elements));
    }
    if (value.isList()) {
      c10::impl::GenericList list(value.toList().elementType());
      for (const c10::IValue& v : value.toListRef()) list.push_back(CutBatch(v, bucket, batch));
      return list;
    }
    if (value.isGenericDict()) {
      c10::impl::GenericDict dict(value.toGenericDict().keyType(), value.toGenericDict().valueType());
      for (const auto& entry : value.toGenericDict()) {
        dict.insert(entry.key(), CutBatch(entry.value(), bucket, batch));
      }
      return dict;
    }
    return value;
  }

  void RecordBuild(const Signature& signature, const KeyPlan& plan) {
    int left = 0;
    std::string segments;
    if (plan.graph) {
      const auto& report = plan.graph->report();
      left = static_cast<int>(report.left.size());
      segments = absl::StrCat(report.compiled_segments(), " segment(s), ", left,
                              " node(s) left to TorchScript",
                              plan.run_threads == 1 ? ", runs on 1 thread (a few us)" : "");
    }
    {
      absl::MutexLock lock(&stats_mutex_);
      RunStats& s = engine_stats_;
      ++s.plans_built;
      s.plan_build_ns += static_cast<uint64_t>(plan.build_ms * 1e6);
      const size_t attempts = plan.attempts.size();
      if (plan.graph) {
        ++s.accuracy_checks_passed;
        s.accuracy_checks_failed += attempts - 1;
        (plan.precision == "fp32" ? s.fp32_plans : s.bf16_plans) += 1;
        for (const OutputComparison& o : plan.final_check.outputs) {
          const double relative =
              o.reference_max_abs > 0 ? o.max_abs_error / o.reference_max_abs : o.max_abs_error;
          s.worst_max_abs_error = std::max(s.worst_max_abs_error, relative);
          s.worst_cosine = std::min(s.worst_cosine, o.cosine);
        }
      } else {
        ++s.reference_fallbacks;
        for (const std::string& a : plan.attempts) {
          s.accuracy_checks_failed += a.find("accuracy") != std::string::npos;
        }
      }
      s.nodes_left_to_torchscript = left;
      for (const KeyPlan::Check& check : plan.checks) {
        if (check.precision == plan::PlanPrecision::kBf16) {
          ++(check.passed ? s.accuracy_checks_bf16_passed : s.accuracy_checks_bf16_failed);
        } else {
          ++(check.passed ? s.accuracy_checks_fp32_passed : s.accuracy_checks_fp32_failed);
        }
      }
    }
    if (options_.on_plan_built) options_.on_plan_built(plan.build_ms / 1000);
    if (options_.log) {
      options_.log(absl::StrCat(
          options_.label, ": plan for ", signature.ToString(), " built in ",
          absl::SixDigits(plan.build_ms / 1000), " s: ",
          plan.graph ? absl::StrCat(plan.precision, ", ", segments)
                     : "running the TorchScript reference",
          " [", absl::StrJoin(plan.attempts, " | "), "]"));
    }
  }

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
  const ModelOptions options_;
  CompilerOptions compiler_options_;
  const std::shared_ptr<torch::jit::Graph> graph_;
  const std::unique_ptr<PlanCache> cache_;  // null below level 2
  std::atomic<uint64_t> runs_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> run_ns_{0};
  mutable absl::Mutex stats_mutex_;
  RunStats engine_stats_ ABSL_GUARDED_BY(stats_mutex_);
  // Last: destroyed first, so asynchronous builds finish before the members
  // they use go.
  BackgroundJobs background_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Load(
    const std::string& path, const ModelOptions& options) {
  auto loaded = LoadTorchScript(path, options.optimization_level);
  if (!loaded.ok()) return loaded.status();
  auto binding = BindInputs(loaded->arguments, options.input_names);
  if (!binding.ok()) return binding.status();
  for (const passes::PassRecord& record : loaded->passes) {
    loaded->report.passes.push_back(absl::StrCat(record.name, ": ",
                                                 record.changed ? "changed" : "no change", ", ",
                                                 absl::SixDigits(record.milliseconds), " ms"));
  }
  int threads = options.intra_op_threads;
  if (threads <= 0) {
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  loaded->report.threads = absl::StrCat(threads, " intra-op thread(s) per run; ",
                                        RequestInterOpThreads(options.inter_op_threads));
  std::unique_ptr<PlanCache> cache;
  if (options.optimization_level >= 2 && loaded->optimized_graph) {
    PlanCacheOptions cache_options;
    cache_options.capacity = static_cast<size_t>(std::max(1, options.plan_cache_size));
    cache_options.batch_buckets = options.batch_buckets;
    auto created = PlanCache::Create(cache_options);
    if (!created.ok()) return created.status();
    cache = *std::move(created);
  }
  return std::unique_ptr<Model>(new TorchModel(*std::move(loaded), *std::move(binding),
                                               threads, options, std::move(cache)));
}

}  // namespace kiln::engine
