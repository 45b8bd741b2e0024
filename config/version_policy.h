// Which of a model's on-disk versions a ModelVersionPolicy serves.
//
// Triton's semantics: latest { num_versions: N } serves the N highest
// available versions, all {} serves every available version, specific
// { versions: [...] } serves the listed versions that are available. An unset
// policy is latest 1 (Triton's default). Pure functions, thread-safe.
#ifndef KILN_CONFIG_VERSION_POLICY_H_
#define KILN_CONFIG_VERSION_POLICY_H_

#include <cstdint>
#include <vector>

#include "proto/model_config.pb.h"

namespace kiln::config {

// The versions to serve, ascending and without duplicates. `available` may be
// in any order and hold duplicates. latest with num_versions 0 (rejected by
// ValidateModelConfig) is treated as 1 rather than serving nothing.
std::vector<int64_t> SelectVersions(const inference::ModelVersionPolicy& policy,
                                    std::vector<int64_t> available);

// The versions a specific policy names that are not available, ascending and
// without duplicates, so the repository can report them. Empty for latest,
// all and unset policies.
std::vector<int64_t> MissingSpecificVersions(
    const inference::ModelVersionPolicy& policy,
    std::vector<int64_t> available);

}  // namespace kiln::config

#endif  // KILN_CONFIG_VERSION_POLICY_H_
