// Fills the protocol's model-level reply messages from a served model.
#ifndef KILN_SERVER_FRONTEND_MODEL_MESSAGES_H_
#define KILN_SERVER_FRONTEND_MODEL_MESSAGES_H_

#include <memory>
#include <vector>

#include "proto/grpc_service.pb.h"
#include "server/repository/served_model.h"

namespace kiln::server {

// name, the READY versions given, platform and tensors with their full
// shapes (the leading -1 when the model batches).
void FillModelMetadata(
    const ServedModel& model,
    const std::vector<std::shared_ptr<ServedModel>>& ready_versions,
    inference::ModelMetadataResponse* response);

void FillModelStatistics(ServedModel& model,
                         inference::ModelStatistics* statistics);

}  // namespace kiln::server

#endif  // KILN_SERVER_FRONTEND_MODEL_MESSAGES_H_
