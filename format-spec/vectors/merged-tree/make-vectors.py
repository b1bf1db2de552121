#!/usr/bin/env python3
"""Regenerates the merged-tree test vectors (see ../../merged-tree.md, section 6).

    python3 format-spec/vectors/merged-tree/make-vectors.py

Independent of the C++ code: the layer set, the expected merged tree (worked out by hand from
the rules of section 3) and this file's own encoder produce every vector, and
tests/format-spec/merged_tree_vectors_test.cc checks the implementation against them.
"""
import base64, hashlib, json, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MT = 1700000000

# ---- the layer set (layers.json) --------------------------------------------------------------
def e(path, type, mode=0o644, uid=0, gid=0, content=None, linkname=None):
    d = {"type": type, "mode": mode, "uid": uid, "gid": gid, "mtime": MT}
    if isinstance(path, bytes):
        d["path_base64"] = base64.b64encode(path).decode()
    else:
        d["path"] = path
    if content is not None:
        d["content"] = content
    if linkname is not None:
        d["linkname"] = linkname
    return d

D = lambda p, mode=0o755: e(p, "dir", mode)
F = lambda p, c, mode=0o644, uid=0: e(p, "reg", mode, uid, uid, content=c)
WH = lambda p: e(p, "reg", content="")
LAYERS = [
    [D("."), D("etc"), F("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),          # 0 1 2
     F("etc/hosts", "127.0.0.1 localhost\n"), e("etc/pw.hard", "hardlink", linkname="etc/passwd"),
     D("usr"), D("usr/lib"), F("usr/lib/a.so", "a"), F("usr/lib/b.so", "b"),     # 5 6 7 8
     e("lib", "symlink", 0o777, linkname="usr/lib"), F("var/cache/x", "x"),     # 9 10
     F(b"caf\xe9", "latin-1 name", uid=1000)],                                 # 11
    [WH("usr/lib/.wh..wh..opq"), F("usr/lib/c.so", "c"),                         # 0 1
     e("usr/link", "hardlink", linkname="etc/pw.hard"), WH("var/.wh.cache"),    # 2 3
     F("etc/passwd", "new"), F("opt/app/run", "#!/bin/sh\n", 0o755)],          # 4 5
    [WH("etc/.wh.pw.hard"), D("etc", 0o700), D("opt", 0o711), F("opt/app/data", "")],
]
S = 0xFFFFFFFF  # kSynthetic

# ---- the expected merged tree (worked out by hand) --------------------------------------------
# (layer, entry, target_layer, target_entry, path) in depth-first pre-order.
NODES = [
    (0, 0, 0, 0, b"."),
    (0, 11, 0, 11, b"caf\xe9"),
    (2, 1, 2, 1, b"etc"),             # layer 2's metadata, children kept
    (0, 3, 0, 3, b"etc/hosts"),       # etc/pw.hard hidden by layer 2
    (1, 4, 1, 4, b"etc/passwd"),      # replaced in layer 1
    (0, 9, 0, 9, b"lib"),
    (2, 2, 2, 2, b"opt"),
    (S, 0, S, 0, b"opt/app"),         # implied by layer 1's opt/app/run
    (2, 3, 2, 3, b"opt/app/data"),
    (1, 5, 1, 5, b"opt/app/run"),
    (0, 5, 0, 5, b"usr"),
    (0, 6, 0, 6, b"usr/lib"),         # opaque in layer 1: a.so and b.so hidden
    (1, 1, 1, 1, b"usr/lib/c.so"),
    (1, 2, 0, 2, b"usr/link"),        # -> etc/pw.hard -> etc/passwd of layer 0 (since replaced)
    (S, 0, S, 0, b"var"),             # implied by layer 0's var/cache/x; cache hidden by layer 1
]

# ---- encoder (section 4) ----------------------------------------------------------------------
def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def svarint(v):
    return uvarint((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)

def body(nodes):
    out = bytearray(uvarint(len(nodes)))
    nxt = {}
    i = 0
    while i < len(nodes):
        l, en, tl, te, path = nodes[i]
        if l == S:
            out += uvarint(2) + uvarint(len(path)) + path
            i += 1
        elif (tl, te) != (l, en):
            out += uvarint(l << 2 | 1) + svarint(en - nxt.get(l, 0)) + uvarint(tl) + uvarint(te)
            nxt[l] = en + 1
            i += 1
        else:
            run = 1
            while (i + run < len(nodes) and nodes[i + run][0] == l and
                   nodes[i + run][1] == en + run and nodes[i + run][2:4] == nodes[i + run][0:2]):
                run += 1
            out += uvarint(l << 2) + svarint(en - nxt.get(l, 0)) + uvarint(run - 1)
            nxt[l] = en + run
            i += run
    return bytes(out)

def seal(b, version=1, flags=0):
    b = struct.pack("<IHH", 0x544D4C53, version, flags) + b
    return b + struct.pack("<I", zlib.crc32(b))

def encode(nodes, **kw):
    return seal(body(nodes), **kw)

# ---- JSON view (section 5) --------------------------------------------------------------------
def put(j, key, raw):
    try:
        j[key] = raw.decode("utf-8")
    except UnicodeDecodeError:
        j[key] = raw.decode("utf-8", "replace")
        j[key + "_base64"] = base64.b64encode(raw).decode()

def raw_path(entry):
    return base64.b64decode(entry["path_base64"]) if "path_base64" in entry else entry["path"].encode()

def to_json(nodes):
    out = []
    for l, en, tl, te, path in nodes:
        j = {}
        put(j, "path", path)
        if l == S:
            j.update(type="dir", mode=0o755, uid=0, gid=0, size=0, mtime=0, layer=-1)
        else:
            t = LAYERS[tl][te]
            content = t.get("content")
            j.update(type=t["type"], mode=t["mode"], uid=t["uid"], gid=t["gid"],
                     size=len(content.encode()) if content is not None else 0, mtime=t["mtime"])
            if "linkname" in t:
                put(j, "linkname", t["linkname"].encode())
            if t["type"] == "reg":
                j["digest"] = "sha256:" + hashlib.sha256(content.encode()).hexdigest()
            j["layer"] = l
            if (tl, te) != (l, en):
                j["link_layer"] = tl
                put(j, "link_path", raw_path(t))
        out.append(j)
    return out

# ---- damaged encodings (section 6) ------------------------------------------------------------
def damaged(good):
    n = list(NODES)
    def swap(i, j):
        m = list(n); m[i], m[j] = m[j], m[i]; return m
    def replace(i, node):
        m = list(n); m[i] = node; return m
    def drop(i):
        m = list(n); del m[i]; return m
    def insert(i, node):
        m = list(n); m.insert(i, node); return m
    C, NS = "corruption", "not-supported"
    flipped = bytearray(good); flipped[len(good) // 2] ^= 0x10
    cases = [
        ("truncated", good[:-5], C),
        ("empty", b"", C),
        ("bad-checksum", good[:-1] + bytes([good[-1] ^ 1]), C),
        ("bit-flip", bytes(flipped), C),
        ("bad-magic", b"XXXX" + good[4:], C),
        ("version-2", seal(body(n), version=2), NS),
        ("unknown-flags", seal(body(n), flags=1), C),
        ("trailing-bytes", seal(body(n) + b"\x00"), C),
        ("count-too-large", seal(uvarint(1 << 40) + body(n)[1:]), C),
        ("count-too-small", seal(uvarint(len(n) - 1) + body(n)[1:]), C),
        ("no-nodes", seal(uvarint(0)), C),
        ("root-not-first", encode(n[1:]), C),
        ("out-of-order", encode(swap(3, 4)), C),
        ("duplicate-path", encode(insert(4, n[4])), C),
        ("parent-missing", encode(drop(7)), C),
        ("child-of-a-file", encode(insert(6, (S, 0, S, 0, b"lib/x"))), C),
        ("synthetic-bad-path", encode(insert(6, (S, 0, S, 0, b"lib//x"))), C),
        ("whiteout-in-tree", encode(insert(12, (1, 0, 1, 0, b"usr/lib/.wh..wh..opq"))), C),
        ("entry-out-of-range", encode(replace(1, (0, 12, 0, 12, b"x"))), C),
        ("layer-out-of-range", encode(replace(14, (3, 0, 3, 0, b"x"))), C),
        ("negative-entry", seal(uvarint(1) + uvarint(0) + svarint(-1) + uvarint(0)), C),
        ("run-past-count", seal(uvarint(1) + uvarint(0) + svarint(0) + uvarint(1)), C),
        ("unknown-record-kind", seal(uvarint(1) + uvarint(3)), C),
        ("synthetic-with-layer", seal(uvarint(1) + uvarint(1 << 2 | 2) + uvarint(1) + b"."), C),
        ("link-without-target", encode(replace(13, (1, 2, 1, 2, b"usr/link"))), C),
        ("link-record-for-a-file", encode(replace(12, (1, 1, 0, 2, b"usr/lib/c.so"))), C),
        ("link-target-is-a-link", encode(replace(13, (1, 2, 0, 4, b"usr/link"))), C),
        ("link-target-is-a-dir", encode(replace(13, (1, 2, 0, 1, b"usr/link"))), C),
        ("link-target-in-higher-layer", encode(replace(13, (1, 2, 2, 3, b"usr/link"))), C),
        ("link-target-out-of-range", encode(replace(13, (1, 2, 0, 99, b"usr/link"))), C),
    ]
    return [{"name": name, "hex": data.hex(), "error": err} for name, data, err in cases]

def main():
    for l, en, tl, te, path in NODES:  # the hand-written tree must name the right entries
        if l != S:
            assert raw_path(LAYERS[l][en]) == path, (l, en, path)
    good = encode(NODES)
    with open(os.path.join(HERE, "layers.json"), "w") as f:
        json.dump({"layers": LAYERS}, f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "small.hex"), "w") as f:
        f.write(good.hex() + "\n")
    with open(os.path.join(HERE, "small.json"), "w") as f:
        json.dump(to_json(NODES), f, indent=1)
        f.write("\n")
    with open(os.path.join(HERE, "damaged.json"), "w") as f:
        json.dump(damaged(good), f, indent=1)
        f.write("\n")
    names = ["layers.json", "small.hex", "small.json", "damaged.json"]
    with open(os.path.join(HERE, "SHA256SUMS"), "w") as f:
        for name in names:
            with open(os.path.join(HERE, name), "rb") as g:
                f.write(hashlib.sha256(g.read()).hexdigest() + "  " + name + "\n")
    print(f"vectors written to {HERE}: {len(good)} bytes for {len(NODES)} nodes")

if __name__ == "__main__":
    main()
