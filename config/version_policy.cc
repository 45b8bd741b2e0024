#include "config/version_policy.h"

#include <algorithm>
#include <iterator>

namespace kiln::config {
namespace {

void SortUnique(std::vector<int64_t>* versions) {
  std::sort(versions->begin(), versions->end());
  versions->erase(std::unique(versions->begin(), versions->end()),
                  versions->end());
}

std::vector<int64_t> SpecificVersions(
    const inference::ModelVersionPolicy& policy) {
  std::vector<int64_t> wanted(policy.specific().versions().begin(),
                              policy.specific().versions().end());
  SortUnique(&wanted);
  return wanted;
}

}  // namespace

std::vector<int64_t> SelectVersions(const inference::ModelVersionPolicy& policy,
                                    std::vector<int64_t> available) {
  SortUnique(&available);
  switch (policy.policy_choice_case()) {
    case inference::ModelVersionPolicy::kAll:
      return available;
    case inference::ModelVersionPolicy::kSpecific: {
      const std::vector<int64_t> wanted = SpecificVersions(policy);
      std::vector<int64_t> selected;
      std::set_intersection(available.begin(), available.end(), wanted.begin(),
                            wanted.end(), std::back_inserter(selected));
      return selected;
    }
    case inference::ModelVersionPolicy::kLatest:
    case inference::ModelVersionPolicy::POLICY_CHOICE_NOT_SET:
      break;
  }
  const size_t n = std::max<size_t>(
      1, policy.has_latest() ? policy.latest().num_versions() : 1);
  if (available.size() > n) {
    available.erase(available.begin(), available.end() - n);
  }
  return available;
}

std::vector<int64_t> MissingSpecificVersions(
    const inference::ModelVersionPolicy& policy,
    std::vector<int64_t> available) {
  if (!policy.has_specific()) return {};
  SortUnique(&available);
  const std::vector<int64_t> wanted = SpecificVersions(policy);
  std::vector<int64_t> missing;
  std::set_difference(wanted.begin(), wanted.end(), available.begin(),
                      available.end(), std::back_inserter(missing));
  return missing;
}

}  // namespace kiln::config
