// Operator libraries TorchScript models may call into, loaded once per
// process before the first model: TorchVision's operators (nms, roi_align,
// deform_conv2d, ...; Triton's PyTorch backend bundles them too), found in
// Debian's python3-torchvision, whose extension module registers them
// without needing Python; and any library listed in KILN_OP_LIBRARIES
// (paths separated by ':'), e.g. a model's own custom operators.
#ifndef KILN_ENGINE_OP_LIBRARIES_H_
#define KILN_ENGINE_OP_LIBRARIES_H_

#include <string>
#include <vector>

namespace kiln::engine {

// Loads them on the first call; later calls return the same report: one
// line per library ("loaded ..." or "could not load ...: reason").
const std::vector<std::string>& LoadOperatorLibraries();

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OP_LIBRARIES_H_
