#include "server/frontend/model_messages.h"

#include <string>

#include "config/model_config_loader.h"
#include "server/codec/datatype.h"

namespace kiln::server {
namespace {

template <typename ConfigTensor>
void FillTensor(const inference::ModelConfig& config,
                const ConfigTensor& tensor,
                inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(tensor.name());
  out->set_datatype(std::string(WireDatatype(tensor.data_type())));
  for (int64_t d : config::FullShape(config, tensor.dims())) out->add_shape(d);
}

void FillDuration(const DurationStat& from,
                  inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

}  // namespace

void FillModelMetadata(
    const ServedModel& model,
    const std::vector<std::shared_ptr<ServedModel>>& ready_versions,
    inference::ModelMetadataResponse* response) {
  const inference::ModelConfig& config = model.config();
  response->set_name(config.name());
  for (const auto& version : ready_versions) {
    response->add_versions(std::to_string(version->version()));
  }
  response->set_platform("pytorch_libtorch");
  for (const auto& input : config.input()) {
    FillTensor(config, input, response->add_inputs());
  }
  for (const auto& output : config.output()) {
    FillTensor(config, output, response->add_outputs());
  }
}

void FillModelStatistics(ServedModel& model,
                         inference::ModelStatistics* statistics) {
  const ModelStatsSnapshot stats = model.stats().Snapshot();
  statistics->set_name(model.name());
  statistics->set_version(std::to_string(model.version()));
  statistics->set_last_inference(stats.last_inference_ms);
  statistics->set_inference_count(stats.inference_count);
  statistics->set_execution_count(stats.execution_count);
  inference::InferStatistics* infer = statistics->mutable_inference_stats();
  FillDuration(stats.success, infer->mutable_success());
  FillDuration(stats.fail, infer->mutable_fail());
  FillDuration(stats.queue, infer->mutable_queue());
  FillDuration(stats.compute_input, infer->mutable_compute_input());
  FillDuration(stats.compute_infer, infer->mutable_compute_infer());
  FillDuration(stats.compute_output, infer->mutable_compute_output());
  infer->mutable_cache_hit();
  infer->mutable_cache_miss();
  for (const auto& [batch_size, batch] : stats.batch_stats) {
    inference::InferBatchStatistics* out = statistics->add_batch_stats();
    out->set_batch_size(batch_size);
    FillDuration(batch.compute_input, out->mutable_compute_input());
    FillDuration(batch.compute_infer, out->mutable_compute_infer());
    FillDuration(batch.compute_output, out->mutable_compute_output());
  }
}

}  // namespace kiln::server
