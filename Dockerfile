# syntax=docker/dockerfile:1
# Multi-stage image for Serve. The llama.cpp shared libraries come from npm (native/package-lock.json);
# the build stage needs node/npm because Serve.Llama's build runs `npm ci` when they are missing.
#
#   docker build -t serve:cpu .
#   docker build -t serve:cuda --build-arg LLAMA_NPM_PACKAGE=@node-llama-cpp/linux-x64-cuda --build-arg RUNTIME_BASE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 .
#
# The runtime image reads SERVE_LLAMA_LIB_DIR to find the libraries; the CUDA variant swaps the npm package.
# (No Docker engine runs on the development machines; this file is kept exact but is not built in CI.)

# Published self-contained so the runtime base can be a plain distro or a CUDA image.
ARG RUNTIME_BASE=mcr.microsoft.com/dotnet/runtime-deps:10.0

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY native/package.json native/package-lock.json native/.npmrc native/
RUN cd native && npm ci --ignore-scripts
ARG LLAMA_NPM_PACKAGE=""
RUN if [ -n "$LLAMA_NPM_PACKAGE" ]; then cd native && npm install --no-save --ignore-scripts "$LLAMA_NPM_PACKAGE@3.22.1"; fi
COPY . .
RUN dotnet publish src/Serve.Cli -c Release -r linux-x64 --self-contained -o /app
RUN mkdir -p /app/llama && cp native/node_modules/@node-llama-cpp/linux-x64*/bins/linux-x64*/*.so /app/llama/

FROM ${RUNTIME_BASE} AS runtime
WORKDIR /app
COPY --from=build /app /app
ENV SERVE_LLAMA_LIB_DIR=/app/llama
ENTRYPOINT ["/app/serve"]
