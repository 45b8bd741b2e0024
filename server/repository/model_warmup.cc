#include "server/repository/model_warmup.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/codec/datatype.h"
#include "server/codec/shape.h"
#include "server/log.h"

namespace kiln::server {
namespace {

namespace fs = std::filesystem;
using engine::DType;
using engine::Tensor;

// Fixed so that two loads of the same model warm up on the same values.
constexpr uint64_t kRandomSeed = 0x6b696c6e'77726d75;  // "kilnwrmu"

std::string DimsToString(const google::protobuf::RepeatedField<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// Half-precision bits of k / 1024 for k in [0, 1024): exact, so no rounding
// code is needed. The value is 1.m x 2^(e-10) with e = floor(log2 k), a normal
// half (biased exponent e + 5 >= 5).
uint16_t HalfBitsOfGridValue(uint32_t k) {
  if (k == 0) return 0;
  int e = 0;
  while ((k >> (e + 1)) != 0) ++e;
  const uint32_t mantissa = (k - (1u << e)) << (10 - e);
  return static_cast<uint16_t>(((e + 5) << 10) | mantissa);
}

// bfloat16 bits of k / 256 for k in [0, 256): the value has at most 8
// significant bits, so the upper half of the float's bits is exact.
uint16_t BFloat16BitsOfGridValue(uint32_t k) {
  const float value = static_cast<float>(k) / 256.0f;
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return static_cast<uint16_t>(bits >> 16);
}

// Fills `t` from `rng`. The values come straight from mt19937_64's bits (whose
// sequence the standard fixes) rather than from <random>'s distributions
// (whose algorithms it does not), so they are the same on every platform.
void FillRandom(std::mt19937_64& rng, Tensor& t) {
  const int64_t n = t.num_elements();
  auto fill = [&](auto* p, auto make) {
    for (int64_t i = 0; i < n; ++i) p[i] = make(rng());
  };
  switch (t.dtype) {
    case DType::kFloat32:
      fill(static_cast<float*>(t.data), [](uint64_t r) {
        return static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
      });
      break;
    case DType::kFloat64:
      fill(static_cast<double*>(t.data), [](uint64_t r) {
        return static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0);
      });
      break;
    case DType::kFloat16:
      fill(static_cast<uint16_t*>(t.data), [](uint64_t r) {
        return HalfBitsOfGridValue(static_cast<uint32_t>(r >> 54));
      });
      break;
    case DType::kBFloat16:
      fill(static_cast<uint16_t*>(t.data), [](uint64_t r) {
        return BFloat16BitsOfGridValue(static_cast<uint32_t>(r >> 56));
      });
      break;
    // 0 or 1 for every integer type: any wider range risks indexing past a
    // small embedding table (BERT's token_type_ids has 2 rows) and failing
    // the warmup of a model that serves fine.
    case DType::kBool:
    case DType::kUInt8:
    case DType::kInt8:
      fill(static_cast<uint8_t*>(t.data),
           [](uint64_t r) { return static_cast<uint8_t>(r >> 63); });
      break;
    case DType::kInt16:
      fill(static_cast<int16_t*>(t.data),
           [](uint64_t r) { return static_cast<int16_t>(r >> 63); });
      break;
    case DType::kInt32:
      fill(static_cast<int32_t*>(t.data),
           [](uint64_t r) { return static_cast<int32_t>(r >> 63); });
      break;
    case DType::kInt64:
      fill(static_cast<int64_t*>(t.data),
           [](uint64_t r) { return static_cast<int64_t>(r >> 63); });
      break;
  }
}

// True when `path` (already lexically normal and relative) climbs out of the
// directory it is relative to.
bool ClimbsOut(const fs::path& relative) {
  return relative.empty() || *relative.begin() == "..";
}

class SampleBuilder {
 public:
  SampleBuilder(const inference::ModelConfig& config, std::string model_name,
                const std::string& model_dir)
      : config_(config),
        model_name_(std::move(model_name)),
        warmup_dir_(fs::path(model_dir) / kWarmupDataFolder) {}

  absl::StatusOr<std::optional<WarmupSample>> Build(
      const inference::ModelWarmup& warmup) {
    entry_ = &warmup;
    const std::string prefix = EntryPrefix();
    const int32_t max_batch = config_.max_batch_size();

    // Triton skips such a sample with a verbose log line; the config loader
    // already warns about it, since it is usually a forgotten batch_size.
    if (warmup.batch_size() == 0) {
      LogVerbose(absl::StrCat(prefix, "batch_size 0: sample skipped"));
      return std::nullopt;
    }
    if (max_batch == 0 && warmup.batch_size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "batch_size must be 1 for a model with max_batch_size 0, got ",
          warmup.batch_size()));
    }
    if (max_batch > 0 && warmup.batch_size() > static_cast<uint32_t>(max_batch)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "batch_size ", warmup.batch_size(),
                       " exceeds max_batch_size ", max_batch));
    }
    if (warmup.count() > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "count ", warmup.count(), " is too large"));
    }
    // Sorted, so the error names the same input whatever the map's order.
    std::vector<std::string> unknown;
    for (const auto& entry : warmup.inputs()) {
      if (!HasConfigInput(entry.first)) unknown.push_back(entry.first);
    }
    if (!unknown.empty()) {
      std::sort(unknown.begin(), unknown.end());
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "input '", unknown.front(),
                       "' is not an input of the model"));
    }

    WarmupSample sample;
    sample.name = warmup.name();
    sample.batch_size = max_batch > 0 ? warmup.batch_size() : 1;
    sample.count = warmup.count() == 0 ? 1 : static_cast<int>(warmup.count());
    std::mt19937_64 rng(kRandomSeed);
    for (const inference::ModelInput& config_input : config_.input()) {
      auto it = warmup.inputs().find(config_input.name());
      if (it == warmup.inputs().end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            prefix, "input '", config_input.name(),
            "' of the model has no warmup data"));
      }
      absl::StatusOr<Tensor> tensor =
          MakeInput(config_input, it->second, sample.batch_size, rng);
      if (!tensor.ok()) return tensor.status();
      sample.inputs.push_back(*std::move(tensor));
    }
    return sample;
  }

 private:
  std::string EntryPrefix() const {
    return absl::StrCat("model '", model_name_, "' warmup '", entry_->name(),
                        "': ");
  }
  std::string InputPrefix(const std::string& input) const {
    return absl::StrCat("model '", model_name_, "' warmup '", entry_->name(),
                        "' input '", input, "': ");
  }

  bool HasConfigInput(const std::string& name) const {
    for (const inference::ModelInput& input : config_.input()) {
      if (input.name() == name) return true;
    }
    return false;
  }

  absl::StatusOr<Tensor> MakeInput(const inference::ModelInput& config_input,
                                   const inference::ModelWarmup::Input& input,
                                   int64_t batch_size, std::mt19937_64& rng) {
    const std::string prefix = InputPrefix(config_input.name());
    if (input.data_type() != config_input.data_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "expected data_type ", std::string(WireDatatype(config_input.data_type())),
          ", got ", std::string(WireDatatype(input.data_type()))));
    }
    absl::StatusOr<DType> dtype = ToEngineDType(input.data_type());
    if (!dtype.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, dtype.status().message()));
    }
    const std::vector<int64_t> dims(input.dims().begin(), input.dims().end());
    for (int64_t d : dims) {
      if (d <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(prefix, "warmup dims must all be > 0, got ",
                         DimsToString(input.dims())));
      }
    }
    const std::vector<int64_t> config_dims(config_input.dims().begin(),
                                           config_input.dims().end());
    if (!ShapeMatches(config_dims, dims)) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "expected dims ", DimsToString(config_input.dims()),
          " (without the batch dim), got ", DimsToString(input.dims())));
    }

    std::vector<int64_t> shape;
    if (config_.max_batch_size() > 0) shape.push_back(batch_size);
    shape.insert(shape.end(), dims.begin(), dims.end());
    const size_t element_size = engine::ElementSize(*dtype);
    const std::optional<int64_t> item_bytes =
        CheckedByteSize(dims, element_size);
    const std::optional<int64_t> total_bytes =
        CheckedByteSize(shape, element_size);
    if (!item_bytes || !total_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "shape ", engine::ShapeToString(shape), " is too large"));
    }

    // Read the file before allocating, so a bad file costs no memory.
    std::string file_bytes;
    if (input.input_data_type_case() ==
        inference::ModelWarmup::Input::kInputDataFile) {
      absl::StatusOr<std::string> read =
          ReadDataFile(prefix, input.input_data_file(), *item_bytes);
      if (!read.ok()) return read.status();
      file_bytes = *std::move(read);
    } else if (input.input_data_type_case() ==
               inference::ModelWarmup::Input::INPUT_DATA_TYPE_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "set one of zero_data, random_data or input_data_file"));
    }

    Tensor tensor;
    try {
      tensor = Tensor::Allocate(*dtype, shape);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(
          absl::StrCat(prefix, "cannot allocate ", *total_bytes,
                       " bytes for shape ", engine::ShapeToString(shape)));
    }
    switch (input.input_data_type_case()) {
      case inference::ModelWarmup::Input::kZeroData:
        break;  // Allocate zeroes the buffer.
      case inference::ModelWarmup::Input::kRandomData:
        FillRandom(rng, tensor);
        break;
      case inference::ModelWarmup::Input::kInputDataFile: {
        // One item in the file; Triton sends batch_size requests that all
        // point at it, which the backend concatenates into this batch.
        char* out = static_cast<char*>(tensor.data);
        const int64_t items = *item_bytes == 0 ? 0 : *total_bytes / *item_bytes;
        for (int64_t i = 0; i < items; ++i) {
          std::memcpy(out + i * *item_bytes, file_bytes.data(), *item_bytes);
        }
        break;
      }
      case inference::ModelWarmup::Input::INPUT_DATA_TYPE_NOT_SET:
        break;  // Rejected above.
    }
    return tensor;
  }

  // The leading `item_bytes` bytes of <warmup_dir>/<relative>.
  absl::StatusOr<std::string> ReadDataFile(const std::string& prefix,
                                           const std::string& relative,
                                           int64_t item_bytes) {
    const fs::path rel(relative);
    const fs::path normal = rel.lexically_normal();
    auto escapes = [&] {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "input_data_file '", relative,
          "' must name a file inside the model's warmup folder ",
          warmup_dir_.string()));
    };
    if (relative.empty() || rel.has_root_path() || ClimbsOut(normal) ||
        normal == ".") {
      return escapes();
    }
    const fs::path path = warmup_dir_ / normal;
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      return absl::NotFoundError(absl::StrCat(
          prefix, "input_data_file '", relative, "' not found: ", path.string()));
    }
    // A symlink may still lead out of the folder; compare resolved paths.
    const fs::path real_dir = fs::canonical(warmup_dir_, ec);
    const fs::path real_path = ec ? fs::path() : fs::canonical(path, ec);
    if (ec || ClimbsOut(real_path.lexically_relative(real_dir))) {
      return escapes();
    }
    if (!fs::is_regular_file(real_path, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "input_data_file '", relative,
                       "' is not a regular file: ", path.string()));
    }
    const uintmax_t size = fs::file_size(real_path, ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "cannot read input_data_file ", path.string(), ": ",
          ec.message()));
    }
    if (size < static_cast<uintmax_t>(item_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "input_data_file ", path.string(), " has ", size,
          " bytes, expected ", item_bytes,
          " (one batch item: dims x element size)"));
    }
    if (size > static_cast<uintmax_t>(item_bytes)) {
      LogWarning(absl::StrCat(prefix, "input_data_file ", path.string(),
                              " has ", size, " bytes, more than the ",
                              item_bytes,
                              " of one batch item; only the first ",
                              item_bytes, " are used"));
    }
    std::string bytes(static_cast<size_t>(item_bytes), '\0');
    std::ifstream file(real_path, std::ios::binary);
    if (!file.read(bytes.data(), static_cast<std::streamsize>(item_bytes))) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "cannot read ", item_bytes, " bytes from input_data_file ",
          path.string()));
    }
    return bytes;
  }

  const inference::ModelConfig& config_;
  const std::string model_name_;
  const fs::path warmup_dir_;
  const inference::ModelWarmup* entry_ = nullptr;
};

}  // namespace

absl::StatusOr<std::vector<WarmupSample>> MakeWarmupSamples(
    const inference::ModelConfig& config, const std::string& model_dir) {
  std::string model_name = config.name();
  if (model_name.empty()) {
    model_name = fs::path(model_dir).lexically_normal().filename().string();
    if (model_name.empty()) {
      model_name =
          fs::path(model_dir).lexically_normal().parent_path().filename().string();
    }
  }
  SampleBuilder builder(config, std::move(model_name), model_dir);
  std::vector<WarmupSample> samples;
  for (const inference::ModelWarmup& warmup : config.model_warmup()) {
    absl::StatusOr<std::optional<WarmupSample>> sample = builder.Build(warmup);
    if (!sample.ok()) return sample.status();
    if (sample->has_value()) samples.push_back(**std::move(sample));
  }
  return samples;
}

}  // namespace kiln::server
