#!/usr/bin/env python3
"""Regenerates the directory-db test vectors (see ../../directory-db.md, section 9).

    python3 format-spec/vectors/directory-db/make-vectors.py

An independent implementation of the spec's encodings (stdlib only), so the C++ encoder is
checked against a second reading of the document. Writes records.txt and damaged.txt next to
this script. The example records are also spelled out in
tests/format-spec/directory_db_vectors_test.cc; change both together.
"""
import hashlib
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def sha(s):
    return hashlib.sha256(s.encode()).digest()


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def svarint(v):
    return varint(((v << 1) ^ (v >> 63)) & 0xFFFFFFFFFFFFFFFF)


def lp(b):
    if isinstance(b, str):
        b = b.encode()
    return varint(len(b)) + b


def crc(key, body):
    return struct.pack("<I", zlib.crc32(key + body) & 0xFFFFFFFF)


def value(key, fields, version=1):
    body = bytes([version]) + fields
    return body + crc(key, body)


ZERO = bytes(32)

# --- keys ---
def schema_key(): return b"Mschema"
def last_seq_key(): return b"Mlast_seq"
def layer_key(d): return b"L" + d
def image_key(d): return b"I" + d
def index_key(d): return b"X" + d
def tag_key(repo, tag): return b"T" + repo.encode() + b"\0" + tag.encode()
def rank_key(repo, path): return b"R" + repo.encode() + b"\0" + path.encode()
def event_key(seq): return b"Q" + struct.pack(">Q", seq)


# --- values ---
def schema_value(version):
    body = b"SLDB" + struct.pack("<I", version)
    return body + crc(schema_key(), body)


def last_seq_value(seq):
    return value(last_seq_key(), varint(seq))


def layer_fields(media_type, size, seekable, reason, diff_id, toc, fetched, ingested_at):
    flags = (1 if seekable else 0) | (2 if diff_id != ZERO else 0)
    f = lp(media_type) + varint(size) + bytes([flags]) + lp(reason)
    if diff_id != ZERO:
        f += diff_id
    return f + lp(toc) + varint(fetched) + svarint(ingested_at)


def image_fields(media_type, manifest, config_digest, config, platform, layers, seekable, merged,
                 reason, ingested_at):
    f = lp(media_type) + lp(manifest) + config_digest + lp(config) + lp(platform)
    f += varint(len(layers)) + b"".join(layers)
    return f + bytes([1 if seekable else 0]) + lp(merged) + lp(reason) + svarint(ingested_at)


def index_fields(media_type, manifest, manifests, ingested_at):
    f = lp(media_type) + lp(manifest) + varint(len(manifests))
    for d, platform in manifests:
        f += d + lp(platform)
    return f + svarint(ingested_at)


def tag_fields(digest, is_index, updated_at):
    return digest + bytes([1 if is_index else 0]) + svarint(updated_at)


def rank_fields(rank_sum, hits):
    return varint(rank_sum) + varint(hits)


def event_fields(body):
    return lp(body)


# --- the example records (same values as the C++ test) ---
L1, L2 = sha("layer-1"), sha("layer-2")
I1, I2 = sha("image-1"), sha("image-2")
X1 = sha("index-1")
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

layer_seekable = layer_fields(OCI_LAYER, 1234567, True, "", sha("diff-1"), b"toc-bytes\x00\x01", 70000,
                              1700000000)
layer_plain = layer_fields(DOCKER_LAYER, 300, False, "no footer", ZERO, b"", 110, -1)
image = image_fields("application/vnd.oci.image.manifest.v1+json", '{"schemaVersion":2}',
                     sha("config-1"), '{"architecture":"amd64","os":"linux"}', "linux/amd64",
                     [L1, L2], True, b"merged-tree", "", 1700000001)
index = index_fields("application/vnd.oci.image.index.v1+json", '{"manifests":[]}',
                     [(I1, "linux/amd64"), (I2, "")], 1700000002)
tag = tag_fields(X1, True, 1700000003)
rank = rank_fields(300, 7)
event = event_fields('{"action":"push"}')

records = [
    ("schema", schema_key(), schema_value(1)),
    ("last_seq", last_seq_key(), last_seq_value(258)),
    ("layer_seekable", layer_key(L1), value(layer_key(L1), layer_seekable)),
    ("layer_plain", layer_key(L2), value(layer_key(L2), layer_plain)),
    ("image", image_key(I1), value(image_key(I1), image)),
    ("index", index_key(X1), value(index_key(X1), index)),
    ("tag", tag_key("library/alpine", "3.19"), value(tag_key("library/alpine", "3.19"), tag)),
    ("rank", rank_key("library/alpine", "bin/busybox"),
     value(rank_key("library/alpine", "bin/busybox"), rank)),
    ("event", event_key(258), value(event_key(258), event)),
]


def flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x01
    return bytes(b)


k_l1, k_tag, k_rank, k_ev, k_i1 = (layer_key(L1), tag_key("library/alpine", "3.19"),
                                   rank_key("library/alpine", "bin/busybox"), event_key(258),
                                   image_key(I1))
good = dict((n, (k, v)) for n, k, v in records)
# (name, family, key, value, substring of the Corruption message)
damaged = [
    ("layer_bit_flip", "layer", k_l1, flip(good["layer_seekable"][1], 10), "checksum mismatch"),
    ("tag_truncated", "tag", k_tag, good["tag"][1][:-1], "checksum mismatch"),
    ("tag_moved_to_other_key", "tag", tag_key("library/alpine", "latest"), good["tag"][1],
     "checksum mismatch"),
    ("value_too_short", "rank", k_rank, b"\x01\x00\x00", "too short"),
    ("rank_trailing_byte", "rank", k_rank, value(k_rank, rank + b"\x00"), "trailing bytes"),
    ("rank_overlong_varint", "rank", k_rank, value(k_rank, b"\xac\x82\x00" + varint(7)),
     "overlong varint"),
    ("rank_truncated_varint", "rank", k_rank, value(k_rank, varint(300) + b"\x87"), "bad varint"),
    ("event_unknown_version", "event", k_ev, value(k_ev, event, version=2), "unknown value version"),
    ("event_length_past_end", "event", k_ev, value(k_ev, varint(100) + b"abc"), "exceeds the value"),
    ("layer_unknown_flag", "layer", k_l1,
     value(k_l1, lp(OCI_LAYER) + varint(1) + b"\x04" + lp("") + lp(b"") + varint(0) + svarint(0)),
     "unknown bits"),
    ("layer_zero_diff_id_flagged", "layer", k_l1,
     value(k_l1, lp(OCI_LAYER) + varint(1) + b"\x02" + lp("") + ZERO + lp(b"") + varint(0) +
           svarint(0)), "zero but flagged"),
    ("image_huge_layer_count", "image", k_i1,
     value(k_i1, lp("m") + lp("{}") + ZERO + lp("{}") + lp("linux/amd64") + varint(1 << 40)),
     "count exceeds"),
    ("image_key_wrong_size", "image", b"I" + I1[:31], value(b"I" + I1[:31], image), "not a 'I' key"),
    ("tag_key_without_separator", "tag", b"Tlibrary/alpine", value(b"Tlibrary/alpine", tag),
     "malformed pair key"),
    ("schema_bad_magic", "schema", schema_key(), b"SLDX" + schema_value(1)[4:], "bad magic"),
    ("schema_bad_crc", "schema", schema_key(), flip(schema_value(1), 4), "checksum mismatch"),
]

with open(os.path.join(HERE, "records.txt"), "w") as f:
    f.write("# name key-hex value-hex; generated by make-vectors.py (directory-db.md section 9)\n")
    for name, k, v in records:
        f.write(f"{name} {k.hex()} {v.hex()}\n")
with open(os.path.join(HERE, "damaged.txt"), "w") as f:
    f.write("# name family key-hex value-hex expected-message; generated by make-vectors.py\n")
    for name, fam, k, v, msg in damaged:
        f.write(f"{name} {fam} {k.hex()} {v.hex()} {msg}\n")
print("vectors written to", HERE)
