#!/usr/bin/env bash
# Image conversion benchmark, registry -> registry on loopback, side by side in one run:
#   starlight-convert image        (pull, convert every layer, push)
#   ctr-remote image convert --estargz (containerd's eStargz converter: pull + convert + push)
#   zcat | gzip -6 of the image's layers (the recompression baseline)
# on the Debian minbase sample image (tools/make-rootfs-layer.sh). Prints a Markdown table.
#
#   bash tools/bench/image-bench.sh [WORKDIR] [RUNS]
# Needs root (containerd), the release build (tools/build.sh) and tools/install-deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/var/tmp/starlight-image-bench}
runs=${2:-3}
conv="$root/${SL_BUILD_DIR:-build}/converter/starlight-convert"
[ -x "$conv" ] || { echo "image-bench: build first (tools/build.sh)" >&2; exit 1; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
bash "$root/tools/make-rootfs-layer.sh" "$work/rootfs" >/dev/null
layer="$work/rootfs/layer.tar.gz"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  umount -R "$work/ctd/root" 2>/dev/null || true
}
trap cleanup EXIT

# A registry on a free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg="127.0.0.1:$port"
rm -rf "$work/registry" "$work/ctd" "$work/oci"
mkdir -p "$work/registry" "$work/ctd"
cat >"$work/registry/config.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}}
http: {addr: $reg}
YML
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done

# The sample image as an OCI layout (one layer: the minbase rootfs), pushed with skopeo.
python3 "$root/tools/make-oci-layout.py" "$work/oci" v1 "$layer"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci:v1" "docker://$reg/bench/debian:v1"

# containerd for ctr-remote, all state under $work/ctd.
cat >"$work/ctd/config.toml" <<TOML
version = 2
root = "$work/ctd/root"
state = "$work/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$work/ctd/sock"
TOML
containerd --config "$work/ctd/config.toml" >"$work/ctd/log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/ctd/sock" ] && break; sleep 0.1; done
ctr() { ctr-remote -a "$work/ctd/sock" "$@"; }

now() { date +%s.%N; }
stats() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v) if len(v)>1 else 0))' "$@"; }
mean() { python3 -c 'import statistics,sys; print(statistics.mean(float(x) for x in sys.argv[1:]))' "$@"; }

t_sl=() t_esgz=() t_esgz_conv=() t_gzip=()
for i in $(seq "$runs"); do
  # zcat | gzip -6 of the layer (what any recompressing converter must at least do).
  a=$(now); zcat "$layer" | gzip -6 >/dev/null; b=$(now); t_gzip+=("$(awk "BEGIN{print $b - $a}")")
  # Starlight: registry -> registry, a fresh repository each run (no blob re-use).
  a=$(now)
  "$conv" image -q --plain-http "docker://$reg/bench/debian:v1" "docker://$reg/bench/sl$i:v1"
  b=$(now); t_sl+=("$(awk "BEGIN{print $b - $a}")")
  # eStargz with ctr-remote: pull, convert, push (fresh content store each run).
  ctr image rm "$reg/bench/debian:v1" "$reg/bench/esgz$i:v1" >/dev/null 2>&1 || true
  ctr content ls -q | xargs -r ctr content rm >/dev/null 2>&1 || true
  a=$(now)
  ctr image pull --plain-http "$reg/bench/debian:v1" >/dev/null
  c=$(now)
  ctr image convert --estargz --oci "$reg/bench/debian:v1" "$reg/bench/esgz$i:v1" >/dev/null
  d=$(now)
  ctr image push --plain-http "$reg/bench/esgz$i:v1" >/dev/null
  b=$(now)
  t_esgz+=("$(awk "BEGIN{print $b - $a}")")
  t_esgz_conv+=("$(awk "BEGIN{print $d - $c}")")
done

size_of() {  # layer size of an image in the registry
  curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/$1/manifests/$2" |
    python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))'
}
orig=$(size_of bench/debian v1)
sl=$(size_of bench/sl1 v1)
esgz=$(size_of bench/esgz1 v1)
base=$(mean "${t_gzip[@]}")
pct() { python3 -c "print('%+.2f %%' % (($1 - $2) * 100 / $2))"; }
speed() { python3 -c "print('%.2fx' % ($base / $1))"; }
echo
echo "Debian bookworm minbase image, 1 layer ($orig bytes tar.gz), $runs runs, $(nproc) cores, registry on loopback"
echo
echo "| tool | time (s) | speed vs zcat\|gzip -6 | layer bytes | overhead vs original |"
echo "|---|---|---|---|---|"
echo "| zcat \| gzip -6 (layer only) | $(stats "${t_gzip[@]}") | 1.00x | | |"
echo "| starlight-convert image (pull+convert+push) | $(stats "${t_sl[@]}") | $(speed "$(mean "${t_sl[@]}")") | $sl | $(pct "$sl" "$orig") |"
echo "| ctr-remote convert --estargz (pull+convert+push) | $(stats "${t_esgz[@]}") | $(speed "$(mean "${t_esgz[@]}")") | $esgz | $(pct "$esgz" "$orig") |"
echo "| ctr-remote convert --estargz (convert step only) | $(stats "${t_esgz_conv[@]}") | $(speed "$(mean "${t_esgz_conv[@]}")") | | |"
python3 -c "print('\nstarlight-convert image vs ctr-remote (pull+convert+push): %.2fx faster' % ($(mean "${t_esgz[@]}") / $(mean "${t_sl[@]}")))"
