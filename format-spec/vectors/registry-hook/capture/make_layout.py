#!/usr/bin/env python3
"""Writes a tiny, deterministic OCI image layout for capture.sh.

Tags in the layout:
  single  an OCI image manifest (linux/amd64): one gzip'd tar layer + config
  multi   an OCI image index of two manifests (linux/amd64, linux/arm64)

Usage: make_layout.py DIR
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

DIR = sys.argv[1]


def put_blob(data: bytes) -> dict:
    dgst = hashlib.sha256(data).hexdigest()
    path = os.path.join(DIR, "blobs", "sha256", dgst)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + dgst, "size": len(data)}


def layer(files: dict) -> tuple:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1700000000
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, mtime=0)
    return put_blob(gz), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def image(arch: str, files: dict) -> dict:
    ldesc, diff_id = layer(files)
    config = {
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/opt/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "make_layout.py"}],
    }
    cdesc = put_blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cdesc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **ldesc}],
    }
    mdesc = put_blob(json.dumps(manifest, sort_keys=True).encode())
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", **mdesc,
            "platform": {"architecture": arch, "os": "linux"}}


def main():
    os.makedirs(os.path.join(DIR, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(DIR, "oci-layout"), "w", encoding="utf-8") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    single = image("amd64", {"opt/hello": b"hello from starlight\n"})
    arm = image("arm64", {"opt/hello": b"hello from starlight on arm64\n"})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [single, arm]}
    idesc = put_blob(json.dumps(index, sort_keys=True).encode())
    single_ref = dict(single)
    del single_ref["platform"]
    single_ref["annotations"] = {"org.opencontainers.image.ref.name": "single"}
    multi_ref = {"mediaType": "application/vnd.oci.image.index.v1+json", **idesc,
                 "annotations": {"org.opencontainers.image.ref.name": "multi"}}
    top = {"schemaVersion": 2, "manifests": [single_ref, multi_ref]}
    with open(os.path.join(DIR, "index.json"), "w", encoding="utf-8") as f:
        json.dump(top, f, indent=1)


if __name__ == "__main__":
    main()
