// The gRPC floor of this machine: one client, one request at a time, over
// loopback, timing an RPC that does no work (ServerLive) beside ModelInfer
// on a model with zero-filled FP32 inputs. The difference is what the
// server's inference path adds above the transport; the floor itself is
// what any server on this machine pays per request.
//
//   kiln-grpc-floor --url 127.0.0.1:8001 --model mlp --input INPUT__0:1x256
//                   [--requests 3000] [--warmup 300]
//
// Prints one JSON object: {"live_p50_us":..., "infer_p50_us":..., ...}.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "proto/grpc_service.grpc.pb.h"

namespace {

struct Args {
  std::string url = "127.0.0.1:8001";
  std::string model;
  std::string input_name;
  std::vector<int64_t> shape;
  int requests = 3000;
  int warmup = 300;
};

bool Parse(int argc, char** argv, Args* args) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--url") {
      args->url = value;
    } else if (flag == "--model") {
      args->model = value;
    } else if (flag == "--input") {
      const std::vector<std::string> parts = absl::StrSplit(value, ':');
      if (parts.size() != 2) return false;
      args->input_name = parts[0];
      for (absl::string_view dim : absl::StrSplit(parts[1], 'x')) {
        int64_t d = 0;
        if (!absl::SimpleAtoi(dim, &d) || d < 0) return false;
        args->shape.push_back(d);
      }
    } else if (flag == "--requests") {
      if (!absl::SimpleAtoi(value, &args->requests) || args->requests < 1) return false;
    } else if (flag == "--warmup") {
      if (!absl::SimpleAtoi(value, &args->warmup) || args->warmup < 0) return false;
    } else {
      return false;
    }
  }
  return !args->model.empty() && !args->shape.empty();
}

// Median and 90th percentile of `call`'s latency in microseconds, or -1 when
// a call fails.
std::pair<double, double> Time(int warmup, int requests, const std::function<bool()>& call) {
  for (int i = 0; i < warmup; ++i) {
    if (!call()) return {-1, -1};
  }
  std::vector<double> us;
  us.reserve(requests);
  for (int i = 0; i < requests; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (!call()) return {-1, -1};
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 9 / 10]};
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: %s --url HOST:PORT --model NAME --input NAME:1x256 "
                 "[--requests N] [--warmup N]\n",
                 argv[0]);
    return 2;
  }
  auto channel = grpc::CreateChannel(args.url, grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);

  inference::ModelInferRequest infer;
  infer.set_model_name(args.model);
  auto* input = infer.add_inputs();
  input->set_name(args.input_name);
  input->set_datatype("FP32");
  int64_t elements = 1;
  for (int64_t d : args.shape) {
    input->add_shape(d);
    elements *= d;
  }
  infer.add_raw_input_contents(std::string(elements * sizeof(float), '\0'));

  std::string error;
  auto live = Time(args.warmup, args.requests, [&] {
    grpc::ClientContext context;
    inference::ServerLiveRequest request;
    inference::ServerLiveResponse response;
    const grpc::Status status = stub->ServerLive(&context, request, &response);
    if (!status.ok()) error = status.error_message();
    return status.ok();
  });
  auto run = Time(args.warmup, args.requests, [&] {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    const grpc::Status status = stub->ModelInfer(&context, infer, &response);
    if (!status.ok()) error = status.error_message();
    return status.ok();
  });
  if (live.first < 0 || run.first < 0) {
    std::fprintf(stderr, "kiln-grpc-floor: %s\n", error.c_str());
    return 1;
  }
  std::printf(
      "{\"live_p50_us\": %.1f, \"live_p90_us\": %.1f, \"infer_p50_us\": %.1f, "
      "\"infer_p90_us\": %.1f, \"requests\": %d}\n",
      live.first, live.second, run.first, run.second, args.requests);
  return 0;
}
