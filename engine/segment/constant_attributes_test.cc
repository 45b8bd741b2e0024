// IR tests of ConstantAttributeReads on unfrozen modules defined from source.
#include "engine/segment/constant_attributes.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>

#include <set>
#include <string>

namespace kiln::engine::segment {
namespace {

// The attribute names (last link of each chain) read as constants.
std::set<std::string> ConstantNames(const torch::jit::Module& m) {
  std::shared_ptr<torch::jit::Graph> graph = m.get_method("forward").graph();
  std::set<std::string> names;
  for (const torch::jit::Value* v : ConstantAttributeReads(*graph)) {
    names.insert(v->node()->s(c10::attr::name));
  }
  return names;
}

TEST(ConstantAttributeReads, WeightsAreConstantWhileACounterIsAssigned) {
  torch::jit::Module m("m");
  m.register_attribute("w", c10::TensorType::get(), at::ones({2, 2}));
  m.register_attribute("calls", c10::IntType::get(), 0);
  m.define(R"(
def forward(self, x):
    self.calls = self.calls + 1
    return torch.matmul(x, self.w)
)");
  EXPECT_EQ(ConstantNames(m), (std::set<std::string>{"w"}));
}

TEST(ConstantAttributeReads, AnAssignedTensorIsNotConstant) {
  torch::jit::Module m("m");
  m.register_attribute("w", c10::TensorType::get(), at::ones({2, 2}));
  m.register_attribute("state", c10::TensorType::get(), at::zeros({2, 2}));
  m.define(R"(
def forward(self, x):
    y = torch.matmul(x, self.w) + self.state
    self.state = y
    return y
)");
  EXPECT_EQ(ConstantNames(m), (std::set<std::string>{"w"}));
}

TEST(ConstantAttributeReads, AttributesOfAnOpaqueCallsReceiverAreNot) {
  // Not inlined here, so `self.sub.forward` stays a prim::CallMethod: the
  // method may assign sub's attributes, so sub.k is not constant; self.w is.
  torch::jit::Module sub("sub");
  sub.register_attribute("k", c10::TensorType::get(), at::ones({2}));
  sub.define(R"(
def forward(self, x):
    return x * 2.0
)");
  torch::jit::Module m("m");
  m.register_module("sub", sub);
  m.register_attribute("w", c10::TensorType::get(), at::ones({2, 2}));
  m.define(R"(
def forward(self, x):
    y = self.sub.forward(torch.matmul(x, self.w))
    return y + self.sub.k
)");
  const std::set<std::string> names = ConstantNames(m);
  EXPECT_TRUE(names.count("w"));
  EXPECT_FALSE(names.count("k"));
  EXPECT_FALSE(names.count("sub"));
}

TEST(ConstantAttributeReads, ReassigningASubmoduleUnpinsEverythingBelowIt) {
  torch::jit::Module a("a");
  a.register_attribute("k", c10::TensorType::get(), at::ones({2}));
  a.define("def forward(self, x):\n    return x\n");
  torch::jit::Module m("m");
  m.register_module("block", a);
  m.register_module("spare", a.deepcopy());
  m.define(R"(
def forward(self, x):
    y = x + self.block.k
    self.block = self.spare
    return y
)");
  const std::set<std::string> names = ConstantNames(m);
  EXPECT_FALSE(names.count("block"));
  EXPECT_FALSE(names.count("k"));
  EXPECT_TRUE(names.count("spare"));
}

}  // namespace
}  // namespace kiln::engine::segment
