#include "server/grpc/infer_dispatch.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/codec/infer_request_decoder.h"
#include "server/codec/infer_response_encoder.h"
#include "server/scheduler/rejection.h"

namespace kiln::server {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t NanosSince(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(end - start)
      .count();
}

uint64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The request parameters the scheduler reads ("priority", "timeout" in
// microseconds), as tritonclient sends them: uint64 or int64, not negative.
absl::StatusOr<uint64_t> UnsignedParameter(
    const inference::ModelInferRequest& request, const std::string& name) {
  auto it = request.parameters().find(name);
  if (it == request.parameters().end()) return 0;
  const inference::InferParameter& value = it->second;
  switch (value.parameter_choice_case()) {
    case inference::InferParameter::kUint64Param:
      return value.uint64_param();
    case inference::InferParameter::kInt64Param:
      if (value.int64_param() >= 0) return value.int64_param();
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "model '", request.model_name(), "': request parameter '", name,
      "' must be a non-negative integer"));
}

}  // namespace

void DispatchInfer(const ModelRepository& repository,
                   const inference::ModelInferRequest* request,
                   inference::ModelInferResponse* response,
                   std::function<void(absl::Status)> done) {
  const Clock::time_point arrival = Clock::now();
  auto model = repository.Find(request->model_name(), request->model_version());
  if (!model.ok()) {
    done(model.status());
    return;
  }
  std::shared_ptr<ServedModel> served = *std::move(model);
  const inference::ModelConfig& config = served->config();

  // Failures before the model runs: Triton's OTHER (an invalid request, a
  // model being unloaded), or REJECTED when the scheduler's queue is full.
  auto fail = [served, arrival, &done](absl::Status status) {
    served->stats().RecordFailure(
        IsRejected(status) ? FailureReason::kRejected : FailureReason::kOther,
        NanosSince(arrival, Clock::now()), NowMs());
    done(std::move(status));
  };
  auto selected = SelectOutputs(*request, config);
  if (!selected.ok()) return fail(selected.status());
  // The request outlives the run (the caller keeps it until `done`), so the
  // tensors view its bytes without owning them.
  auto decoded = DecodeInferInputs(*request, config, nullptr);
  if (!decoded.ok()) return fail(decoded.status());
  auto priority = UnsignedParameter(*request, "priority");
  if (!priority.ok()) return fail(priority.status());
  auto timeout_us = UnsignedParameter(*request, "timeout");
  if (!timeout_us.ok()) return fail(timeout_us.status());
  const Clock::time_point decoded_at = Clock::now();
  const uint64_t batch_size =
      config.max_batch_size() > 0 ? decoded->batch_size : 1;

  auto job = std::make_unique<InferenceJob>();
  job->inputs = std::move(decoded->tensors);
  job->batch_size = static_cast<int64_t>(batch_size);
  job->priority = *priority;
  job->timeout_us = *timeout_us;
  job->done = [served, request, response, arrival, decoded_at, batch_size,
       selected = *std::move(selected),
       done](absl::StatusOr<engine::Outputs> outputs,
             const JobTimings& job) mutable {
        const Clock::time_point ran_at = Clock::now();
        const inference::ModelConfig& config = served->config();
        absl::StatusOr<std::vector<engine::Tensor>> matched =
            outputs.ok() ? MatchOutputs(config, *outputs)
                         : absl::StatusOr<std::vector<engine::Tensor>>(
                               absl::Status(outputs.status().code(),
                                            absl::StrCat(
                                                "model '", config.name(),
                                                "': ",
                                                outputs.status().message())));
        if (!matched.ok()) {
          // A queue timeout is the scheduler's rejection; anything else
          // failed in the model (an error it raised, outputs that do not
          // match its config).
          served->stats().RecordFailure(
              !outputs.ok() && IsRejected(outputs.status())
                  ? FailureReason::kRejected
                  : FailureReason::kBackend,
              NanosSince(arrival, Clock::now()), NowMs());
          done(matched.status());
          return;
        }
        response->set_model_name(config.name());
        response->set_model_version(std::to_string(served->version()));
        response->set_id(request->id());
        EncodeInferOutputs(config, selected, *matched, response);
        const Clock::time_point end = Clock::now();
        RequestTimings timings;
        timings.request_ns = NanosSince(arrival, end);
        timings.queue_ns = job.queue_ns;
        timings.compute_input_ns =
            NanosSince(arrival, decoded_at) + job.compute_input_ns;
        timings.compute_infer_ns = job.compute_infer_ns;
        timings.compute_output_ns = NanosSince(ran_at, end);
        served->stats().RecordSuccess(batch_size, timings, NowMs());
        done(absl::OkStatus());
      };
  absl::Status enqueued = served->Enqueue(std::move(job));
  if (!enqueued.ok()) fail(enqueued);
}

}  // namespace kiln::server
