# LibTorch from the PyPI torch wheel in the project venv (scripts/setup
# installs it, pinned in scripts/requirements.txt).
#
# The wheel's own TorchConfig is not used: it insists on a CUDA toolkit at
# configure time (Caffe2Config fails without one) and links libtorch_cuda
# into every binary. Kiln links libtorch_cpu and libc10 only, so one binary
# runs on hosts without the CUDA libraries; engine/op_libraries.cc loads
# libtorch_cuda at start-up where it is present.
#
# Defines:
#   kiln::torch      headers (as SYSTEM includes), libtorch_cpu, libc10, C++20
#   KILN_TORCH_ROOT  site-packages/torch
#   KILN_TORCH_LIB_DIR, KILN_TORCH_VERSION, KILN_TORCHVISION_DIR

# One interpreter start: torch's CMake prefix, its version, and the folder of
# torchvision's operator library (empty without torchvision), which
# engine/op_libraries.cc loads by default.
execute_process(
  COMMAND ${KILN_PYTHON} -c
    "import importlib.util, os, torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__); s = importlib.util.find_spec('torchvision'); print(os.path.dirname(s.origin) if s else '')"
  OUTPUT_VARIABLE _kiln_torch_out
  ERROR_VARIABLE _kiln_torch_err
  RESULT_VARIABLE _kiln_torch_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _kiln_torch_rc EQUAL 0)
  message(FATAL_ERROR
    "LibTorch: ${KILN_PYTHON} cannot import torch (run ./scripts/setup):\n${_kiln_torch_err}")
endif()
string(REPLACE "\n" ";" _kiln_torch_out "${_kiln_torch_out}")
list(GET _kiln_torch_out 0 _kiln_torch_cmake_prefix)
list(GET _kiln_torch_out 1 KILN_TORCH_VERSION)
list(LENGTH _kiln_torch_out _kiln_torch_lines)
set(KILN_TORCHVISION_DIR "")
if(_kiln_torch_lines GREATER 2)
  list(GET _kiln_torch_out 2 KILN_TORCHVISION_DIR)
endif()
# cmake_prefix_path is <torch>/share/cmake.
get_filename_component(KILN_TORCH_ROOT "${_kiln_torch_cmake_prefix}/../.." ABSOLUTE)
set(KILN_TORCH_LIB_DIR "${KILN_TORCH_ROOT}/lib")
# The wheel's CUDA runtime (libtorch_cpu needs libcudart and libcupti even on
# a CPU-only host) lives in the nvidia packages beside torch.
get_filename_component(KILN_NVIDIA_DIR "${KILN_TORCH_ROOT}/../nvidia" ABSOLUTE)

foreach(lib torch_cpu c10)
  if(NOT EXISTS "${KILN_TORCH_LIB_DIR}/lib${lib}.so")
    message(FATAL_ERROR "LibTorch: ${KILN_TORCH_LIB_DIR}/lib${lib}.so not found")
  endif()
endforeach()
message(STATUS "LibTorch ${KILN_TORCH_VERSION} from ${KILN_TORCH_ROOT}")

add_library(kiln_torch_imported INTERFACE)
add_library(kiln::torch ALIAS kiln_torch_imported)
# SYSTEM: the wheel's headers are not ours to warn about. The wheel's include/
# also carries oneDNN 3.x headers (dnnl.hpp): Kiln's oneDNN translation units
# (engine/plan) never link kiln::torch, so they keep Debian's oneDNN headers.
target_include_directories(kiln_torch_imported SYSTEM INTERFACE
  "${KILN_TORCH_ROOT}/include"
  "${KILN_TORCH_ROOT}/include/torch/csrc/api/include")
target_link_libraries(kiln_torch_imported INTERFACE
  "${KILN_TORCH_LIB_DIR}/libtorch_cpu.so"
  "${KILN_TORCH_LIB_DIR}/libc10.so"
  Threads::Threads)
target_compile_features(kiln_torch_imported INTERFACE cxx_std_20)
# The wheel is built with the new libstdc++ ABI, as Debian's libraries are.
target_compile_definitions(kiln_torch_imported INTERFACE _GLIBCXX_USE_CXX11_ABI=1)

# Binaries find LibTorch, the wheel's libgomp and its CUDA packages through
# their RPATH, never LD_LIBRARY_PATH. rpath-link: ld resolves libtorch_cpu's
# own dependencies (libcudart, libcupti) in the wheel's packages, not under
# /usr/local/cuda.
file(GLOB KILN_NVIDIA_LIB_DIRS LIST_DIRECTORIES true "${KILN_NVIDIA_DIR}/*/lib")
set(_kiln_rpath "${KILN_TORCH_LIB_DIR}")
foreach(dir ${KILN_NVIDIA_LIB_DIRS})
  string(APPEND _kiln_rpath ":${dir}")
endforeach()
target_link_options(kiln_torch_imported INTERFACE
  "LINKER:-rpath,${_kiln_rpath}"
  "LINKER:-rpath-link,${_kiln_rpath}")

