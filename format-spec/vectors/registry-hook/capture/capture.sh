#!/usr/bin/env bash
# Captures real docker-registry notification envelopes for format-spec/registry-hook.md.
#
# Starts Debian's /usr/bin/docker-registry (2.8.x) on 127.0.0.1 with three notification endpoints
# pointing at listener.py ("all": every event; "filtered": ignoredmediatypes
# [application/octet-stream], as docs/registry-setup.md recommends; "quiet": also drops pull and
# mount actions with `ignore: actions:`), then pushes, pulls and
# deletes a tiny hand-made image with skopeo and curl. Every POST the registry makes is saved as
# OUT/<step>/<endpoint>/<NNN>.body plus <NNN>.headers.json; the HTTP status of each curl call is
# saved in OUT/<step>/status.txt. Everything runs in a temporary directory on loopback and is
# stopped on exit. Needs: docker-registry, skopeo, curl, python3.
#
# Usage: capture.sh OUT     (the checked-in captures are OUT = ../captured)
set -euo pipefail

out=$(realpath -m "${1:?usage: capture.sh OUT}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/sl-hook-capture.XXXXXX)
registry_pid="" listener_pid=""
cleanup() {
  set +e
  [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null && wait "$listener_pid" 2>/dev/null
  rm -rf "$work"
  return 0
}
trap cleanup EXIT
mkdir -p "$out"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until the listener has received nothing new for 2 s (the registry sends asynchronously).
settle() {
  local last=-1 now
  while :; do
    now=$(find "$out" -name '*.body' | wc -l)
    [[ $now == "$last" ]] && return
    last=$now
    sleep 2
  done
}
step() { settle; echo "$1" > "$out/.step"; mkdir -p "$out/$1"; echo "== $1" >&2; }
# curl with the status code recorded in OUT/<step>/status.txt.
rcurl() {
  local st
  st=$(curl -s -o "$work/curl.out" -w '%{http_code}' "$@")
  echo "$* -> $st $(head -c 300 "$work/curl.out")" >> "$out/$(cat "$out/.step")/status.txt"
}

python3 "$here/listener.py" "$out" "$work/listener.port" & listener_pid=$!
for _ in $(seq 50); do [[ -s $work/listener.port ]] && break; sleep 0.1; done
lport=$(cat "$work/listener.port")
rport=$(free_port)
reg=127.0.0.1:$rport

cat > "$work/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/storage
  delete:
    enabled: true
http:
  addr: $reg
notifications:
  endpoints:
    - name: all
      url: http://127.0.0.1:$lport/all/v1/registry/events
      headers:
        Authorization: [Bearer capture-secret]
      timeout: 2s
      threshold: 5
      backoff: 1s
    - name: filtered
      url: http://127.0.0.1:$lport/filtered/v1/registry/events
      headers:
        Authorization: [Bearer capture-secret]
      timeout: 2s
      threshold: 5
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
    - name: quiet
      url: http://127.0.0.1:$lport/quiet/v1/registry/events
      headers:
        Authorization: [Bearer capture-secret]
      timeout: 2s
      threshold: 5
      backoff: 1s
      ignore:
        mediatypes: [application/octet-stream]
        actions: [pull, mount]
EOF
docker-registry serve "$work/config.yml" > "$work/registry.log" 2>&1 & registry_pid=$!
for _ in $(seq 100); do curl -sf "http://$reg/v2/" > /dev/null && break; sleep 0.1; done
docker-registry --version > "$out/registry-version.txt"
skopeo --version >> "$out/registry-version.txt"

python3 "$here/make_layout.py" "$work/layout"
single=sha256:$(sha256sum < "$work/layout/blobs/sha256/$(jq -r '.manifests[0].digest' "$work/layout/index.json" | cut -d: -f2)" | cut -d' ' -f1)
layer=$(jq -r '.layers[0].digest' "$work/layout/blobs/sha256/${single#sha256:}")
export HOME=$work/home  # a fresh skopeo blob-info cache
sk() { skopeo --insecure-policy "$@"; }
tls=(--dest-tls-verify=false)

step 01-push-oci-manifest
sk copy "${tls[@]}" "oci:$work/layout:single" "docker://$reg/library/hello:1.0"

step 02-push-docker-schema2
sk copy "${tls[@]}" --format v2s2 "oci:$work/layout:single" "docker://$reg/team/app:v2"

step 03-pull
sk copy --src-tls-verify=false "docker://$reg/library/hello:1.0" "oci:$work/pulled:x"

step 04-push-oci-index
sk copy "${tls[@]}" --all "oci:$work/layout:multi" "docker://$reg/library/multi:latest"

step 05-push-docker-manifest-list
sk copy "${tls[@]}" --all --format v2s2 "oci:$work/layout:multi" "docker://$reg/library/multi:docker" \
  2> "$out/05-push-docker-manifest-list/skopeo.stderr" || echo "skopeo failed (see skopeo.stderr)" >&2

step 06-push-by-digest
rcurl -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
  --data-binary "@$work/layout/blobs/sha256/${single#sha256:}" "http://$reg/v2/library/hello/manifests/$single"

step 07-delete-manifest-by-digest
rcurl -X DELETE "http://$reg/v2/library/hello/manifests/$single"

step 08-delete-by-tag
rcurl -X DELETE "http://$reg/v2/library/multi/manifests/latest"

step 09-delete-blob
rcurl -X DELETE "http://$reg/v2/team/app/blobs/$layer"

settle
rm -f "$out/.step"
cp "$work/registry.log" "$out/registry.log"
echo "captured into $out" >&2
