#include "config/version_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SelectVersionsTest, UnsetPolicyIsLatestOne) {
  EXPECT_THAT(SelectVersions({}, {3, 1, 2}), ElementsAre(3));
  EXPECT_THAT(SelectVersions({}, {}), IsEmpty());
}

TEST(SelectVersionsTest, LatestTakesTheHighest) {
  inference::ModelVersionPolicy policy;
  policy.mutable_latest()->set_num_versions(2);
  EXPECT_THAT(SelectVersions(policy, {1, 10, 2, 7}), ElementsAre(7, 10));
  EXPECT_THAT(SelectVersions(policy, {5}), ElementsAre(5));
  EXPECT_THAT(SelectVersions(policy, {4, 4, 3}), ElementsAre(3, 4));
  policy.mutable_latest()->set_num_versions(0);  // treated as 1
  EXPECT_THAT(SelectVersions(policy, {1, 2}), ElementsAre(2));
}

TEST(SelectVersionsTest, AllTakesEverything) {
  inference::ModelVersionPolicy policy;
  policy.mutable_all();
  EXPECT_THAT(SelectVersions(policy, {3, 1, 2, 1}), ElementsAre(1, 2, 3));
}

TEST(SelectVersionsTest, SpecificTakesTheListedThatExist) {
  inference::ModelVersionPolicy policy;
  policy.mutable_specific()->add_versions(4);
  policy.mutable_specific()->add_versions(1);
  policy.mutable_specific()->add_versions(9);
  EXPECT_THAT(SelectVersions(policy, {1, 2, 3, 4}), ElementsAre(1, 4));
  EXPECT_THAT(SelectVersions(policy, {2, 3}), IsEmpty());
}

TEST(MissingSpecificVersionsTest, ReportsListedButAbsent) {
  inference::ModelVersionPolicy policy;
  policy.mutable_specific()->add_versions(9);
  policy.mutable_specific()->add_versions(1);
  policy.mutable_specific()->add_versions(5);
  policy.mutable_specific()->add_versions(9);
  EXPECT_THAT(MissingSpecificVersions(policy, {1, 2}), ElementsAre(5, 9));
  EXPECT_THAT(MissingSpecificVersions(policy, {1, 5, 9}), IsEmpty());
}

TEST(MissingSpecificVersionsTest, EmptyForOtherPolicies) {
  inference::ModelVersionPolicy policy;
  EXPECT_THAT(MissingSpecificVersions(policy, {}), IsEmpty());
  policy.mutable_latest()->set_num_versions(3);
  EXPECT_THAT(MissingSpecificVersions(policy, {1}), IsEmpty());
  policy.mutable_all();
  EXPECT_THAT(MissingSpecificVersions(policy, {}), IsEmpty());
}

}  // namespace
}  // namespace kiln::config
