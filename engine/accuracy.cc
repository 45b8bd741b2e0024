#include "engine/accuracy.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::engine {
namespace {

bool IsFloat(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat32 || dtype == DType::kFloat64;
}

float Bf16ToFloat(uint16_t bits) {
  // bf16 is the upper half of an fp32.
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

float F16ToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in fp32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  uint32_t widened;
  if (exponent == 0x1F) {
    widened = sign | 0x7F800000u | (mantissa << 13);  // Inf or NaN
  } else {
    widened = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

// Element `index` of a float tensor, widened to double. The caller has
// checked dtype and byte size.
double LoadFloat(const Tensor& tensor, int64_t index) {
  const auto* bytes = static_cast<const unsigned char*>(tensor.data);
  switch (tensor.dtype) {
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, bytes + index * sizeof(float), sizeof(v));
      return v;
    }
    case DType::kFloat64: {
      double v;
      std::memcpy(&v, bytes + index * sizeof(double), sizeof(v));
      return v;
    }
    case DType::kBFloat16:
    case DType::kFloat16: {
      uint16_t v;
      std::memcpy(&v, bytes + index * sizeof(uint16_t), sizeof(v));
      return tensor.dtype == DType::kBFloat16 ? Bf16ToFloat(v) : F16ToFloat(v);
    }
    default:
      return 0;
  }
}

// Element `index` of an integer or bool tensor. Exact for every integer
// dtype (int64 included), which the exact comparison relies on.
int64_t LoadInteger(const Tensor& tensor, int64_t index) {
  const auto* bytes = static_cast<const unsigned char*>(tensor.data);
  switch (tensor.dtype) {
    case DType::kBool:
      return bytes[index] != 0 ? 1 : 0;
    case DType::kUInt8:
      return bytes[index];
    case DType::kInt8:
      return static_cast<int8_t>(bytes[index]);
    case DType::kInt16: {
      int16_t v;
      std::memcpy(&v, bytes + index * sizeof(v), sizeof(v));
      return v;
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, bytes + index * sizeof(v), sizeof(v));
      return v;
    }
    case DType::kInt64: {
      int64_t v;
      std::memcpy(&v, bytes + index * sizeof(v), sizeof(v));
      return v;
    }
    default:
      return 0;
  }
}

// Why `tensor` cannot be read as its dtype and shape says, or "" when it can.
std::string MalformedReason(const Tensor& tensor, const char* which) {
  const int64_t elements = tensor.num_elements();
  if (elements < 0) {
    return absl::StrCat(which, " has a negative dimension ",
                        ShapeToString(tensor.shape));
  }
  const size_t expected = static_cast<size_t>(elements) * ElementSize(tensor.dtype);
  if (tensor.byte_size != expected || (expected > 0 && tensor.data == nullptr)) {
    return absl::StrCat(which, " holds ", tensor.byte_size, " bytes",
                        tensor.data == nullptr ? " (no data)" : "",
                        ", expected ", expected, " for ",
                        std::string(DTypeName(tensor.dtype)),
                        ShapeToString(tensor.shape));
  }
  return "";
}

double Cosine(double dot, double ref_norm_sq, double plan_norm_sq) {
  if (ref_norm_sq == 0 && plan_norm_sq == 0) return 1;
  if (ref_norm_sq == 0 || plan_norm_sq == 0) return 0;
  // Square roots taken separately so float64 outputs cannot overflow.
  const double cosine = dot / (std::sqrt(ref_norm_sq) * std::sqrt(plan_norm_sq));
  return std::clamp(cosine, -1.0, 1.0);
}

void CompareFloat(const Tensor& ref, const Tensor& plan,
                  const Tolerance& tolerance, OutputComparison* out,
                  std::vector<std::string>* failures) {
  const int64_t n = out->elements;
  // atol scales with the output's magnitude, so it needs max|ref| first.
  double ref_max_abs = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double r = LoadFloat(ref, i);
    if (std::isfinite(r)) ref_max_abs = std::max(ref_max_abs, std::abs(r));
  }
  const double atol = tolerance.atol_fraction * ref_max_abs;

  double dot = 0, ref_norm_sq = 0, plan_norm_sq = 0;
  double max_abs = 0, max_rel = 0;
  int64_t outside_allclose = 0, first_outside = -1;
  int64_t nonfinite_mismatches = 0, first_nonfinite = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double r = LoadFloat(ref, i);
    const double p = LoadFloat(plan, i);
    if (!std::isfinite(r) || !std::isfinite(p)) {
      // A reference that overflows or divides by zero is the model's own
      // behaviour; the plan must reproduce it, and must not invent it.
      const bool same = (std::isnan(r) && std::isnan(p)) || r == p;
      if (!same) {
        if (nonfinite_mismatches++ == 0) first_nonfinite = i;
      }
      continue;
    }
    const double error = std::abs(p - r);
    max_abs = std::max(max_abs, error);
    if (std::abs(r) >= atol && r != 0) max_rel = std::max(max_rel, error / std::abs(r));
    if (error > atol + tolerance.rtol * std::abs(r)) {
      if (outside_allclose++ == 0) first_outside = i;
    }
    dot += p * r;
    ref_norm_sq += r * r;
    plan_norm_sq += p * p;
  }

  out->reference_max_abs = ref_max_abs;
  out->max_abs_error = max_abs;
  out->max_rel_error = max_rel;
  out->cosine = Cosine(dot, ref_norm_sq, plan_norm_sq);
  out->mismatches = outside_allclose + nonfinite_mismatches;

  if (out->cosine < tolerance.min_cosine) {
    failures->push_back(
        absl::StrFormat("cosine %.8g < %g", out->cosine, tolerance.min_cosine));
  }
  const double max_abs_limit = tolerance.max_abs_fraction * ref_max_abs;
  if (max_abs > max_abs_limit) {
    failures->push_back(absl::StrFormat(
        "max abs error %.4g > %g of max |ref| %.4g (limit %.4g)", max_abs,
        tolerance.max_abs_fraction, ref_max_abs, max_abs_limit));
  }
  if (outside_allclose > 0) {
    failures->push_back(absl::StrFormat(
        "%d of %d elements outside allclose (rtol %g, atol %.4g); first at "
        "index %d: expected %.8g, got %.8g",
        outside_allclose, n, tolerance.rtol, atol, first_outside,
        LoadFloat(ref, first_outside), LoadFloat(plan, first_outside)));
  }
  if (nonfinite_mismatches > 0) {
    failures->push_back(absl::StrFormat(
        "%d elements non-finite in only one of reference and plan (or "
        "different); first at index %d: expected %g, got %g",
        nonfinite_mismatches, first_nonfinite, LoadFloat(ref, first_nonfinite),
        LoadFloat(plan, first_nonfinite)));
  }
}

void CompareExact(const Tensor& ref, const Tensor& plan, OutputComparison* out,
                  std::vector<std::string>* failures) {
  const int64_t n = out->elements;
  double dot = 0, ref_norm_sq = 0, plan_norm_sq = 0;
  double max_abs = 0, ref_max_abs = 0, max_rel = 0;
  int64_t mismatches = 0, first_mismatch = -1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = LoadInteger(ref, i);
    const int64_t p = LoadInteger(plan, i);
    // Doubles only for the reported statistics; equality is on integers so
    // token ids beyond 2^53 still compare exactly.
    const double rd = static_cast<double>(r);
    const double pd = static_cast<double>(p);
    ref_max_abs = std::max(ref_max_abs, std::abs(rd));
    if (r != p) {
      if (mismatches++ == 0) first_mismatch = i;
      const double error = std::abs(pd - rd);
      max_abs = std::max(max_abs, error);
      if (r != 0) max_rel = std::max(max_rel, error / std::abs(rd));
    }
    dot += pd * rd;
    ref_norm_sq += rd * rd;
    plan_norm_sq += pd * pd;
  }
  out->reference_max_abs = ref_max_abs;
  out->max_abs_error = max_abs;
  out->max_rel_error = max_rel;
  out->cosine = Cosine(dot, ref_norm_sq, plan_norm_sq);
  out->mismatches = mismatches;
  if (mismatches > 0) {
    failures->push_back(absl::StrFormat(
        "%d of %d elements differ (%s must match exactly); first at index %d: "
        "expected %d, got %d",
        mismatches, n, std::string(DTypeName(ref.dtype)), first_mismatch,
        LoadInteger(ref, first_mismatch), LoadInteger(plan, first_mismatch)));
  }
}

OutputComparison CompareOne(const Tensor& ref, const Tensor& plan,
                            std::string name, const Tolerance& tolerance) {
  OutputComparison out;
  out.name = std::move(name);
  std::vector<std::string> failures;
  if (ref.dtype != plan.dtype) {
    failures.push_back(absl::StrCat("dtype: expected ",
                                    std::string(DTypeName(ref.dtype)), ", got ",
                                    std::string(DTypeName(plan.dtype))));
  }
  if (ref.shape != plan.shape) {
    failures.push_back(absl::StrCat("shape: expected ", ShapeToString(ref.shape),
                                    ", got ", ShapeToString(plan.shape)));
  }
  for (const std::string& malformed :
       {MalformedReason(ref, "reference"), MalformedReason(plan, "plan output")}) {
    if (!malformed.empty()) failures.push_back(malformed);
  }
  if (failures.empty()) {
    out.elements = ref.num_elements();
    if (IsFloat(ref.dtype)) {
      CompareFloat(ref, plan, tolerance, &out, &failures);
    } else {
      CompareExact(ref, plan, &out, &failures);
    }
  } else {
    // Values are not comparable element by element; leave the statistics at
    // their zero defaults rather than guess.
    out.elements = std::max<int64_t>(ref.num_elements(), 0);
    out.cosine = 0;
  }
  out.passed = failures.empty();
  out.reason = absl::StrJoin(failures, "; ");
  return out;
}

std::string OutputName(const std::vector<std::string>& names, size_t index) {
  if (index < names.size()) return names[index];
  return absl::StrCat("output ", index);
}

}  // namespace

Tolerance DefaultTolerance(Precision precision) {
  Tolerance tolerance;
  switch (precision) {
    case Precision::kFp32:
      tolerance.rtol = 1e-4;
      tolerance.atol_fraction = 1e-4;
      tolerance.min_cosine = 0.99999;
      tolerance.max_abs_fraction = 0.05;
      break;
    case Precision::kBf16:
      tolerance.rtol = 2e-2;
      tolerance.atol_fraction = 2e-2;
      tolerance.min_cosine = 0.999;
      tolerance.max_abs_fraction = 0.05;
      break;
  }
  return tolerance;
}

AccuracyReport CompareOutputs(const std::vector<Tensor>& reference,
                              const std::vector<Tensor>& plan,
                              const std::vector<std::string>& names,
                              const Tolerance& tolerance) {
  AccuracyReport report;
  const size_t common = std::min(reference.size(), plan.size());
  for (size_t i = 0; i < common; ++i) {
    report.outputs.push_back(
        CompareOne(reference[i], plan[i], OutputName(names, i), tolerance));
  }
  for (size_t i = common; i < std::max(reference.size(), plan.size()); ++i) {
    OutputComparison missing;
    missing.name = OutputName(names, i);
    missing.reason = absl::StrCat(
        i < reference.size() ? "missing from the plan's outputs"
                             : "produced by the plan but not by the reference",
        " (reference has ", reference.size(), " outputs, plan ", plan.size(),
        ")");
    report.outputs.push_back(std::move(missing));
  }
  report.passed = std::all_of(
      report.outputs.begin(), report.outputs.end(),
      [](const OutputComparison& output) { return output.passed; });
  return report;
}

AccuracyReport CompareWithinSensitivity(const std::vector<Tensor>& reference,
                                        const std::vector<Tensor>& plan,
                                        const std::vector<std::string>& names,
                                        const Tolerance& tolerance,
                                        const std::vector<double>& sensitivity, double factor) {
  AccuracyReport report = CompareOutputs(reference, plan, names, tolerance);
  if (report.passed || reference.size() != plan.size()) return report;
  for (size_t i = 0; i < report.outputs.size() && i < sensitivity.size(); ++i) {
    OutputComparison& output = report.outputs[i];
    if (output.passed || output.reference_max_abs <= 0 || sensitivity[i] <= 0) continue;
    Tolerance relaxed = tolerance;
    relaxed.atol_fraction =
        std::max(tolerance.atol_fraction, factor * sensitivity[i] / output.reference_max_abs);
    output = CompareOne(reference[i], plan[i], OutputName(names, i), relaxed);
  }
  report.passed = std::all_of(
      report.outputs.begin(), report.outputs.end(),
      [](const OutputComparison& output) { return output.passed; });
  return report;
}

std::string AccuracyReport::Summary() const {
  std::vector<std::string> parts;
  for (const OutputComparison& output : outputs) {
    const double scaled_error =
        output.reference_max_abs > 0
            ? output.max_abs_error / output.reference_max_abs
            : output.max_abs_error;
    std::string part = absl::StrFormat(
        "'%s' %s cosine %.8g, max abs %.3g (%.3g of max |ref|), max rel %.3g, "
        "mismatches %d/%d",
        output.name, output.passed ? "ok" : "FAILED", output.cosine,
        output.max_abs_error, scaled_error, output.max_rel_error,
        output.mismatches, output.elements);
    if (!output.passed) absl::StrAppend(&part, " (", output.reason, ")");
    parts.push_back(std::move(part));
  }
  return absl::StrCat("accuracy ", passed ? "passed" : "FAILED",
                      basis.empty() ? "" : absl::StrCat(" ", basis), " (", outputs.size(),
                      outputs.size() == 1 ? " output" : " outputs", "): ",
                      absl::StrJoin(parts, " | "));
}

}  // namespace kiln::engine
