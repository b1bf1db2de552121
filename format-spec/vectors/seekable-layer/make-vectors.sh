#!/usr/bin/env bash
# Regenerates the seekable-layer test vectors (see ../../seekable-layer.md, section 8).
#   format-spec/vectors/seekable-layer/make-vectors.sh [path/to/starlight-convert]
# small.tar is built by Python's tarfile with fixed metadata, so it is reproducible.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conv=${1:-$here/../../../build/converter/starlight-convert}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/small.tar" <<'PY'
import io, sys, tarfile
MT = 1700000000
def info(name, **kw):
    t = tarfile.TarInfo(name)
    t.mtime, t.uid, t.gid, t.uname, t.gname, t.mode = MT, 0, 0, "root", "root", 0o644
    for k, v in kw.items():
        setattr(t, k, v)
    return t
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                  errors="surrogateescape") as tf:
    tf.add_file = tf.addfile
    tf.addfile(info("etc", type=tarfile.DIRTYPE, mode=0o755))
    data = b"root:x:0:0:root:/root:/bin/sh\n"
    tf.addfile(info("etc/passwd", size=len(data)), io.BytesIO(data))
    tf.addfile(info("etc/empty", size=0), io.BytesIO(b""))
    big = bytes((i * 7 + i // 4096) % 251 for i in range(4 * 1024 * 1024 + 1))
    tf.addfile(info("opt/big.bin", size=len(big), uid=1000, gid=1000, uname="app", gname="app"),
               io.BytesIO(big))
    tf.addfile(info("opt/link", type=tarfile.SYMTYPE, linkname="../etc/passwd", mode=0o777))
    tf.addfile(info("opt/hard", type=tarfile.LNKTYPE, linkname="etc/passwd"))
    tf.addfile(info("opt/fifo", type=tarfile.FIFOTYPE))
    x = info("opt/cap", size=3, mode=0o755)
    x.pax_headers = {"SCHILY.xattr.user.comment": "hello", "mtime": "1700000000.5"}
    tf.addfile(x, io.BytesIO(b"cap"))
    tf.addfile(info("opt/.wh.gone", size=0))
    long = "opt/" + "d" * 120 + "/file"
    tf.addfile(info(long, size=4), io.BytesIO(b"long"))
    tf.addfile(info("opt/caf\udce9", size=1), io.BytesIO(b"!"))
PY
gzip -9 -n -c "$tmp/small.tar" >"$here/small.tar.gz"
"$conv" layer "$here/small.tar.gz" "$tmp/small.level0.tar.gz" --level 0 --toc "$here/small.toc" -q
"$conv" inspect --json "$tmp/small.level0.tar.gz" >"$here/small.toc.json"
cp "$tmp/small.tar" "$tmp/small.level0.tar.gz" "$here/" 2>/dev/null || true
(cd "$here" && sha256sum small.tar small.tar.gz small.level0.tar.gz small.toc small.toc.json >SHA256SUMS)
rm -f "$here/small.tar" "$here/small.level0.tar.gz"  # large: only their digests are kept
python3 - "$here" <<'PY'
import hashlib, struct, sys, zlib
here = sys.argv[1]
def extra(si, payload):
    return (bytes([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff]) + struct.pack("<H", len(payload) + 4)
            + si + struct.pack("<H", len(payload)) + payload + b"\x03\x00" + b"\0" * 8)
p = b"STRLIGHT" + struct.pack("<IIQQQQ", 1, 0, 1000, 300, 274, 900) + hashlib.sha256(b"").digest()
p += struct.pack("<I", zlib.crc32(p))
open(f"{here}/footer.hex", "w").write(extra(b"SF", p).hex() + "\n")
open(f"{here}/empty-extra.hex", "w").write(extra(b"ST", b"abc").hex() + "\n")
PY
echo "vectors written to $here"
