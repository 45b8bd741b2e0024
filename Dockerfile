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
# The build packages of scripts/setup (no Python, no test or bench tools:
# only kiln-server is built here; CMake still wants GTest to configure).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libtorch-dev libdnnl-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libgtest-dev libgmock-dev \
      libcpp-httplib-dev nlohmann-json3-dev \
 # torchvision's operator library (torchvision::nms, roi_align, ...), which
 # the engine dlopens from torchvision's directory (engine/op_libraries.cc):
 # taken out of the python3-torchvision package so the runtime stage needs
 # neither Python nor python3-torch. It links only libraries kiln-server
 # links too.
 && mkdir -p /opt/oplib /tmp/tv && cd /tmp/tv \
 && apt-get download python3-torchvision \
 && dpkg-deb -x python3-torchvision_*.deb root \
 && cp root/usr/lib/python3/dist-packages/torchvision/_C.*.so /opt/oplib/ \
 && cd / && rm -rf /tmp/tv /var/lib/apt/lists/* \
 && apt-get clean

WORKDIR /src
COPY . .
# The configuration scripts/build uses (RelWithDebInfo: the tested code),
# debug info stripped afterwards. Two jobs by default: LibTorch translation
# units need about 2 GB each.
ARG CMAKE_BUILD_TYPE=RelWithDebInfo
ARG JOBS=2
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE} \
 && cmake --build build --target kiln-server -j${JOBS} \
 && strip --strip-debug build/kiln-server

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries only: LibTorch, oneDNN, gRPC++, protobuf, abseil,
# cpp-httplib, OpenBLAS (OpenMP) - without OpenBLAS LibTorch falls back to
# reference BLAS, ~40x slower - and curl for HEALTHCHECK. LibTorch's
# dependencies (OpenCV, GDAL, Mesa's LLVM, ...) make most of the image;
# their translations, manuals and docs (~100 MB) are left out, copyright
# files kept.
RUN printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
      'path-exclude=/usr/share/locale/*' > /etc/dpkg/dpkg.cfg.d/kiln-slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      libtorch1.13 libdnnl2 \
      libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libcpp-httplib0.11 libopenblas0-openmp \
      curl \
 && rm -rf /var/lib/apt/lists/* \
 && apt-get clean

COPY --from=builder /src/build/kiln-server /usr/local/bin/kiln-server
COPY --from=builder /opt/oplib/ /usr/lib/python3/dist-packages/torchvision/

# Fail the build, not the first start, when a shared library is missing;
# and check that BLAS resolves to OpenBLAS.
RUN set -e; \
    for f in /usr/local/bin/kiln-server /usr/lib/python3/dist-packages/torchvision/_C.*.so; do \
      if ldd "$f" | grep "not found"; then echo "missing libraries for $f"; exit 1; fi; \
    done; \
    readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 | grep -q openblas \
      || { echo "libblas.so.3 is not OpenBLAS"; exit 1; }; \
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
