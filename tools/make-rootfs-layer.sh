#!/usr/bin/env bash
# Builds a Debian bookworm minbase root filesystem with debootstrap from the configured apt
# mirror and writes it as a layer tarball the way `docker build`/`docker save` produce one:
# entry names without "./", PAX where needed, numeric owners, xattrs kept, gzip level 6.
#
#   tools/make-rootfs-layer.sh OUT_DIR        -> OUT_DIR/rootfs/, OUT_DIR/layer.tar, OUT_DIR/layer.tar.gz
#
# Re-uses OUT_DIR/layer.tar.gz when it already exists (set FORCE=1 to rebuild).
# Environment: MIRROR=URL overrides the detected apt mirror; INCLUDE=pkg1,pkg2,... adds packages
# to the minbase set (debootstrap --include), e.g. INCLUDE=python3,perl,gcc,g++ for a larger layer.
# The rootfs is rebuilt when INCLUDE differs from the one it was made with (OUT_DIR/include).
# BASE=DIR (the OUT_DIR of an earlier run, e.g. a minbase one) makes an upper layer instead, as
# `docker build` writes one on top of DIR's layer: only the entries that are new or changed
# against DIR/rootfs (same type, mode, owner, size, mtime and link target = unchanged), plus the
# parent directories of those; paths missing from OUT_DIR's rootfs are not recorded (no
# whiteouts). The layer is rewritten when BASE differs from the last run's (OUT_DIR/base).
set -euo pipefail
out=${1:?usage: make-rootfs-layer.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
include=${INCLUDE:-}
# A rootfs made before the include stamp existed was made without INCLUDE.
built_include=$(cat "$out/include" 2>/dev/null || true)
base=${BASE:-}
[ -z "$base" ] || base=$(cd "$base" && pwd)
built_base=$(cat "$out/base" 2>/dev/null || true)
if [ -s "$out/layer.tar.gz" ] && [ "${FORCE:-0}" != 1 ] && [ "$built_include" = "$include" ] &&
   [ "$built_base" = "$base" ]; then
  echo "make-rootfs-layer: re-using $out/layer.tar.gz"
  exit 0
fi
mirror=${MIRROR:-}
if [ -z "$mirror" ]; then
  # The mirror the machine's apt uses (deb822 "URIs:" or one-line "deb [opts] URL suite").
  mirror=$({ cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } |
    awk '$1=="URIs:" && $2 !~ /security/ {print $2; exit}
         $1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) {print $i; exit} else break }}')
fi
mirror=${mirror:-http://deb.debian.org/debian}
include_args=()
[ -z "$include" ] || include_args=("--include=$include")
rootfs="$out/rootfs"
if [ ! -x "$rootfs/usr/bin/dpkg" ] || [ "$built_include" != "$include" ]; then
  rm -rf "$rootfs" "$out/include"
  echo "make-rootfs-layer: debootstrap --variant=minbase ${include_args[*]} bookworm from $mirror"
  debootstrap --variant=minbase "${include_args[@]}" bookworm "$rootfs" "$mirror" >"$out/debootstrap.log" 2>&1 ||
    { tail -n 20 "$out/debootstrap.log" >&2; echo "make-rootfs-layer: debootstrap failed (log: $out/debootstrap.log)" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* 2>/dev/null || true
  printf '%s\n' "$include" >"$out/include"
fi
echo "make-rootfs-layer: writing $out/layer.tar and $out/layer.tar.gz${base:+ (changes against $base/rootfs)}"
tar_opts=(--format=pax --numeric-owner --xattrs --xattrs-include='*'
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
if [ -z "$base" ]; then
  (cd "$rootfs" && tar --sort=name "${tar_opts[@]}" -cf "$out/layer.tar" $(ls -A))
else
  [ -d "$base/rootfs" ] || { echo "make-rootfs-layer: BASE=$base has no rootfs/" >&2; exit 1; }
  # The changed entries, NUL-separated, in the order tar --sort=name would visit them.
  python3 - "$rootfs" "$base/rootfs" >"$out/changes" <<'PY'
import os, stat, sys
top, base = sys.argv[1], sys.argv[2]
def key(st, path):
    k = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_uid, st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        return k
    k += (st.st_mtime_ns,)
    if stat.S_ISREG(st.st_mode):
        k += (st.st_size,)
    elif stat.S_ISLNK(st.st_mode):
        k += (os.readlink(path),)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        k += (st.st_rdev,)
    return k
keep = set()
for d, dirs, files in os.walk(top):
    for n in dirs + files:
        p = os.path.join(d, n)
        rel = os.path.relpath(p, top)
        q = os.path.join(base, rel)
        try:
            same = key(os.lstat(p), p) == key(os.lstat(q), q)
        except FileNotFoundError:
            same = False
        if not same:
            keep.add(rel)
for rel in list(keep):  # the parents of every kept entry
    while "/" in rel:
        rel = rel.rsplit("/", 1)[0]
        keep.add(rel)
for rel in sorted(keep, key=lambda r: [c.encode() for c in r.split("/")]):
    sys.stdout.buffer.write(rel.encode() + b"\0")
PY
  (cd "$rootfs" && tar "${tar_opts[@]}" --no-recursion --null -T "$out/changes" -cf "$out/layer.tar")
fi
gzip -6 -n -c "$out/layer.tar" >"$out/layer.tar.gz.tmp" && mv "$out/layer.tar.gz.tmp" "$out/layer.tar.gz"
printf '%s\n' "$base" >"$out/base"
ls -l "$out/layer.tar" "$out/layer.tar.gz" | awk '{print "make-rootfs-layer: " $5 " bytes " $9}'
