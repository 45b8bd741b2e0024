// Turns a model's `model_warmup` entries (config.pbtxt) into engine tensors
// ready to run, following Triton's semantics so a repository that warms up in
// Triton warms up in Kiln. Running the samples (and holding the model out of
// READY until they finish) is the caller's job.
//
// Thread safety: MakeWarmupSamples is a pure function of its arguments and
// the files under <model_dir>/warmup; it may be called concurrently.
#ifndef KILN_SERVER_REPOSITORY_MODEL_WARMUP_H_
#define KILN_SERVER_REPOSITORY_MODEL_WARMUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor.h"
#include "proto/model_config.pb.h"

namespace kiln::server {

// The sub-directory of a model directory that holds warmup data files
// (Triton's kWarmupDataFolder).
inline constexpr char kWarmupDataFolder[] = "warmup";

struct WarmupSample {
  std::string name;    // the warmup entry's name
  int64_t batch_size;  // items per request (1 when the model has max_batch_size 0)
  int count;           // how many times to run it (Triton: count 0 means 1)
  // One tensor per config input, in the config's input order. Shape is
  // [batch_size] + dims when max_batch_size > 0, else dims. Each tensor owns
  // its own buffer.
  std::vector<engine::Tensor> inputs;
};

// Builds one WarmupSample per `config.model_warmup` entry, in config order.
// `model_dir` is the model's directory (<repo>/<model>), which holds the
// `warmup` folder.
//
// Per entry:
//  - batch_size 0 (also what an omitted batch_size reads as): the entry is
//    skipped, as Triton skips it (the config loader warns about it). With max_batch_size 0
//    batch_size must be 1; with max_batch_size > 0 it must be
//    <= max_batch_size.
//  - count 0 means 1.
//  - `inputs` names every config input and nothing else (Kiln has no control
//    inputs); each has the config input's data_type and concrete dims (each
//    > 0, without the batch dim) that the config's dims accept.
//  - zero_data: zeros. random_data: values from a fixed-seed generator, so a
//    warmup is reproducible: floating types uniform in [0,1), integer types
//    and bool 0 or 1 (valid as masks, token types and embedding indices).
//  - input_data_file: the raw, row-major bytes of ONE batch item, read from
//    <model_dir>/warmup/<input_data_file> and copied into each of the
//    batch_size items. The path must stay inside the warmup folder (checked
//    lexically and after resolving symlinks). A file shorter than
//    product(dims) x element size is an error; a longer one is accepted and
//    only its leading bytes are used (as Triton does), with a logged warning.
//
// Errors name the model, the warmup entry and the input:
//   InvalidArgument  a rule above is broken (unknown or missing input, data
//                    type or dims that do not fit the config, no data choice
//                    set, a file path that escapes the warmup folder or is not
//                    a regular file, a file too short: expected and actual
//                    bytes are given);
//   NotFound         an input_data_file does not exist;
//   ResourceExhausted a tensor's buffer cannot be allocated.
absl::StatusOr<std::vector<WarmupSample>> MakeWarmupSamples(
    const inference::ModelConfig& config, const std::string& model_dir);

}  // namespace kiln::server

#endif  // KILN_SERVER_REPOSITORY_MODEL_WARMUP_H_
