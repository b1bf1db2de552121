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
# Results: WORKDIR/results/<layer>/*.json (hyperfine), WORKDIR/results.md (the table).
#
# Environment: RUNS (3) and WARMUP (0) runs per command; SLOW_RUNS (1) for the slow commands
# (--level 12, -j 1); LARGE_INCLUDE; STARLIGHT_CONVERT (binary; default: build/ of this
# checkout, built with cmake+ninja when missing); LAYERS ("minbase large").
# Every input is read once before timing so all commands see it in the page cache.
# Needs only Debian packages: debootstrap, gzip, pigz, hyperfine, python3 (+ the build deps).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-/tmp/sl-bench}
mkdir -p "$work"
work=$(cd "$work" && pwd)
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-0}
SLOW_RUNS=${SLOW_RUNS:-1}
LARGE_INCLUDE=${LARGE_INCLUDE:-python3,perl,gcc,g++,make,git}
LAYERS=${LAYERS:-minbase large}

for tool in debootstrap gzip zcat pigz hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "convert-bench: $tool not found (tools/install-deps.sh)" >&2; exit 1; }
done

bin=${STARLIGHT_CONVERT:-}
if [ -z "$bin" ]; then
  bin="$repo/build/converter/starlight-convert"
  if [ ! -f "$repo/build/build.ninja" ]; then
    cmake -S "$repo" -B "$repo/build" -G Ninja >/dev/null
  fi
  ninja -C "$repo/build" starlight-convert >/dev/null
fi
[ -x "$bin" ] || { echo "convert-bench: no starlight-convert at $bin" >&2; exit 1; }

# --- layers ---------------------------------------------------------------------------------
for layer in $LAYERS; do
  case "$layer" in
    minbase) INCLUDE= bash "$repo/tools/make-rootfs-layer.sh" "$work/minbase" ;;
    large) INCLUDE=$LARGE_INCLUDE bash "$repo/tools/make-rootfs-layer.sh" "$work/large" ;;
    *) echo "convert-bench: unknown layer $layer (minbase, large)" >&2; exit 1 ;;
  esac
done

# --- timings --------------------------------------------------------------------------------
q() { printf '%q' "$1"; }
for layer in $LAYERS; do
  in="$work/$layer/layer.tar.gz"
  res="$work/results/$layer"
  rm -rf "$res"
  mkdir -p "$res"
  cat "$in" >/dev/null  # page cache
  echo "convert-bench: $layer: $(stat -c %s "$in") bytes, timing ($RUNS runs; $SLOW_RUNS for slow commands)" >&2
  fast=(
    -n 'zcat | gzip -6' "zcat $(q "$in") | gzip -6 > /dev/null"
    -n 'zcat | pigz -6' "zcat $(q "$in") | pigz -6 > $(q "$res/pigz6.gz")"
  )
  for level in auto 6 9; do
    fast+=(-n "starlight --level $level"
      "$(q "$bin") layer $(q "$in") $(q "$res/level-$level.tar.gz") --level $level 2> $(q "$res/level-$level.log")")
  done
  fast+=(-n 'starlight inspect --verify' "$(q "$bin") inspect --verify $(q "$res/level-auto.tar.gz") > /dev/null")
  slow=(
    -n 'starlight --level 12' "$(q "$bin") layer $(q "$in") $(q "$res/level-12.tar.gz") --level 12 2> $(q "$res/level-12.log")"
    -n 'starlight --level auto -j 1' "$(q "$bin") layer $(q "$in") $(q "$res/level-auto-j1.tar.gz") --level auto -j 1 2> $(q "$res/level-auto-j1.log")"
  )
  hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$res/fast.json" "${fast[@]}" >&2
  hyperfine --style basic --warmup 0 --runs "$SLOW_RUNS" --export-json "$res/slow.json" "${slow[@]}" >&2
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
machine="$(lscpu | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); print $2; exit}'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(gzip --version | head -1), pigz $(pigz --version 2>&1 | awk '{print $2}'), $(hyperfine --version)"

python3 - "$work" "$machine" "$estargz_note" $LAYERS >"$work/results.md" <<'EOF'
import json, os, re, sys

work, machine, estargz_note, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def mb(n):
    return f"{n / 1e6:.2f} MB"

out = [f"Machine: {machine}", ""]
summary = ["| layer | entries | regular files | tar | tar.gz | ToC (auto) |",
           "|---|---:|---:|---:|---:|---:|"]
table = ["| layer | tar | tar.gz | tool | time (mean ± sd) | speedup vs `zcat \\| gzip -6` | output | overhead |",
         "|---|---:|---:|---|---:|---:|---:|---:|"]
for layer in layers:
    res = os.path.join(work, "results", layer)
    gz = os.path.getsize(os.path.join(work, layer, "layer.tar.gz"))
    toc = json.load(open(os.path.join(res, "toc.json")))
    tar = toc["tar_size"]
    regs = sum(1 for e in toc["entries"] if e["type"] == "reg")
    m = re.search(r"ToC ([0-9.]+ [kMG]?B)", open(os.path.join(res, "level-auto.log")).read())
    summary.append(f"| {layer} | {len(toc['entries'])} | {regs} | {mb(tar)} | {mb(gz)} | {m.group(1) if m else '?'} |")
    results = []
    for name in ("fast.json", "slow.json"):
        results += json.load(open(os.path.join(res, name)))["results"]
    base = next(r for r in results if r["command"] == "zcat | gzip -6")["mean"]
    outputs = {
        "zcat | gzip -6": None,  # to /dev/null; byte-identical to the input (made by gzip -6 -n)
        "zcat | pigz -6": "pigz6.gz",
        "starlight inspect --verify": None,
    }
    for r in results:
        cmd = r["command"]
        f = outputs.get(cmd, "level-" + cmd.split("--level ")[-1].replace(" -j 1", "-j1") + ".tar.gz")
        if cmd == "zcat | gzip -6":
            size, over = f"{mb(gz)} (= input)", "0 %"
        elif f is None:
            size, over = "–", "–"
        else:
            n = os.path.getsize(os.path.join(res, f))
            size, over = mb(n), f"{(n - gz) / gz * 100:+.2f} %"
        if len(r["times"]) > 1:
            t = f"{r['mean']:.2f} ± {r['stddev']:.2f} s"
        else:
            t = f"{r['mean']:.2f} s (1 run)"
        table.append(f"| {layer} | {mb(tar)} | {mb(gz)} | `{cmd}` | {t} | {base / r['mean']:.2f}× | {size} | {over} |")
out += summary + [""] + table + ["", estargz_note]
print("\n".join(out))
EOF
cat "$work/results.md"
