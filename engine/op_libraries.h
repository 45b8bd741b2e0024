// Libraries TorchScript models may need, loaded once per process before the
// first model:
//  - LibTorch's CUDA backend (libtorch_cuda.so, found through the binary's
//    RPATH beside libtorch_cpu). Kiln links libtorch_cpu only, so the same
//    binary runs where the CUDA libraries are absent (the CPU image); where
//    they are present the backend registers CUDA kernels and devices.
//  - TorchVision's operators (nms, roi_align, deform_conv2d, ...; Triton's
//    PyTorch backend bundles them too) from the torchvision package beside
//    the torch wheel (KILN_TORCHVISION_DIR at build time, or the environment
//    variable of that name), whose extension registers them without Python.
//    The wheel's torchvision links libtorch_cuda, so it loads only after it.
//  - Any library listed in KILN_OP_LIBRARIES (paths separated by ':'), e.g. a
//    model's own custom operators.
#ifndef KILN_ENGINE_OP_LIBRARIES_H_
#define KILN_ENGINE_OP_LIBRARIES_H_

#include <string>
#include <vector>

namespace kiln::engine {

// Loads them on the first call; later calls return the same report: one
// line per library ("loaded ..." or "could not load ...: reason"). Thread
// safe.
const std::vector<std::string>& LoadOperatorLibraries();

}  // namespace kiln::engine

#endif  // KILN_ENGINE_OP_LIBRARIES_H_
