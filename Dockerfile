# Kiln, the CPU image (Debian bookworm).
#
#   docker build -t kiln:cpu .
#   docker run --rm -p 8000-8002:8000-8002 -v "$PWD/models:/models:ro" kiln:cpu
#
# Without a Docker engine, deploy/build-image builds the same file with
# buildah on a debootstrapped bookworm (BASE_IMAGE points at it).
#
# Two stages: the builder has the compilers and -dev packages scripts/setup
# installs for building; the runtime stage has only the shared libraries
# kiln-server loads (it checks that none is missing) and curl for the health
# check.

ARG BASE_IMAGE=debian:bookworm

# ---------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder

ARG DEBIAN_FRONTEND=noninteractive
# The build packages of scripts/setup (no test or bench tools: only
# kiln-server is built here; CMake still wants GTest to configure), and a
# venv with the pinned torch wheel whose LibTorch kiln-server links.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config patchelf python3-venv python3-pip \
      libdnnl-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libgtest-dev libgmock-dev \
      libcpp-httplib-dev nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/* \
 && apt-get clean

WORKDIR /src
COPY scripts/requirements.txt scripts/requirements.txt
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      $(grep -E '^(torch|torchvision)==' scripts/requirements.txt)
COPY . .
# The configuration scripts/build uses (RelWithDebInfo: the tested code),
# debug info stripped afterwards. Two jobs by default: LibTorch translation
# units need about 2 GB each.
#
# What the runtime stage takes from the wheel, into /opt/kiln/lib (the
# binary's RPATH is pointed there): libtorch_cpu (with the oneDNN 3.x and MKL
# built into it), libc10, the wheel's libgomp (the one OpenMP runtime, for
# Debian's oneDNN too) and the two CUDA runtime libraries libtorch_cpu needs
# to load (libcudart, libcupti: 7 MB). Not libtorch_cuda nor cuBLAS/cuDNN:
# kiln-server loads the CUDA backend only where it finds it, so this image is
# CPU only, and leaves torchvision's operators out too (the wheel's build of
# them needs libtorch_cuda); KILN_OP_LIBRARIES adds operator libraries.
ARG CMAKE_BUILD_TYPE=RelWithDebInfo
ARG JOBS=2
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE} \
 && cmake --build build --target kiln-server -j${JOBS} \
 && strip --strip-debug build/kiln-server \
 && patchelf --set-rpath /opt/kiln/lib build/kiln-server \
 && mkdir -p /opt/kiln/lib \
 && torch_lib=.venv/lib/python3*/site-packages/torch/lib \
 && cuda_lib=.venv/lib/python3*/site-packages/nvidia/cu13/lib \
 && cp $torch_lib/libtorch_cpu.so $torch_lib/libc10.so $torch_lib/libgomp.so.1 \
       $cuda_lib/libcudart.so.13 $cuda_lib/libcupti.so.13 /opt/kiln/lib/

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries only: oneDNN, gRPC++, protobuf, abseil, cpp-httplib, and
# curl for HEALTHCHECK; LibTorch comes from the builder's wheel. Translations,
# manuals and docs are left out, copyright files kept.
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
      'path-exclude=/usr/share/locale/*' > /etc/dpkg/dpkg.cfg.d/kiln-slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      libdnnl2 \
      libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libcpp-httplib0.11 \
      curl \
 && rm -rf /var/lib/apt/lists/* \
 && apt-get clean

COPY --from=builder /opt/kiln/lib/ /opt/kiln/lib/
COPY --from=builder /src/build/kiln-server /usr/local/bin/kiln-server

# Fail the build, not the first start, when a shared library is missing, or
# when the binary would load a second OpenMP runtime.
RUN set -e; \
    if ldd /usr/local/bin/kiln-server | grep "not found"; then echo "missing libraries"; exit 1; fi; \
    test "$(ldd /usr/local/bin/kiln-server | grep -c libgomp)" = 1 \
      || { echo "more than one OpenMP runtime"; exit 1; }; \
    kiln-server --help > /dev/null

RUN groupadd --system --gid 1000 kiln \
 && useradd --system --uid 1000 --gid kiln --create-home --home-dir /home/kiln \
      --shell /usr/sbin/nologin kiln \
 && mkdir -p /models && chown kiln:kiln /models
USER kiln
WORKDIR /home/kiln

VOLUME /models
# HTTP/REST, gRPC, Prometheus metrics (as Triton).
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS -o /dev/null http://localhost:8000/v2/health/ready || exit 1

ENTRYPOINT ["kiln-server", "--model-repository=/models"]
CMD []
