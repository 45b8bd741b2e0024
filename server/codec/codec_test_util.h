// Builders shared by the codec tests.
#ifndef KILN_SERVER_CODEC_CODEC_TEST_UTIL_H_
#define KILN_SERVER_CODEC_CODEC_TEST_UTIL_H_

#include <cstring>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "proto/grpc_service.pb.h"
#include "proto/model_config.pb.h"

namespace kiln::server::testing {

struct TensorSpec {
  std::string name;
  inference::DataType type;
  std::vector<int64_t> dims;
};

inline inference::ModelConfig MakeConfig(const std::string& name, int max_batch_size,
                                         const std::vector<TensorSpec>& inputs,
                                         const std::vector<TensorSpec>& outputs = {}) {
  inference::ModelConfig config;
  config.set_name(name);
  config.set_max_batch_size(max_batch_size);
  for (const TensorSpec& s : inputs) {
    auto* in = config.add_input();
    in->set_name(s.name);
    in->set_data_type(s.type);
    for (int64_t d : s.dims) in->add_dims(d);
  }
  for (const TensorSpec& s : outputs) {
    auto* out = config.add_output();
    out->set_name(s.name);
    out->set_data_type(s.type);
    for (int64_t d : s.dims) out->add_dims(d);
  }
  return config;
}

inline inference::ModelInferRequest::InferInputTensor* AddInput(
    inference::ModelInferRequest* request, const std::string& name,
    const std::string& datatype, const std::vector<int64_t>& shape) {
  auto* in = request->add_inputs();
  in->set_name(name);
  in->set_datatype(datatype);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

// The bytes of `values`, as they travel in raw_input_contents.
template <typename T>
std::string Bytes(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
  return s;
}

inline std::string Bytes(const engine::Tensor& t) {
  return std::string(static_cast<const char*>(t.data), t.byte_size);
}

template <typename T>
engine::Tensor MakeTensor(engine::DType dtype, std::vector<int64_t> shape,
                          const std::vector<T>& values) {
  engine::Tensor t = engine::Tensor::Allocate(dtype, std::move(shape));
  if (!values.empty()) std::memcpy(t.data, values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace kiln::server::testing

#endif  // KILN_SERVER_CODEC_CODEC_TEST_UTIL_H_
