#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): install dependencies, build with -Werror, run
# every test; then build with AddressSanitizer + UBSan and run the tests again (the slow
# multi-GiB tests only run in the first build).
set -euo pipefail
cd "$(dirname "$0")/.."
export STARLIGHT_CACHE=${STARLIGHT_CACHE:-/var/tmp/starlight-cache}

bash tools/install-deps.sh
# A real Debian rootfs layer for the tests that need one (built once, then cached).
bash tools/make-rootfs-layer.sh "$STARLIGHT_CACHE/rootfs"
export STARLIGHT_ROOTFS_LAYER="$STARLIGHT_CACHE/rootfs/layer.tar.gz"

echo "== release build (-Werror)"
bash tools/build.sh release
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
bash tools/build.sh asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 900 -E '^Slow'
