#!/usr/bin/env python3
"""Writes an OCI image layout holding one linux/amd64 image made of the given gzip'd layers.

usage: make-oci-layout.py DIR TAG LAYER.tar.gz [LAYER.tar.gz ...]

The config lists the layers' diffIDs (sha256 of the decompressed tar) and runs /bin/sh; the
manifest is an OCI image manifest; index.json names it with org.opencontainers.image.ref.name
= TAG. For demos and benchmarks (tools/quickstart.sh, tools/bench/*): push it with
`skopeo copy oci:DIR:TAG docker://...`.
"""
import gzip
import hashlib
import json
import os
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[2])
    d, tag, layers = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(d + "/blobs/sha256", exist_ok=True)

    def put(b):
        h = hashlib.sha256(b).hexdigest()
        with open(f"{d}/blobs/sha256/{h}", "wb") as f:
            f.write(b)
        return "sha256:" + h, len(b)

    diff_ids, descs = [], []
    for path in layers:
        with open(path, "rb") as f:
            blob = f.read()
        tar_hash = hashlib.sha256()
        with gzip.open(path, "rb") as z:
            for chunk in iter(lambda: z.read(1 << 20), b""):
                tar_hash.update(chunk)
        diff_ids.append("sha256:" + tar_hash.hexdigest())
        digest, size = put(blob)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
    cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
    md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                             "layers": descs}).encode())
    with open(d + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(d + "/index.json", "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                       "digest": md, "size": ms,
                                                       "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)


if __name__ == "__main__":
    main()
