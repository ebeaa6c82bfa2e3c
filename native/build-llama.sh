#!/usr/bin/env bash
# Builds llama.cpp's shared libraries from the source that npm ships (node-llama-cpp@3.22.1: llama/gitRelease.bundle,
# the release of the project's binaries), with node-llama-cpp's own patches and then ours (native/patches/*.patch),
# into a cache outside the repo keyed by the source, the patches and the build options. A cached build returns at
# once; a cold CPU build takes several minutes on 2 cores (ccache makes a rebuild after a patch change quick).
# The last line printed is the directory that holds the libraries (libllama.so, libggml*.so).
#
#   native/build-llama.sh                 # CPU, tuned for this machine's CPU (the key includes its flags)
#   native/build-llama.sh --server        # also llama-server (benchmarks compare against it), in bin/
#   native/build-llama.sh --cuda [ARCHS]  # CUDA (nvcc on PATH), ARCHS default "80;86;89;90" (portable CPU variants)
#   native/build-llama.sh --cuda 90 --native-cpu  # CUDA, CPU code for this machine only (a build used where it is made)
#   native/build-llama.sh --portable      # CPU, every CPU variant loaded at run time (images for other machines)
#   native/build-llama.sh --link DIR      # also make DIR a symlink to the library directory
#   native/build-llama.sh --source-dir D  # only prepare the patched source in D (for bundles) and exit
#   native/build-llama.sh --from-source D # build from D, made by --source-dir with these patches (no npm, git or network)
#   native/build-llama.sh --print-dir     # print where this build would be (built or not) and exit
#
# Environment: SERVE_NATIVE_CACHE (default ~/.cache/serve/llama.cpp), SERVE_NATIVE_JOBS (default: nproc).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

package=node-llama-cpp@3.22.1
integrity=sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw==
cache=${SERVE_NATIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serve/llama.cpp}
jobs=${SERVE_NATIVE_JOBS:-$(nproc)}

cuda=0; cuda_archs="80;86;89;90"; server=0; source_only=""; from_source=""; portable=0; native_cpu=0; link=""; print_only=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --cuda) cuda=1; if [[ ${2:-} =~ ^[0-9\;]+$ ]]; then cuda_archs=$2; shift; fi ;;
    --server) server=1 ;;
    --portable) portable=1 ;;
    --native-cpu) native_cpu=1 ;;
    --from-source) from_source=$(cd "${2:?--from-source needs a directory}" && pwd); shift ;;
    --print-dir) print_only=1 ;;
    --link) link=${2:?--link needs a path}; shift ;;
    --source-dir) source_only=${2:?--source-dir needs a directory}; shift ;;
    *) echo "build-llama.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "build-llama: $*" >&2; }
need() { command -v "$1" >/dev/null; }

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9   # one build at a time (parallel project builds, several checkouts)

patches=("$here"/patches/*.patch)
patch_hash=$(cat "${patches[@]}" | sha256sum | cut -c1-16)

# 1. The source tarball, pinned by its registry integrity, kept in the cache (not needed with --from-source or
#    once this patch set's source is prepared).
tarball="$cache/node-llama-cpp-3.22.1.tgz"
if [[ -n $from_source ]]; then
  [[ "$(cat "$from_source/.serve-patches" 2>/dev/null)" == "$patch_hash" ]] \
    || { log "$from_source was not made by --source-dir with these patches (native/patches/*.patch)"; exit 2; }
elif [[ ! -f $tarball && ( -n $source_only || ! -f $cache/src-$patch_hash/.prepared ) ]]; then
  need npm || { log "npm is not on PATH"; exit 2; }
  log "fetching $package (npm pack)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "$package" --silent >/dev/null)
  mv "$tmp"/node-llama-cpp-3.22.1.tgz "$tarball.part" && rm -rf "$tmp"
  # node comes with npm: no other tool is needed to check the registry's integrity string
  actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tarball.part")"
  if [[ $actual != "$integrity" ]]; then
    rm -f "$tarball.part"; log "integrity mismatch for $package: $actual"; exit 1
  fi
  mv "$tarball.part" "$tarball"
fi

# 2. The patched source: the bundle at the release, node-llama-cpp's patches, then ours.
prepare_source() {
  local dest=$1 tmp
  tmp=$(mktemp -d)
  tar -xzf "$tarball" -C "$tmp" package/llama/gitRelease.bundle package/llama/patches
  rm -rf "$dest"
  git clone -q "$tmp/package/llama/gitRelease.bundle" "$dest" 2>/dev/null
  for p in "$tmp"/package/llama/patches/*.diff; do git -C "$dest" apply "$p"; done
  for p in "${patches[@]}"; do
    git -C "$dest" apply "$p" || { log "patch $(basename "$p") does not apply"; exit 1; }
  done
  rm -rf "$tmp" "$dest/.git"
  echo "$patch_hash" >"$dest/.serve-patches"
}

if [[ -n $source_only ]]; then
  prepare_source "$source_only"
  echo "$source_only"
  exit 0
fi

# 3. Options and the cache key.
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  "-DCMAKE_BUILD_RPATH=\$ORIGIN" "-DCMAKE_INSTALL_RPATH=\$ORIGIN")
targets=(llama)   # with run-time backend modules (cuda, portable): everything but the tools
if [[ $cuda -eq 1 && $native_cpu -eq 1 ]]; then
  # CUDA linked in, CPU code for this machine's CPU: quickest to build, for use where it is built (benchmarks).
  cmake_args+=(-DGGML_BACKEND_DL=OFF -DGGML_NATIVE=ON -DGGML_CUDA=ON
    "-DCMAKE_CUDA_ARCHITECTURES=$cuda_archs" -DGGML_CUDA_FA_QUANTS=f16-f16)
  variant="cuda-${cuda_archs//;/_}-cpu-$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)"
elif [[ $cuda -eq 1 ]]; then
  # Portable: every CPU variant loaded at run time, CUDA as a backend module.
  cmake_args+=(-DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=ON -DGGML_CUDA=ON
    "-DCMAKE_CUDA_ARCHITECTURES=$cuda_archs" -DGGML_CUDA_FA_QUANTS=f16-f16)
  variant="cuda-${cuda_archs//;/_}"
  targets=()
elif [[ $portable -eq 1 ]]; then
  cmake_args+=(-DGGML_BACKEND_DL=ON -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=ON)
  variant="cpu-portable"
  targets=()
else
  # This machine's CPU (-march=native); the key holds its flags so another CPU never gets this build.
  cmake_args+=(-DGGML_BACKEND_DL=OFF -DGGML_NATIVE=ON)
  variant="cpu-$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)"
fi
if [[ $server -eq 1 ]]; then
  cmake_args+=(-DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON)
  variant+="-server"
else
  cmake_args+=(-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF)
fi
key=$( { echo "$integrity"; echo "$patch_hash"; echo "$variant"; printf '%s\n' "${cmake_args[@]}"; echo v1; } | sha256sum | cut -c1-16)
out="$cache/$key"
finish() {
  if [[ -n $link ]]; then
    mkdir -p "$(dirname "$link")"
    if [[ "$(readlink "$link" 2>/dev/null)" != "$out/lib" ]]; then
      rm -rf "$link"; ln -s "$out/lib" "$link"
    fi
  fi
  echo "$out/lib"
  exit 0
}
[[ $print_only -eq 1 ]] && { echo "$out/lib"; exit 0; }
[[ -f $out/.complete ]] && finish

# 4. Tools (Debian): cmake, a C++ compiler, git (to prepare the source), ccache (optional: offline machines
#    without it build without it).
missing=()
need cmake || missing+=(cmake)
need g++ || missing+=(g++)
[[ -z $from_source ]] && ! need git && missing+=(git)
# (an offline build from a bundled source does not try to install ccache)
need ccache || [[ -n $from_source ]] || missing+=(ccache)
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]} (apt)"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || { [[ ${missing[*]} == ccache ]] && log "ccache could not be installed; building without it"; } || exit 1
fi
if need ccache; then
  export CCACHE_DIR=${CCACHE_DIR:-$cache/ccache}
  export CCACHE_BASEDIR=$cache CCACHE_NOHASHDIR=1 # hits across source trees of other patch versions
  cmake_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  [[ $cuda -eq 1 ]] && cmake_args+=(-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

# 5. Build. The source tree's path is stable (per patch set) so ccache hits across keys.
src="$cache/src-$patch_hash"
if [[ -n $from_source ]]; then
  src=$from_source
elif [[ ! -f $src/.prepared ]]; then
  log "preparing source"; prepare_source "$src"; touch "$src/.prepared"
fi
build="$cache/build-$key"
log "building llama.cpp ($variant) with $jobs jobs; the first build takes minutes"
start=$SECONDS
generator=(); need ninja && generator=(-G Ninja)
cmake -S "$src" -B "$build" "${generator[@]}" "${cmake_args[@]}" >"$build.configure.log" 2>&1 \
  || { tail -n 40 "$build.configure.log" >&2; exit 1; }
if [[ ${#targets[@]} -gt 0 ]]; then
  # with the server in the same call, so its big sources compile while the kernels do
  [[ $server -eq 1 ]] && targets+=(llama-server)
  cmake --build "$build" --config Release -j "$jobs" --target "${targets[@]}" >"$build.log" 2>&1 \
    || { tail -n 60 "$build.log" >&2; exit 1; }
elif [[ $server -eq 0 ]]; then
  cmake --build "$build" --config Release -j "$jobs" >"$build.log" 2>&1 || { tail -n 60 "$build.log" >&2; exit 1; }
else
  # the libraries and backend modules (not every tool), then the server
  cmake --build "$build" --config Release -j "$jobs" --target llama ggml ggml-base >"$build.log" 2>&1 \
    && for t in $(cmake --build "$build" --target help | grep -o 'ggml-\(cpu\|cuda\)[a-z0-9_-]*' | sort -u); do
         cmake --build "$build" --config Release -j "$jobs" --target "$t" >>"$build.log" 2>&1 || exit 1
       done || { tail -n 60 "$build.log" >&2; exit 1; }
fi
if [[ $server -eq 1 && ! -f $build/bin/llama-server ]]; then
  cmake --build "$build" --config Release -j "$jobs" --target llama-server >>"$build.log" 2>&1 || { tail -n 60 "$build.log" >&2; exit 1; }
fi

rm -rf "$out.part" && mkdir -p "$out.part/lib" "$out.part/bin"
find "$build/bin" -maxdepth 1 -name '*.so*' -exec cp -P {} "$out.part/lib/" \;
[[ $server -eq 1 ]] && cp "$build/bin/llama-server" "$out.part/bin/"
[[ -f $out.part/lib/libllama.so ]] || { log "the build produced no libllama.so"; exit 1; }
touch "$out.part/.complete"
rm -rf "$out" && mv "$out.part" "$out"
rm -rf "$build" "$build.log" "$build.configure.log"
# Sources and failed builds of other patch versions: ccache keeps what they compiled.
find "$cache" -maxdepth 1 \( -name 'src-*' ! -name "src-$patch_hash" -o -name 'build-*' \) -exec rm -rf {} +
log "built in $((SECONDS - start)) s -> $out/lib"
finish
