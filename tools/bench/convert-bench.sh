#!/usr/bin/env bash
# Conversion benchmark (docs/benchmarks.md): on two Debian bookworm layers, times
#   zcat layer.tar.gz | gzip -6 > /dev/null      (the baseline)
#   zcat layer.tar.gz | pigz -6                  (reference: parallel gzip)
#   starlight-convert layer --level auto|6|9|12  (and auto with -j 1)
#   starlight-convert inspect --verify
# side by side with hyperfine, reads the output sizes and prints a Markdown table with the time
# ratio against the baseline and the size overhead against the original tar.gz.
#
#   tools/bench/convert-bench.sh [WORKDIR]      (default /tmp/sl-bench)
#
# Layers (built once, then re-used; both with tools/make-rootfs-layer.sh, gzip -6 -n):
#   WORKDIR/minbase  debootstrap --variant=minbase bookworm
#   WORKDIR/large    the same plus --include=$LARGE_INCLUDE (python3, perl, gcc, g++, make, git)
# Results: WORKDIR/results/<layer>/*.json (hyperfine), WORKDIR/results.md (the tables).
#
# Environment: RUNS (3) runs per command, WARMUP (0) warm-up runs; SLOW_RUNS (1) for the slow
# commands (--level 12, -j 1); IDLE_WAIT (0): before each command wait up to this many seconds
# for the CPUs to be >= 90 % idle (other processes make wall times meaningless; the table also
# gives CPU time and how idle the CPUs were before each command); LARGE_INCLUDE; LAYERS
# ("minbase large"); STARLIGHT_CONVERT (binary; default: build/ of this checkout, built with
# cmake+ninja when needed); REPORT_ONLY=1 rewrites results.md from the existing results.
# Every input is read once before timing so all commands find it in the page cache.
# Needs only Debian packages: debootstrap, gzip, pigz, hyperfine, python3 (+ the build deps).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-/tmp/sl-bench}
mkdir -p "$work"
work=$(cd "$work" && pwd)
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-0}
SLOW_RUNS=${SLOW_RUNS:-1}
IDLE_WAIT=${IDLE_WAIT:-0}
LARGE_INCLUDE=${LARGE_INCLUDE:-python3,perl,gcc,g++,make,git}
LAYERS=${LAYERS:-minbase large}
REPORT_ONLY=${REPORT_ONLY:-0}

for tool in debootstrap gzip zcat pigz hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "convert-bench: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done

bin=${STARLIGHT_CONVERT:-}
if [ -z "$bin" ] && [ "$REPORT_ONLY" = 1 ]; then
  bin="$repo/build/converter/starlight-convert"
elif [ -z "$bin" ]; then
  bin="$repo/build/converter/starlight-convert"
  if [ ! -f "$repo/build/build.ninja" ]; then
    cmake -S "$repo" -B "$repo/build" -G Ninja >/dev/null
  fi
  ninja -C "$repo/build" starlight-convert >/dev/null
fi
[ -x "$bin" ] || { echo "convert-bench: no starlight-convert at $bin" >&2; exit 1; }

# --- layers ---------------------------------------------------------------------------------
[ "$REPORT_ONLY" = 1 ] || for layer in $LAYERS; do
  case "$layer" in
    minbase) INCLUDE='' bash "$repo/tools/make-rootfs-layer.sh" "$work/minbase" ;;
    large) INCLUDE=$LARGE_INCLUDE bash "$repo/tools/make-rootfs-layer.sh" "$work/large" ;;
    *) echo "convert-bench: unknown layer $layer (minbase, large)" >&2; exit 1 ;;
  esac
done

# --- timings --------------------------------------------------------------------------------
q() { printf '%q' "$1"; }

BENCH_NAME=convert-bench
# idle_pct, wait_idle
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# bench NAME RUNS COMMAND: one hyperfine measurement, in results order.
bench() {
  local n idle
  bench_index=$((bench_index + 1))
  n=$(printf '%02d' "$bench_index")
  idle=$(wait_idle)
  hyperfine --style basic --warmup "$WARMUP" --runs "$2" --export-json "$res/$n.json" -n "$1" "$3" >&2
  echo "$idle" >"$res/$n.idle"
}

[ "$REPORT_ONLY" = 1 ] || for layer in $LAYERS; do
  in="$work/$layer/layer.tar.gz"
  res="$work/results/$layer"
  rm -rf "$res"
  mkdir -p "$res"
  cat "$in" >/dev/null  # page cache
  echo "convert-bench: $layer: $(stat -c %s "$in") bytes, timing ($RUNS runs; $SLOW_RUNS for slow commands)" >&2
  bench_index=0
  conv() {  # conv LEVEL OUT [ARGS...]: the starlight-convert layer command
    local level=$1 out=$2
    shift 2
    echo "$(q "$bin") layer $(q "$in") $(q "$res/$out.tar.gz") --level $level $* 2> $(q "$res/$out.log")"
  }
  bench 'zcat | gzip -6' "$RUNS" "zcat $(q "$in") | gzip -6 > /dev/null"
  bench 'zcat | pigz -6' "$RUNS" "zcat $(q "$in") | pigz -6 > $(q "$res/pigz6.gz")"
  bench 'starlight --level auto' "$RUNS" "$(conv auto level-auto)"
  bench 'starlight --level auto -j 1' "$SLOW_RUNS" "$(conv auto level-auto-j1 -j 1)"
  bench 'starlight --level 6' "$RUNS" "$(conv 6 level-6)"
  bench 'starlight --level 9' "$RUNS" "$(conv 9 level-9)"
  bench 'starlight --level 12' "$SLOW_RUNS" "$(conv 12 level-12)"
  bench 'starlight inspect --verify' "$RUNS" "$(q "$bin") inspect --verify $(q "$res/level-auto.tar.gz") > /dev/null"
  # The converted blob must decompress to the original tar, byte for byte.
  if ! cmp -s <(zcat "$in") <(zcat "$res/level-auto.tar.gz"); then
    echo "convert-bench: $layer: converted blob does not decompress to the original tar" >&2
    exit 1
  fi
  "$bin" inspect --json "$res/level-auto.tar.gz" >"$res/toc.json"
done

# --- report ---------------------------------------------------------------------------------
estargz_note="ctr-remote not installed: no eStargz comparison."
if command -v ctr-remote >/dev/null; then
  estargz_note="eStargz skipped: ctr-remote ($(ctr-remote --version 2>/dev/null | awk '{print $NF}')) converts only images held by a running containerd (\`ctr-remote image convert --estargz --oci SRC DST\`); it has no standalone mode for one tar.gz layer. The image-level eStargz comparison is left to a later issue."
fi
machine="$(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(gzip --version | head -1), pigz $(pigz --version 2>&1 | awk '{print $2}'), $(hyperfine --version); $("$bin" --version 2>/dev/null || echo "starlight-convert ?")"

# shellcheck disable=SC2086  # LAYERS is a word list
python3 - "$work" "$machine" "$estargz_note" $LAYERS >"$work/results.md" <<'EOF'
import glob, json, os, re, sys

work, machine, estargz_note, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def mb(n):
    return f"{n / 1e6:.2f} MB"

out = [f"Machine: {machine}", ""]
summary = ["| layer | entries | regular files | tar | tar.gz | ToC (auto) |",
           "|---|---:|---:|---:|---:|---:|"]
table = ["| layer | tar | tar.gz | tool | time (mean ± sd) | min | CPU (user+sys) | CPUs idle before | "
         "speedup vs `zcat \\| gzip -6` | output | overhead |",
         "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
for layer in layers:
    res = os.path.join(work, "results", layer)
    gz = os.path.getsize(os.path.join(work, layer, "layer.tar.gz"))
    toc = json.load(open(os.path.join(res, "toc.json")))
    tar = toc["tar_size"]
    regs = sum(1 for e in toc["entries"] if e["type"] == "reg")
    m = re.search(r"ToC ([0-9.]+ [kMG]?B)", open(os.path.join(res, "level-auto.log")).read())
    summary.append(f"| {layer} | {len(toc['entries'])} | {regs} | {mb(tar)} | {mb(gz)} | {m.group(1) if m else '?'} |")
    results = []
    for f in sorted(glob.glob(os.path.join(res, "[0-9][0-9].json"))):
        r = json.load(open(f))["results"][0]
        r["idle"] = open(f[:-len("json")] + "idle").read().strip()
        results.append(r)
    base = next(r for r in results if r["command"] == "zcat | gzip -6")["mean"]
    for r in results:
        cmd = r["command"]
        if cmd == "zcat | gzip -6":
            # To /dev/null; the same bytes as the input, which gzip -6 -n made from the same tar.
            size, over = f"{mb(gz)} (= input)", "0 %"
        elif cmd == "starlight inspect --verify":
            size, over = "–", "–"
        else:
            f = "pigz6.gz" if "pigz" in cmd else \
                "level-" + cmd.split("--level ")[1].replace(" -j 1", "-j1") + ".tar.gz"
            n = os.path.getsize(os.path.join(res, f))
            size, over = mb(n), f"{(n - gz) / gz * 100:+.2f} %"
        if len(r["times"]) > 1:
            t = f"{r['mean']:.2f} ± {r['stddev']:.2f} s"
        else:
            t = f"{r['mean']:.2f} s (1 run)"
        cell = cmd.replace("|", "\\|")  # a pipe inside a table cell, even in a code span
        table.append(f"| {layer} | {mb(tar)} | {mb(gz)} | `{cell}` | {t} | {r['min']:.2f} s | {r['user'] + r['system']:.2f} s | "
                     f"{r['idle']} % | {base / r['mean']:.2f}× | {size} | {over} |")
out += summary + [""] + table + ["", estargz_note]
print("\n".join(out))
EOF
cat "$work/results.md"
