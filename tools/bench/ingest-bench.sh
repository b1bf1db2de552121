#!/usr/bin/env bash
# Directory DB ingestion benchmark (docs/benchmarks.md), side by side in one run on two images:
#   debian     2 layers: Debian bookworm minbase + an upper layer with what
#              INCLUDE=$DEBIAN_INCLUDE adds to it (tools/make-rootfs-layer.sh, BASE=); ~30K files
#   synthetic  3 layers, $SYNTH_FILES (100 000) small files in nested directories, generated
#              here (deterministic), with overwrites, whiteouts, an opaque directory, hard links
#              and symlinks
# Each layer is gzipped (gzip -6 -n), then converted with `starlight-convert layer`; each image
# gets two tags, each an OCI layout made by tools/make-oci-layout.py: v1 (its layers) and v2 (the
# same plus one small extra layer), pushed with skopeo to a docker-registry on a free loopback
# port. Measured per image:
#   fresh        starlight-proxy --db DB --upstream REG --plain-http ingest bench/IMG:v1
#                (direct DB mode, fresh DB each run; hyperfine, --prepare wipes the DB)
#   incremental  ingest bench/IMG:v2 into a copy of the DB that holds v1 (only the extra layer is
#                new: its footer and ToC should be all that is fetched)
#   webhook      once: a registry whose notifications go to `starlight-proxy serve` (fresh DB),
#                push bench/IMG:hook (blobs already there), time from the end of the push until
#                `starlight-proxy db show bench/IMG:hook` succeeds (polled every POLL seconds)
# and reported: ingestion time, entries/files in the merged tree, DB disk_bytes (db stats) and
# bytes per file, per layer fetched_bytes / blob size and ToC bytes (db show --json).
#
#   bash tools/bench/ingest-bench.sh [OUTDIR]      (default /tmp/sl-ingest-bench)
#
# Results: OUTDIR/results.csv (one row per image and measurement), OUTDIR/layers.csv (one row
# per layer and measurement), OUTDIR/results.md (the tables), OUTDIR/runs/ (hyperfine JSON,
# ingest output, db stats, logs). Layers are built once and re-used: the Debian ones under
# $STARLIGHT_CACHE (/var/tmp/starlight-cache): rootfs/ (the minbase layer tools/test.sh makes) and
# ingest-large/ (the upper layer),
# the synthetic ones and all converted blobs under OUTDIR/layers/.
#
# Environment: RUNS (3) hyperfine runs per ingestion; IDLE_WAIT (0): before each measurement wait
# up to this many seconds for the CPUs to be >= 90 % idle (the tables record how idle they were);
# IMAGES ("debian synthetic"); DEBIAN_INCLUDE; SYNTH_FILES; POLL (0.05); STARLIGHT_CACHE;
# SL_BUILD_DIR (build, relative to the checkout) or STARLIGHT_PROXY / STARLIGHT_CONVERT (binaries);
# REPORT_ONLY=1 rewrites the CSVs and results.md from an earlier run's OUTDIR/runs/.
# Needs root (debootstrap) and Debian packages only: debootstrap, gzip, hyperfine, python3,
# skopeo, docker-registry, curl (tools/install-deps.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-/tmp/sl-ingest-bench}
mkdir -p "$work"
work=$(cd "$work" && pwd)
RUNS=${RUNS:-3}
IDLE_WAIT=${IDLE_WAIT:-0}
IMAGES=${IMAGES:-debian synthetic}
DEBIAN_INCLUDE=${DEBIAN_INCLUDE:-python3,perl,gcc,g++,make,git,linux-headers-amd64}
SYNTH_FILES=${SYNTH_FILES:-100000}
POLL=${POLL:-0.05}
REPORT_ONLY=${REPORT_ONLY:-0}
cache=${STARLIGHT_CACHE:-/var/tmp/starlight-cache}
proxy=${STARLIGHT_PROXY:-$repo/${SL_BUILD_DIR:-build}/proxy/starlight-proxy}
conv=${STARLIGHT_CONVERT:-$repo/${SL_BUILD_DIR:-build}/converter/starlight-convert}
for b in "$proxy" "$conv"; do
  [ -x "$b" ] || { echo "ingest-bench: no $b: build first (tools/build.sh, or set SL_BUILD_DIR)" >&2; exit 1; }
done
for tool in debootstrap gzip zcat hyperfine python3 skopeo docker-registry curl; do
  command -v "$tool" >/dev/null || { echo "ingest-bench: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done
log() { echo "ingest-bench: $*" >&2; }
q() { printf '%q' "$1"; }
now() { date +%s.%N; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- idle check (as convert-bench.sh) -------------------------------------------------------
BENCH_NAME=ingest-bench
# idle_pct, wait_idle
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- report ---------------------------------------------------------------------------------
# Writes results.csv, layers.csv and results.md from OUTDIR/runs/ (REPORT_ONLY=1: only this).
report() {
machine="$(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(hyperfine --version); $(docker-registry --version 2>/dev/null | awk '{print $NF}' || true); $("$proxy" --version 2>/dev/null || echo "starlight-proxy")"
# shellcheck disable=SC2086
python3 - "$work" "$machine" "$RUNS" $IMAGES <<'PY'
import csv, datetime, json, os, sys
work, machine, runs, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
R = os.path.join(work, "runs")
def load(name):
    return json.load(open(os.path.join(R, name)))
rows, lrows, webhook = [], [], {}
for img in images:
    for kind in ("fresh", "incremental", "webhook"):
        show = load(f"{img}-{kind}.show.json")
        if kind == "webhook":
            w = load(f"{img}-webhook.json")
            t = {"median": w["seconds"], "mean": w["seconds"], "stddev": 0, "min": w["seconds"], "runs": 1,
                 "cpu": None, "idle": w["idle"]}
            # The proxy's log: when it accepted the push event and finished ingesting, after the push.
            marks = {}
            for line in open(os.path.join(R, "serve.log")):
                for what in ("accepted push", "ingested"):
                    if f"hook: {what} bench/{img}:hook" in line and what not in marks:
                        ts = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
                        marks[what] = ts - w["push_end"]
            webhook[img] = {"accepted": marks.get("accepted push"), "ingested": marks.get("ingested"),
                            "last_show": w["last_show_seconds"], "failed_polls": w["failed_polls"],
                            "push": w["push_seconds"]}
            stats = load(f"{img}-webhook.stats.json")  # the hook DB holds every image pushed so far
            out = ""
        else:
            h = load(f"{img}-{kind}.json")["results"][0]
            t = {"median": h["median"], "mean": h["mean"], "stddev": h.get("stddev") or 0, "min": h["min"],
                 "runs": len(h["times"]), "cpu": h["user"] + h["system"],
                 "idle": int(open(os.path.join(R, f"{img}-{kind}.idle")).read())}
            stats = load(f"{img}-{kind}.stats.json")
            out = open(os.path.join(R, f"{img}-{kind}.out")).read().strip().splitlines()
            out = out[-1] if out else ""
        mt = show["merged_types"]
        entries = sum(mt.values())
        files = mt.get("reg", 0)
        layers = show["layers"]
        # Layers fetched by this ingestion: all for fresh; for incremental only the ones v1 lacks.
        if kind == "incremental":
            v1 = {l["digest"] for l in load(f"{img}-fresh.show.json")["layers"]}
            new = [l for l in layers if l["digest"] not in v1]
        else:
            new = layers
        fetched = sum(l["fetched_bytes"] for l in new)
        blob = sum(l["size"] for l in new)
        disk = stats["disk_bytes"] if stats else None
        rows.append({
            "image": img, "measurement": kind, "layers": len(layers), "new_layers": len(new),
            "runs": t["runs"], "seconds_median": round(t["median"], 3), "seconds_mean": round(t["mean"], 3),
            "seconds_sd": round(t["stddev"], 3), "seconds_min": round(t["min"], 3),
            "cpu_seconds": round(t["cpu"], 3) if t["cpu"] is not None else "",
            "idle_pct_before": t["idle"], "merged_entries": entries, "merged_files": files,
            "merged_bytes": show["merged_bytes"], "db_disk_bytes": disk if disk is not None else "",
            "db_bytes_per_file": round(disk / files, 1) if disk and files else "",
            "new_blob_bytes": blob, "fetched_bytes": fetched,
            "fetched_pct": round(100 * fetched / blob, 3) if blob else "",
            "toc_bytes": sum(l["toc_bytes"] for l in new), "ingest_output": out,
            "hook_accepted_s": "", "hook_ingested_s": "", "hook_last_show_s": ""})
        if kind == "webhook":
            w = webhook[img]
            rows[-1].update({"hook_accepted_s": w["accepted"], "hook_ingested_s": w["ingested"],
                             "hook_last_show_s": w["last_show"]})
            continue
        for i, l in enumerate(layers):
            is_new = l["digest"] in {n["digest"] for n in new}
            lrows.append({"image": img, "measurement": kind, "layer": i, "digest": l["digest"],
                          "new": int(is_new), "toc_entries": l["entries"], "blob_bytes": l["size"],
                          "fetched_bytes": l["fetched_bytes"] if is_new else 0,
                          "fetched_pct": round(100 * l["fetched_bytes"] / l["size"], 3) if is_new else 0,
                          "toc_bytes": l["toc_bytes"]})
for name, data in (("results.csv", rows), ("layers.csv", lrows)):
    with open(os.path.join(work, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)

def mb(n): return f"{n / 1e6:.2f} MB"
def kb(n): return f"{n / 1e3:.1f} kB"
def th(n): return f"{n:,}".replace(",", " ")
md = [f"Machine: {machine}", "",
      "| image | measurement | time | CPUs idle before | merged tree: entries / files | DB disk_bytes | bytes per file | new layers | bytes fetched / new blob bytes | ToC bytes (decoded) |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    fetched = f"{kb(r['fetched_bytes'])} / {mb(r['new_blob_bytes'])} ({r['fetched_pct']:.2f} %)"
    if r["measurement"] == "webhook":
        t = f"{r['seconds_median']:.2f} s (1 run, push end → `db show` ok)"
        disk, per = mb(r["db_disk_bytes"]) + " (hook DB, all images)", "–"
    else:
        t = f"{r['seconds_median']:.2f} s (median of {r['runs']}, min {r['seconds_min']:.2f} s; CPU {r['cpu_seconds']:.2f} s)"
        disk, per = mb(r["db_disk_bytes"]), f"{r['db_bytes_per_file'] or 0:.0f}"
    md.append(f"| {r['image']} | {r['measurement']} | {t} | {r['idle_pct_before']} % | {th(r['merged_entries'])} / {th(r['merged_files'])} | "
              f"{disk} | {per} | {r['new_layers']} of {r['layers']} | {fetched} | {kb(r['toc_bytes'])} |")
md += ["", "| image | measurement | layer | ToC entries | blob | fetched | fetched / blob | ToC bytes (decoded) |",
       "|---|---|---:|---:|---:|---:|---:|---:|"]
for l in lrows:
    f = f"{th(l['fetched_bytes'])} B" if l["new"] else "0 (known)"
    p = f"{l['fetched_pct']:.2f} %" if l["new"] else "–"
    md.append(f"| {l['image']} | {l['measurement']} | {l['layer']} | {th(l['toc_entries'])} | {mb(l['blob_bytes'])} | {f} | {p} | {kb(l['toc_bytes'])} |")
md += ["", "Webhook path, seconds after the end of the push (skopeo copy of an image whose blobs are already in the registry; proxy log timestamps have ms resolution):", "",
       "| image | push (s) | event accepted by the proxy | ingestion done (proxy log) | `db show` ok | of which the last `db show` call | failed polls before |",
       "|---|---:|---:|---:|---:|---:|---:|"]
for img, w in webhook.items():
    f = lambda x: "?" if x is None else f"{x:.2f} s"
    md.append(f"| {img} | {w['push']:.2f} | {f(w['accepted'])} | {f(w['ingested'])} | "
              f"{next(r['seconds_median'] for r in rows if r['image'] == img and r['measurement'] == 'webhook'):.2f} s | "
              f"{w['last_show']:.2f} s | {w['failed_polls']} |")
worst = max((l["fetched_pct"] for l in lrows if l["new"]), default=0)
md += ["", f"Largest fetched / blob over the ingested layers: {worst:.2f} % (goal: < 2 %, footer + ToC only)."]
open(os.path.join(work, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
}

if [ "$REPORT_ONLY" = 1 ]; then
  report
  exit 0
fi

# --- layers ---------------------------------------------------------------------------------
# gen_layer N OUT.tar.gz: layer N (1-3) of the synthetic image, or N=extra-NAME: a small
# extra layer. Deterministic: same bytes every time (fixed seeds, mtimes, owners; gzip -n).
gen_layer() {
  python3 - "$1" "$SYNTH_FILES" <<'PY' | gzip -6 -n >"$2.tmp"
import io, math, random, sys, tarfile
which, total = sys.argv[1], int(sys.argv[2])
MTIME = 1700000000
vocab_rng = random.Random(7)
vocab = ["".join(vocab_rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(vocab_rng.randint(2, 10)))
         for _ in range(4000)]
corpus_rng = random.Random(11)
corpus = " ".join(corpus_rng.choice(vocab) + ("\n" if corpus_rng.random() < 0.1 else "")
                  for _ in range(400000)).encode()
tf = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)
dirs = set()

def info(name, kind=tarfile.REGTYPE, size=0, mode=0o644, link=""):
    t = tarfile.TarInfo(name)
    t.type, t.size, t.mode, t.mtime, t.linkname = kind, size, mode, MTIME, link
    t.uid = t.gid = 0
    t.uname = t.gname = "root"
    return t

def parents(path):
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        d = "/".join(parts[:i])
        if d not in dirs:
            dirs.add(d)
            tf.addfile(info(d, tarfile.DIRTYPE, mode=0o755))

def add(path, rng, kind=tarfile.REGTYPE, link=""):
    parents(path)
    if kind != tarfile.REGTYPE:
        tf.addfile(info(path, kind, mode=0o777 if kind == tarfile.SYMTYPE else 0o644, link=link))
        return
    # Log-uniform sizes from 32 B to 16 KiB (median 724 B, mean 2.6 KiB).
    size = int(math.exp(rng.uniform(math.log(32), math.log(16384))))
    off = rng.randrange(len(corpus) - size)
    tf.addfile(info(path, size=size), io.BytesIO(corpus[off:off + size]))

def path(layer, i, name="f"):  # layer's i-th file: 40 x 25 directories, 3 levels deep
    return f"srv/bench/p{layer}/d{i % 40:02}/e{(i // 40) % 25:02}/{name}{i:06}.txt"

counts = [total * 5 // 10, total * 3 // 10]
counts.append(total - sum(counts))
if which.startswith("extra-"):
    rng = random.Random(99)
    for i in range(20):
        add(f"opt/{which}/file{i:02}.txt", rng)
elif which == "1":
    rng = random.Random(1001)
    for p in sorted(path(1, i) for i in range(counts[0])):
        add(p, rng)
elif which == "2":
    rng = random.Random(1002)
    entries = []
    # Half in layer 1's directories (merged directories), half in its own.
    for i in range(counts[1]):
        entries.append((path(1, i, "g") if i % 2 else path(2, i), tarfile.REGTYPE, ""))
    for i in range(0, min(1000, counts[1]), 10):  # 100 hard links and 100 symlinks to this layer's files
        entries.append((path(2, i, "h"), tarfile.LNKTYPE, path(2, i)))
        entries.append((path(2, i, "s"), tarfile.SYMTYPE, f"f{i:06}.txt"))
    for p, kind, link in sorted(entries):
        add(p, rng, kind, link)
else:
    rng = random.Random(1003)
    entries = [(path(3, i), "") for i in range(counts[2] - 200)]
    entries += [(path(1, i), "") for i in range(40, min(40 + 200 * 41, counts[0]), 41)]  # 200 overwrites of layer 1 files
    for i in range(7, min(7 + 100 * 97, counts[0]), 97):  # 100 whiteouts of layer 1 files
        d, n = path(1, i).rsplit("/", 1)
        entries.append((f"{d}/.wh.{n}", "wh"))
    # An opaque directory: layer 1's srv/bench/p1/d00/e00 is replaced by 5 new files.
    entries.append(("srv/bench/p1/d00/e00/.wh..wh..opq", "wh"))
    entries += [(f"srv/bench/p1/d00/e00/new{i}.txt", "") for i in range(5)]
    for p, wh in sorted(entries):
        if wh:
            parents(p)
            tf.addfile(info(p, size=0))
        else:
            add(p, rng)
tf.close()
PY
  mv "$2.tmp" "$2"
}

# convert IN OUT: starlight-convert layer, once (re-used while OUT is newer than IN).
convert() {
  if [ ! -s "$2" ] || [ "$2" -ot "$1" ]; then
    log "converting $1"
    "$conv" layer "$1" "$2" 2>"$2.log"
  fi
}

layers_of=()  # per image: "name=original.tar.gz ..." (base layers), extra layer last
for img in $IMAGES; do
  d="$work/layers/$img"
  mkdir -p "$d"
  case "$img" in
    debian)
      INCLUDE='' bash "$repo/tools/make-rootfs-layer.sh" "$cache/rootfs" >&2
      INCLUDE=$DEBIAN_INCLUDE BASE=$cache/rootfs bash "$repo/tools/make-rootfs-layer.sh" "$cache/ingest-large" >&2
      ln -sf "$cache/rootfs/layer.tar.gz" "$d/minbase.tar.gz"
      ln -sf "$cache/ingest-large/layer.tar.gz" "$d/upper.tar.gz"
      base="minbase upper"
      ;;
    synthetic)
      stamp="files=$SYNTH_FILES gen=2"
      if [ "$(cat "$d/stamp" 2>/dev/null)" != "$stamp" ]; then
        for n in 1 2 3; do log "generating synthetic layer $n"; gen_layer "$n" "$d/layer$n.tar.gz"; done
        echo "$stamp" >"$d/stamp"
      fi
      base="layer1 layer2 layer3"
      ;;
    *) log "unknown image $img (debian, synthetic)"; exit 1 ;;
  esac
  [ -s "$d/extra.tar.gz" ] || gen_layer "extra-$img" "$d/extra.tar.gz"
  for l in $base extra; do convert "$d/$l.tar.gz" "$d/$l.sl.tar.gz"; done
  layers_of+=("$img:$base")
done

# --- OCI layouts (tools/make-oci-layout.py): oci/IMG-v1 = the image's layers, oci/IMG-v2 = the
# same + the extra layer ---------------------------------------------------------------------
for entry in "${layers_of[@]}"; do
  img=${entry%%:*}
  blobs=()
  for l in ${entry#*:}; do blobs+=("$work/layers/$img/$l.sl.tar.gz"); done
  rm -rf "$work/oci/$img-v1" "$work/oci/$img-v2"
  python3 "$repo/tools/make-oci-layout.py" "$work/oci/$img-v1" v1 "${blobs[@]}"
  python3 "$repo/tools/make-oci-layout.py" "$work/oci/$img-v2" v2 "${blobs[@]}" "$work/layers/$img/extra.sl.tar.gz"
done

# --- registry -------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
reg="127.0.0.1:$port"
rm -rf "$work/registry" "$work/runs" "$work/db"
mkdir -p "$work/registry" "$work/runs"
reg_pid=
# start_registry [NOTIFY_URL SECRET]: (re)starts docker-registry on $reg over the same storage.
start_registry() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid"; wait "$reg_pid" 2>/dev/null || true; fi
  {
    echo "version: 0.1"
    echo "log: {level: warn, formatter: text}"
    echo "storage: {filesystem: {rootdirectory: $work/registry/data}, delete: {enabled: true}, maintenance: {uploadpurging: {enabled: false}}}"
    echo "http: {addr: $reg, secret: ingest-bench}"
    if [ $# -gt 0 ]; then
      cat <<YML
notifications:
  endpoints:
    - name: starlight
      url: $1
      headers:
        Authorization: [Bearer $2]
      timeout: 5s
      threshold: 5
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
YML
    fi
  } >"$work/registry/config.yml"
  env -u REGISTRY_HTTP_ADDR docker-registry serve "$work/registry/config.yml" >>"$work/registry/log" 2>&1 &
  reg_pid=$!
  pids+=("$reg_pid")
  for _ in $(seq 100); do curl -fs "http://$reg/v2/" >/dev/null && return 0; sleep 0.1; done
  log "docker-registry did not start (log: $work/registry/log)"
  exit 1
}
start_registry
for entry in "${layers_of[@]}"; do
  img=${entry%%:*}
  for tag in v1 v2; do
    skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci/$img-$tag:$tag" "docker://$reg/bench/$img:$tag"
  done
done

# --- measurements ---------------------------------------------------------------------------
ingest_cmd() {  # ingest_cmd DB REF OUT
  echo "$(q "$proxy") --log-level warn --db $(q "$1") --upstream $reg --plain-http ingest $(q "$2") > $(q "$3") 2>&1"
}
# summarize IMG KIND REF: db stats --json and a digest of db show --json of the DB $db into
# runs/IMG-KIND.{stats,show}.json
summarize() {
  local out="$work/runs/$1-$2"
  "$proxy" --db "$db" db stats --json >"$out.stats.json"
  "$proxy" --db "$db" db show "$3" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
img = j["images"][0]
counts = {}  # merged tree entries by type (a hard link counts as its target: "reg")
for n in img.get("merged", []):
    counts[n["type"]] = counts.get(n["type"], 0) + 1
layers = [{k: l[k] for k in ("digest", "size", "toc_bytes", "fetched_bytes", "seekable")} |
          {"entries": len(l.get("toc", {}).get("entries", []))} for l in img["layers"]]
json.dump({"digest": j["digest"], "merged_bytes": img.get("merged_bytes", 0), "merged_types": counts,
           "layers": layers}, sys.stdout, indent=1)
' >"$out.show.json"
}

db="$work/db/current"
for entry in "${layers_of[@]}"; do
  img=${entry%%:*}
  mkdir -p "$work/db"
  # 1. fresh DB, tag v1.
  log "$img: ingest v1 into a fresh DB ($RUNS runs)"
  idle=$(wait_idle)
  hyperfine --style basic --runs "$RUNS" --prepare "rm -rf $(q "$db")" --export-json "$work/runs/$img-fresh.json" \
    -n "$img fresh" "$(ingest_cmd "$db" "bench/$img:v1" "$work/runs/$img-fresh.out")" >&2
  echo "$idle" >"$work/runs/$img-fresh.idle"
  summarize "$img" fresh "bench/$img:v1"
  rm -rf "$work/db/$img-v1"
  cp -a "$db" "$work/db/$img-v1"
  # 2. tag v2 (v1's layers + 1 small layer) into a DB holding v1.
  log "$img: ingest v2 into the DB holding v1 ($RUNS runs)"
  idle=$(wait_idle)
  hyperfine --style basic --runs "$RUNS" --prepare "rm -rf $(q "$db") && cp -a $(q "$work/db/$img-v1") $(q "$db")" \
    --export-json "$work/runs/$img-incremental.json" -n "$img incremental" \
    "$(ingest_cmd "$db" "bench/$img:v2" "$work/runs/$img-incremental.out")" >&2
  echo "$idle" >"$work/runs/$img-incremental.idle"
  summarize "$img" incremental "bench/$img:v2"
  rm -rf "$db" "$work/db/$img-v1"
done

# 3. The webhook path: registry notifications -> starlight-proxy serve (fresh DB) -> db show.
secret=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
pport=$(free_port)
purl="http://127.0.0.1:$pport"
start_registry "$purl/v1/registry/events" "$secret"
hookdb="$work/db/hook"
rm -rf "$hookdb"
STARLIGHT_WEBHOOK_SECRET=$secret "$proxy" --log-level info --db "$hookdb" --upstream "$reg" --plain-http \
  --listen "127.0.0.1:$pport" serve >"$work/runs/serve.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
for _ in $(seq 100); do curl -fs "$purl/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$purl/healthz" >/dev/null || { log "starlight-proxy serve did not start (log: $work/runs/serve.log)"; exit 1; }
show() { "$proxy" --db "$hookdb" --proxy-url "$purl" --admin-token "$secret" db show "$1" >/dev/null 2>&1; }
for entry in "${layers_of[@]}"; do
  img=${entry%%:*}
  log "$img: push bench/$img:hook to the registry with notifications, wait for db show"
  idle=$(wait_idle)
  t0=$(now)
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci/$img-v1:v1" "docker://$reg/bench/$img:hook"
  t1=$(now)
  polls=0
  while :; do
    p0=$(now)
    show "bench/$img:hook" && break
    polls=$((polls + 1))
    [ "$polls" -lt $((600 * 20)) ] || { log "bench/$img:hook never appeared (log: $work/runs/serve.log)"; exit 1; }
    sleep "$POLL"
  done
  t2=$(now)
  # push_end: epoch seconds, to place the proxy's log lines (accepted, ingested) after it.
  echo "{\"push_seconds\": $(awk "BEGIN{print $t1 - $t0}"), \"push_end\": $t1, \"seconds\": $(awk "BEGIN{print $t2 - $t1}"), \"failed_polls\": $polls, \"last_show_seconds\": $(awk "BEGIN{print $t2 - $p0}"), \"idle\": $idle}" \
    >"$work/runs/$img-webhook.json"
done
kill "$proxy_pid"
wait "$proxy_pid" 2>/dev/null || true
# Read the hook DB directly once the proxy is stopped: through the admin API, `db show --json`
# of a large image comes back cut at 1 MiB (core/http keeps at most 1 MiB of a GET body read
# without on_body).
db=$hookdb
for entry in "${layers_of[@]}"; do
  img=${entry%%:*}
  summarize "$img" webhook "bench/$img:hook"
done
cp "$work/registry/log" "$work/runs/registry.log"

report
