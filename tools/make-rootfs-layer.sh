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
set -euo pipefail
out=${1:?usage: make-rootfs-layer.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
include=${INCLUDE:-}
# A rootfs made before the include stamp existed was made without INCLUDE.
built_include=$(cat "$out/include" 2>/dev/null || true)
if [ -s "$out/layer.tar.gz" ] && [ "${FORCE:-0}" != 1 ] && [ "$built_include" = "$include" ]; then
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
echo "make-rootfs-layer: writing $out/layer.tar and $out/layer.tar.gz"
(cd "$rootfs" && tar --sort=name --format=pax --numeric-owner --xattrs --xattrs-include='*' \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$out/layer.tar" $(ls -A))
gzip -6 -n -c "$out/layer.tar" >"$out/layer.tar.gz.tmp" && mv "$out/layer.tar.gz.tmp" "$out/layer.tar.gz"
ls -l "$out/layer.tar" "$out/layer.tar.gz" | awk '{print "make-rootfs-layer: " $5 " bytes " $9}'
