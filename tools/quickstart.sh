#!/usr/bin/env bash
# Quickstart: on a fresh Debian bookworm machine, as root, set everything up and run the main job
# end to end on embedded defaults:
#   1. install the Debian packages (tools/install-deps.sh) and build (tools/build.sh)
#   2. make a real layer: a Debian minbase rootfs from the configured apt mirror, tarred and
#      gzipped the way `docker build` does (tools/make-rootfs-layer.sh)
#   3. convert it into a seekable layer, print the ToC summary and the size overhead
#   4. prove that legacy tools see the same layer: identical decompressed bytes (diffID), and
#      GNU tar extracts an identical tree (contents, modes, owners, links, xattrs)
#   5. the registry side: a local docker-registry notifying starlight-proxy (LevelDB directory
#      DB); push the image as built (plain gzip), convert it registry to registry, and show what
#      the proxy ingested from the push notifications: the plain image recorded as not
#      seekable, the converted one with every layer's ToC (read by range requests) and the
#      merged tree
# Work files go to $STARLIGHT_WORK (default /var/tmp/starlight-quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${STARLIGHT_WORK:-/var/tmp/starlight-quickstart}
mkdir -p "$work"
step() { printf '\n== %s\n' "$*"; }

step "1/5 dependencies and build"
bash tools/install-deps.sh
bash tools/build.sh release
conv="$root/${SL_BUILD_DIR:-build}/converter/starlight-convert"
proxy="$root/${SL_BUILD_DIR:-build}/proxy/starlight-proxy"

step "2/5 a real layer: Debian bookworm minbase"
bash tools/make-rootfs-layer.sh "$work"
layer="$work/layer.tar.gz"

step "3/5 convert to a seekable layer"
"$conv" layer "$layer" "$work/layer.seekable.tar.gz" --toc "$work/layer.toc"
"$conv" inspect "$work/layer.seekable.tar.gz" >"$work/inspect.txt"
head -n 1 "$work/inspect.txt"
echo "first entries:"
sed -n '2,8p' "$work/inspect.txt"
"$conv" inspect --verify --json "$work/layer.seekable.tar.gz" >/dev/null
orig=$(stat -c %s "$layer")
conv_size=$(stat -c %s "$work/layer.seekable.tar.gz")
awk -v a="$orig" -v b="$conv_size" 'BEGIN { printf "size: original %d bytes, seekable %d bytes, overhead %+.2f %% (ToC included)\n", a, b, (b - a) * 100 / a }'

step "4/5 legacy tools read it unchanged"
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

step "5/5 registry hook: docker-registry -> starlight-proxy -> directory DB"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg="127.0.0.1:$(free_port)"
prx="127.0.0.1:$(free_port)"
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
rm -rf "$work/registry" "$work/proxy" "$work/oci"
mkdir -p "$work/registry" "$work/proxy"
cat >"$work/proxy/proxy.toml" <<TOML
# starlight-proxy config (see docs/registry-setup.md)
upstream = "$reg"
plain-http = true
db = "$work/proxy/db"
listen = "$prx"
webhook-secret = "$secret"
[serve]
ready-file = "$work/proxy/ready"
TOML
"$proxy" --config "$work/proxy/proxy.toml" serve >"$work/proxy/log" 2>&1 &
pids+=($!)
cat >"$work/registry/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: $reg}
notifications:
  endpoints:
    - name: starlight-proxy
      url: http://$prx/v1/registry/events
      headers: {Authorization: [Bearer $secret]}
      timeout: 5s
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
YML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "$work/proxy/ready" ] && curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://$reg/v2/" >/dev/null || { echo "quickstart: FAILED: docker-registry did not start" >&2; cat "$work/registry/log" >&2; exit 1; }
[ -e "$work/proxy/ready" ] || { echo "quickstart: FAILED: starlight-proxy did not start" >&2; cat "$work/proxy/log" >&2; exit 1; }
echo "docker-registry at $reg notifies starlight-proxy at $prx (directory DB $work/proxy/db)"
python3 tools/make-oci-layout.py "$work/oci" v1 "$layer"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci:v1" "docker://$reg/debian:v1"
echo "pushed $reg/debian:v1 (plain gzip, as docker build makes it)"
"$conv" image --plain-http "docker://$reg/debian:v1" "docker://$reg/debian:v1-starlight" | tail -n 1
# Notifications are asynchronous: wait (bounded) until the proxy has ingested both tags.
for _ in $(seq 300); do
  "$proxy" --config "$work/proxy/proxy.toml" db show debian:v1-starlight >/dev/null 2>&1 &&
    "$proxy" --config "$work/proxy/proxy.toml" db show debian:v1 >/dev/null 2>&1 && break
  sleep 0.2
done
"$proxy" --config "$work/proxy/proxy.toml" db images
echo
"$proxy" --config "$work/proxy/proxy.toml" db show debian:v1
"$proxy" --config "$work/proxy/proxy.toml" db show debian:v1-starlight
echo
grep ' hook: ' "$work/proxy/log" | grep -v ignoring | cut -c 25- | head -n 8
echo
echo "quickstart: OK — seekable layer at $work/layer.seekable.tar.gz; proxy log $work/proxy/log"
