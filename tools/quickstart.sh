#!/usr/bin/env bash
# Quickstart: on a fresh Debian bookworm machine, as root, set everything up and run the main job
# end to end on embedded defaults:
#   1. install the Debian packages (tools/install-deps.sh) and build (tools/build.sh)
#   2. make a real layer: a Debian minbase rootfs from the configured apt mirror, tarred and
#      gzipped the way `docker build` does (tools/make-rootfs-layer.sh)
#   3. convert it into a seekable layer, print the ToC summary and the size overhead
#   4. prove that legacy tools see the same layer: identical decompressed bytes (diffID), and
#      GNU tar extracts an identical tree (contents, modes, owners, links, xattrs)
# Work files go to $STARLIGHT_WORK (default /var/tmp/starlight-quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${STARLIGHT_WORK:-/var/tmp/starlight-quickstart}
mkdir -p "$work"
step() { printf '\n== %s\n' "$*"; }

step "1/4 dependencies and build"
bash tools/install-deps.sh
bash tools/build.sh release
conv="$root/${SL_BUILD_DIR:-build}/converter/starlight-convert"

step "2/4 a real layer: Debian bookworm minbase"
bash tools/make-rootfs-layer.sh "$work"
layer="$work/layer.tar.gz"

step "3/4 convert to a seekable layer"
"$conv" layer "$layer" "$work/layer.seekable.tar.gz" --toc "$work/layer.toc"
"$conv" inspect "$work/layer.seekable.tar.gz" >"$work/inspect.txt"
head -n 1 "$work/inspect.txt"
echo "first entries:"
sed -n '2,8p' "$work/inspect.txt"
"$conv" inspect --verify --json "$work/layer.seekable.tar.gz" >/dev/null
orig=$(stat -c %s "$layer")
conv_size=$(stat -c %s "$work/layer.seekable.tar.gz")
awk -v a="$orig" -v b="$conv_size" 'BEGIN { printf "size: original %d bytes, seekable %d bytes, overhead %+.2f %% (ToC included)\n", a, b, (b - a) * 100 / a }'

step "4/4 legacy tools read it unchanged"
d1=$(zcat "$layer" | sha256sum | cut -d' ' -f1)
d2=$(zcat "$work/layer.seekable.tar.gz" | sha256sum | cut -d' ' -f1)
echo "diffID original: sha256:$d1"
echo "diffID seekable: sha256:$d2"
[ "$d1" = "$d2" ] || { echo "quickstart: FAILED: decompressed streams differ" >&2; exit 1; }
rm -rf "$work/x-orig" "$work/x-seek"
mkdir -p "$work/x-orig" "$work/x-seek"
tar_x=(tar --numeric-owner --same-owner --preserve-permissions --xattrs --xattrs-include='*' -xzf)
"${tar_x[@]}" "$layer" -C "$work/x-orig"
"${tar_x[@]}" "$work/layer.seekable.tar.gz" -C "$work/x-seek"
# Everything tar restores: type, mode, owner, size, mtime, link target, device numbers,
# content digest and xattrs (the extraction root itself is not part of the layer).
listing() {
  (cd "$1" &&
    find . -mindepth 1 -printf '%p %y %m %U %G %s %T@ %l\n' &&
    find . -type f -print0 | xargs -0 -r sha256sum &&
    find . \( -type c -o -type b \) -exec stat -c '%n dev %t:%T' {} + &&
    { getfattr -R -h -d -m - --absolute-names . 2>/dev/null | grep -v '^$' || true; }) | LC_ALL=C sort
}
if ! diff <(listing "$work/x-orig") <(listing "$work/x-seek") >"$work/tree.diff"; then
  head -n 20 "$work/tree.diff" >&2
  echo "quickstart: FAILED: extracted trees differ (see $work/tree.diff)" >&2
  exit 1
fi
n=$(listing "$work/x-orig" | wc -l)
echo "GNU tar extracted identical trees: $n records compared (types, modes, owners, sizes, times, links, devices, content digests, xattrs)"
rm -rf "$work/x-orig" "$work/x-seek"
echo
echo "quickstart: OK — seekable layer at $work/layer.seekable.tar.gz"
