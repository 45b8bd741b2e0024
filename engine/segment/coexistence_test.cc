// Two oneDNNs in one process: the wheel's LibTorch carries oneDNN 3.x built
// into libtorch_cpu (its TorchScript convolutions run on it), Kiln's plans
// run on Debian's oneDNN 2.6 (libdnnl.so.2), and both must share one OpenMP
// runtime. A TorchScript reference and a Kiln plan of the same convolutions
// run side by side on two threads, each checked against a float64 result
// computed without oneDNN.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "engine/segment/compiled_graph.h"
#include "engine/segment/test_modules.h"

namespace kiln::engine::segment {
namespace {

constexpr char kSource[] =
    "def forward(self, x):\n"
    "  y = torch.relu(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1], [1, 1], 1))\n"
    "  return torch.conv2d(y, self.w2, None, [2, 2], [0, 0], [1, 1], 1)\n";

std::set<std::string> MappedLibraries() {
  std::set<std::string> libraries;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos || line.find(".so", slash) == std::string::npos) continue;
    std::error_code ec;
    const auto path = std::filesystem::canonical(line.substr(slash), ec);
    if (!ec) libraries.insert(path.string());
  }
  return libraries;
}

std::vector<std::string> Named(const std::set<std::string>& libraries, const std::string& prefix) {
  std::vector<std::string> found;
  for (const std::string& path : libraries) {
    if (std::filesystem::path(path).filename().string().rfind(prefix, 0) == 0) {
      found.push_back(path);
    }
  }
  return found;
}

TEST(OneDnnCoexistence, TorchScriptAndKilnPlanSideBySideAreBothRight) {
  ASSERT_TRUE(at::hasMKLDNN()) << "the torch wheel is built with oneDNN";
  c10::InferenceMode guard;
  torch::manual_seed(7);
  std::map<std::string, at::Tensor> parameters = {
      {"w1", torch::randn({32, 16, 3, 3}) * 0.1}, {"b1", torch::randn({32})},
      {"w2", torch::randn({24, 32, 3, 3}) * 0.1}};
  FrozenModel model = MakeFrozenModel(kSource, parameters);
  const at::Tensor x = torch::randn({1, 16, 28, 28});

  // float64 through ATen's own convolution (oneDNN has no f64 path).
  const auto d = [](const at::Tensor& t) { return t.to(at::kDouble); };
  const std::vector<int64_t> one = {1, 1}, two = {2, 2}, zero = {0, 0};
  const at::Tensor hidden =
      at::relu(at::conv2d(d(x), d(parameters["w1"]), d(parameters["b1"]), one, one, one, 1));
  const at::Tensor exact = at::conv2d(hidden, d(parameters["w2"]), at::Tensor(), two, zero, one, 1);

  CompileOptions options;
  options.precision = plan::PlanPrecision::kFp32;
  options.segment_everything = true;
  std::vector<c10::IValue> build_reference;
  auto compiled = CompiledGraph::Build(model.graph, model.Stack({x}), options, &build_reference);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_EQ((*compiled)->report().compiled_segments(), 1);
  ASSERT_TRUE((*compiled)->report().left.empty());

  const int main_threads = at::get_num_threads();
  constexpr int kRuns = 30;
  std::atomic<int> torchscript_ok{0}, plan_ok{0};
  std::atomic<double> worst_torchscript{0}, worst_plan{0};
  int torchscript_threads = -1, plan_threads = -1;
  const auto close = [&](const at::Tensor& got, std::atomic<double>* worst) {
    const double error = (got.to(at::kDouble) - exact).abs().max().item<double>();
    if (error > worst->load()) worst->store(error);
    return got.sizes() == exact.sizes() && error <= 1e-4 * exact.abs().max().item<double>();
  };
  std::thread torchscript([&] {
    c10::InferenceMode thread_guard;
    at::set_num_threads(1);
    for (int i = 0; i < kRuns; ++i) {
      at::Tensor got = model.module.forward({x}).toTensor();
      torchscript_ok += close(got, &worst_torchscript);
    }
    torchscript_threads = at::get_num_threads();
  });
  std::thread kiln([&] {
    c10::InferenceMode thread_guard;
    at::set_num_threads(1);
    for (int i = 0; i < kRuns; ++i) {
      at::Tensor got = (*compiled)->Run(model.Stack({x})).at(0).toTensor();
      plan_ok += close(got, &worst_plan);
    }
    plan_threads = at::get_num_threads();
  });
  torchscript.join();
  kiln.join();
  EXPECT_EQ(torchscript_ok.load(), kRuns) << "worst error " << worst_torchscript.load();
  EXPECT_EQ(plan_ok.load(), kRuns) << "worst error " << worst_plan.load();
  // Thread counts are per thread and stay where each thread set them.
  EXPECT_EQ(torchscript_threads, 1);
  EXPECT_EQ(plan_threads, 1);
  EXPECT_EQ(at::get_num_threads(), main_threads);

  // Both oneDNNs and exactly one OpenMP runtime are mapped.
  const std::set<std::string> libraries = MappedLibraries();
  std::string all;
  for (const std::string& path : libraries) all += path + "\n";
  EXPECT_EQ(Named(libraries, "libdnnl.so").size(), 1u) << all;
  const auto torch_cpu = Named(libraries, "libtorch_cpu.so");
  ASSERT_EQ(torch_cpu.size(), 1u) << all;
  EXPECT_NE(torch_cpu[0].find("site-packages/torch/lib"), std::string::npos) << torch_cpu[0];
  EXPECT_EQ(Named(libraries, "libgomp").size(), 1u) << all;
  EXPECT_TRUE(Named(libraries, "libiomp").empty()) << all;
}

}  // namespace
}  // namespace kiln::engine::segment
