#!/usr/bin/env bash
# Configures and builds one flavour of the tree.
#   tools/build.sh [release|asan]     -> build/ or build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) dir=${SL_BUILD_DIR:-build}; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=${SL_ASAN_BUILD_DIR:-build-asan}; args=(-DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=ON) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release|asan)" >&2; exit 3 ;;
esac
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$dir" -G Ninja -DSL_WERROR=ON "${args[@]}" >/dev/null
ninja -C "$dir" -j "$jobs"
