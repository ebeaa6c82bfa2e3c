# syntax=docker/dockerfile:1
# Images for Serve, one file, one target per image (build from the repository root):
#
#   docker build --target server      -t serve-server:cpu  .   # a replica (Serve.Server), llama.cpp CPU build
#   docker build --target server-cuda -t serve-server:cuda .   # a replica on NVIDIA GPUs, llama.cpp CUDA 13 build
#   docker build --target gateway     -t serve-gateway     .   # the YARP gateway (Serve.Gateway), no llama.cpp
#   docker build --target cli         -t serve-cli         .   # the `serve` command (train, export, make-model)
#
# Every server and gateway listens on 8080 (ASPNETCORE_HTTP_PORTS). A replica reads its base model from
# /models/base.gguf and its adapters from /models/adapters/ (Serve__Engine__Model, Serve__Engine__Adapters): mount
# them. deploy/compose.yaml and deploy/k8s/ use these targets; tests/Serve.Gateway.Tests/Deployment checks that the
# ports, paths, names and environment variables here match the code. No Docker engine runs on the development
# machines, so this file is kept exact but is not built in CI.

ARG CUDA_RUNTIME=nvidia/cuda:13.0.0-runtime-ubuntu24.04

# llama.cpp is built from the source npm ships (node-llama-cpp@3.22.1) plus native/patches (per-token adapters),
# by native/build-llama.sh, as in the normal build. The CPU image loads the best CPU variant at run time.
FROM debian:bookworm-slim AS llama-cpu
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates cmake g++ git ninja-build ccache npm openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY native/build-llama.sh native/
COPY native/patches native/patches
RUN lib=$(native/build-llama.sh --portable | tail -n 1) && mkdir /llama-cpu && cp -L "$lib"/*.so* /llama-cpu/

# The CUDA build, compiled with nvcc for the usual data-centre and desktop architectures (Hopper's 90 included);
# libggml-cuda.so needs libcudart.so.13 and libcublas.so.13 from the CUDA runtime image, and the driver's libcuda.so.1.
FROM nvidia/cuda:13.0.0-devel-ubuntu24.04 AS llama-cuda
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates cmake g++ git ninja-build ccache npm openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY native/build-llama.sh native/
COPY native/patches native/patches
RUN lib=$(native/build-llama.sh --cuda "75;80;86;89;90;100;120" | tail -n 1) && mkdir /llama-cuda && cp -L "$lib"/*.so* /llama-cuda/

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS source
WORKDIR /src
COPY . .

# Self-contained, so the runtime base can be runtime-deps or a CUDA image without .NET.
FROM source AS publish-gateway
RUN dotnet publish src/Serve.Gateway -c Release -r linux-x64 --self-contained -o /out

# Serve.Llama's build takes the libraries built above from native/lib and copies them to /out/llama/.
FROM source AS publish-server
COPY --from=llama-cpu /llama-cpu native/lib
RUN dotnet publish src/Serve.Server -c Release -r linux-x64 --self-contained -p:SkipLlamaNativeBuild=true -o /out

FROM source AS publish-cli
COPY --from=llama-cpu /llama-cpu native/lib
RUN dotnet publish src/Serve.Cli -c Release -r linux-x64 --self-contained -p:SkipLlamaNativeBuild=true -o /out

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS gateway
WORKDIR /app
COPY --from=publish-gateway /out /app
ENV ASPNETCORE_HTTP_PORTS=8080
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["/app/Serve.Gateway"]

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS cli
WORKDIR /app
COPY --from=publish-cli /out /app
USER $APP_UID
ENTRYPOINT ["/app/serve"]

FROM ${CUDA_RUNTIME} AS server-cuda
# What runtime-deps would bring for a self-contained .NET app, and its non-root user (uid 1654, as APP_UID there).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libicu74 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1654 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=publish-server /out /app
COPY --from=llama-cuda /llama-cuda /app/llama-cuda
ENV ASPNETCORE_HTTP_PORTS=8080 \
    SERVE_LLAMA_LIB_DIR=/app/llama-cuda \
    Serve__Engine__Model=/models/base.gguf \
    Serve__Engine__Adapters=/models/adapters
EXPOSE 8080
USER 1654
ENTRYPOINT ["/app/Serve.Server"]

# Last, so a plain `docker build .` gives the CPU replica.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0 AS server
WORKDIR /app
COPY --from=publish-server /out /app
ENV ASPNETCORE_HTTP_PORTS=8080 \
    SERVE_LLAMA_LIB_DIR=/app/llama \
    Serve__Engine__Model=/models/base.gguf \
    Serve__Engine__Adapters=/models/adapters
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["/app/Serve.Server"]
