#!/usr/bin/env python3
"""Writes the hand-made vectors (handmade/) and expected.json for format-spec/registry-hook.md.

captured/ holds real envelopes from docker-registry 2.8 (capture/capture.sh). This script
computes their expected events and classifications with an independent reference reading of
the spec (section 4 and 5), writes the hand-made accepted and malformed envelopes, and lists
everything in expected.json, which registry_hook_vectors_test reads. Run it from anywhere;
re-run after re-capturing. Review the diff of expected.json: it is the normative answer.
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ENVELOPE = "application/vnd.docker.distribution.events.v1+json"
INGEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json": "manifest push",
    "application/vnd.docker.distribution.manifest.v2+json": "manifest push",
    "application/vnd.oci.image.index.v1+json": "index push",
    "application/vnd.docker.distribution.manifest.list.v2+json": "index push",
}
SCHEMA1 = {"application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws"}


SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*)(:[0-9]{1,5})?")


def classify(e):
    """Reference implementation of the spec's classification table."""
    a, mt = e["action"], e["media_type"].split(";")[0].strip()
    if a == "push":
        if not mt:
            return "ignore", "push without media type"
        if mt in INGEST_TYPES and not SHA256.fullmatch(e["digest"]):
            return "ignore", "non-sha256 digest"
        if mt in INGEST_TYPES:
            return "ingest", INGEST_TYPES[mt]
        if mt == "application/octet-stream":
            return "ignore", "blob push"
        if mt in SCHEMA1:
            return "ignore", "schema1 manifest push (not supported)"
        return "ignore", "push of other media type"
    if a == "delete":
        if e["tag"]:
            return "untag", "tag delete"
        if SHA256.fullmatch(e["digest"]):
            return "untag", "manifest or blob delete"
        if e["digest"]:
            return "ignore", "non-sha256 digest"
        return "ignore", "delete without digest or tag"
    if a == "pull":
        return "ignore", "pull"
    if a == "mount":
        return "ignore", "blob mount"
    return "ignore", "unknown action"


def expected_events(body):
    out = []
    for ev in json.loads(body)["events"]:
        t = ev["target"]
        e = {
            "id": ev["id"], "timestamp": ev.get("timestamp", ""), "action": ev["action"],
            "repository": t["repository"], "media_type": t.get("mediaType", ""),
            "digest": t.get("digest", ""), "tag": t.get("tag", ""), "size": t.get("size", 0),
            "host": ev.get("request", {}).get("host", ""),
        }
        if len(e["host"]) > 261 or not HOST.fullmatch(e["host"]):
            e["host"] = ""  # a Host header that is not host[:port] is dropped
        rec = {k: e[k] for k in ("id", "timestamp", "action", "repository", "media_type",
                                 "digest", "tag", "size", "host")}
        rec["v"] = 1
        queued = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        e["disposition"], e["why"] = classify(e)
        e["queued"] = queued  # the queue record (spec section 7)
        out.append(e)
    return out


D1 = "sha256:" + "0123456789abcdef" * 4


def event(**kw):
    e = {"id": "e1", "timestamp": "2024-01-01T00:00:00Z", "action": "push",
         "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 418,
                    "digest": D1, "repository": "library/hello", "tag": "1.0"},
         "request": {"host": "registry.local:5000"}}
    for k, v in kw.items():
        if k.startswith("t_"):
            if v is None:
                e["target"].pop(k[2:], None)
            else:
                e["target"][k[2:]] = v
        elif v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def env(*events):
    return json.dumps({"events": list(events)}).encode()


# name -> (body bytes, content type, error substring or None for accepted)
HANDMADE = {
    # Accepted.
    "empty-events": (b'{"events":[]}', ENVELOPE, None),
    "json-charset": (env(event()), "application/json; charset=utf-8", None),
    "envelope-type-mixed-case": (env(event()), "Application/VND.Docker.Distribution.Events.V1+JSON ; charset=\"UTF-8\"", None),
    "batch-of-three": (env(event(id="a"), event(id="b", action="pull"),
                           event(id="c", action="delete", t_mediaType=None, t_size=None,
                                 t_digest=None, t_tag="old")), ENVELOPE, None),
    "unknown-fields-and-action": (env(event(action="frobnicate", extra={"x": [1, 2]},
                                            t_url="http://x/y", t_fromRepository="a/b",
                                            actor={"name": "ci"})), ENVELOPE, None),
    "schema1-push": (env(event(t_mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws")), ENVELOPE, None),
    "artifact-push": (env(event(t_mediaType="application/vnd.cncf.helm.config.v1+json")), ENVELOPE, None),
    "push-without-media-type": (env(event(t_mediaType=None)), ENVELOPE, None),
    "media-type-with-params": (env(event(t_mediaType="application/vnd.oci.image.index.v1+json; charset=utf-8")), ENVELOPE, None),
    "minimal-event": (env({"id": "m", "action": "delete", "target": {"repository": "a", "tag": "_"}}), ENVELOPE, None),
    "ipv6-host-and-long-names": (env(event(request={"host": "[::1]:5000"},
                                           t_repository="a0/b-c/d__e/f.g/h---i/" + "j" * 200,
                                           t_tag="T" * 128)), ENVELOPE, None),
    "size-zero": (env(event(t_size=0)), ENVELOPE, None),
    "sha512-blob-delete": (env(event(action="delete", t_mediaType=None, t_size=None, t_tag=None,
                                     t_digest="sha512:" + "ab" * 64)), ENVELOPE, None),
    "sha512-manifest-push": (env(event(t_digest="sha512:" + "ab" * 64)), ENVELOPE, None),
    "host-underscore": (env(event(request={"host": "my_registry:5000"})), ENVELOPE, None),
    # Accepted, the Host header (client-chosen) dropped.
    "host-with-path": (env(event(request={"host": "evil.example/x"})), ENVELOPE, None),
    "host-with-userinfo": (env(event(request={"host": "user@evil.example"})), ENVELOPE, None),
    "host-bad-port": (env(event(request={"host": "registry:http"})), ENVELOPE, None),
    "host-crlf": (env(event(request={"host": "registry\r\nX-Evil: 1"})), ENVELOPE, None),
    # Rejected: content type.
    "content-type-text": (env(event()), "text/plain", "unsupported content type"),
    "content-type-empty": (env(event()), "", "unsupported content type"),
    "content-type-utf16": (env(event()), "application/json; charset=utf-16", "unsupported content type"),
    "content-type-prefix": (env(event()), "application/jsonx", "unsupported content type"),
    # Rejected: not JSON / wrong structure.
    "not-json": (b"hello", ENVELOPE, "not JSON"),
    "truncated": (b'{"events": [{"id": "x"', ENVELOPE, "not JSON"),
    "trailing-garbage": (b'{"events": []} {}', ENVELOPE, "not JSON"),
    "invalid-utf8": (b'{"events": [{"id": "\xff\xfe", "action": "push"}]}', ENVELOPE, "not JSON"),
    "empty-body": (b"", ENVELOPE, "not JSON"),
    "top-level-array": (b'[{"events": []}]', ENVELOPE, "not a JSON object"),
    "events-missing": (b'{"evnts": []}', ENVELOPE, "events: missing"),
    "events-null": (b'{"events": null}', ENVELOPE, "events: not an array"),
    "events-object": (b'{"events": {"id": "x"}}', ENVELOPE, "events: not an array"),
    "event-not-object": (b'{"events": ["push"]}', ENVELOPE, "events[0]: not an object"),
    "id-missing": (env(event(id=None)), ENVELOPE, "events[0].id: missing"),
    "id-number": (env(event(id=7)), ENVELOPE, "events[0].id: not a string"),
    "id-empty": (env(event(id="")), ENVELOPE, "events[0].id: invalid"),
    "id-with-newline": (env(event(id="a\nb")), ENVELOPE, "events[0].id: invalid"),
    "action-missing": (env(event(action=None)), ENVELOPE, "events[0].action: missing"),
    "action-array": (env(event(action=["push"])), ENVELOPE, "events[0].action: not a string"),
    "timestamp-number": (env(event(timestamp=1700000000)), ENVELOPE, "events[0].timestamp: not a string"),
    "target-missing": (env(event(target=None)), ENVELOPE, "events[0].target: missing"),
    "target-string": (env(event(target="library/hello")), ENVELOPE, "events[0].target: not an object"),
    "repository-missing": (env(event(t_repository=None)), ENVELOPE, "events[0].target.repository: missing"),
    "repository-array": (env(event(t_repository=[])), ENVELOPE, "events[0].target.repository: not a string"),
    "repository-uppercase": (env(event(t_repository="Library/Hello")), ENVELOPE, "target.repository: invalid"),
    "repository-traversal": (env(event(t_repository="../../etc/passwd")), ENVELOPE, "target.repository: invalid"),
    "repository-dotdot-component": (env(event(t_repository="library/../secret")), ENVELOPE, "target.repository: invalid"),
    "repository-leading-slash": (env(event(t_repository="/library/hello")), ENVELOPE, "target.repository: invalid"),
    "repository-trailing-slash": (env(event(t_repository="library/hello/")), ENVELOPE, "target.repository: invalid"),
    "repository-double-slash": (env(event(t_repository="library//hello")), ENVELOPE, "target.repository: invalid"),
    "repository-query": (env(event(t_repository="library/hello?n=1")), ENVELOPE, "target.repository: invalid"),
    "repository-percent": (env(event(t_repository="library%2fhello")), ENVELOPE, "target.repository: invalid"),
    "repository-fragment": (env(event(t_repository="library/hello#x")), ENVELOPE, "target.repository: invalid"),
    "repository-triple-underscore": (env(event(t_repository="a___b")), ENVELOPE, "target.repository: invalid"),
    "repository-nul": (env(event(t_repository="library/hello\u0000x")), ENVELOPE, "target.repository: invalid"),
    "repository-too-long": (env(event(t_repository="a" * 256)), ENVELOPE, "target.repository: invalid"),
    "digest-uppercase": (env(event(t_digest=D1.upper().replace("SHA256", "sha256"))), ENVELOPE, "target.digest: invalid"),
    "digest-short": (env(event(t_digest="sha256:abc")), ENVELOPE, "target.digest: invalid"),
    "digest-md5": (env(event(t_digest="md5:" + "ab" * 16)), ENVELOPE, "target.digest: invalid"),
    "digest-sha512-short": (env(event(t_digest="sha512:" + "ab" * 32)), ENVELOPE, "target.digest: invalid"),
    "digest-traversal": (env(event(t_digest="sha256:../../../../etc/passwd/" + "a" * 41)), ENVELOPE, "target.digest: invalid"),
    "digest-number": (env(event(t_digest=12)), ENVELOPE, "target.digest: not a string"),
    "tag-traversal": (env(event(t_tag="../latest")), ENVELOPE, "target.tag: invalid"),
    "tag-leading-dash": (env(event(t_tag="-latest")), ENVELOPE, "target.tag: invalid"),
    "tag-slash": (env(event(t_tag="a/b")), ENVELOPE, "target.tag: invalid"),
    "tag-too-long": (env(event(t_tag="t" * 129)), ENVELOPE, "target.tag: invalid"),
    "tag-empty": (env(event(t_tag="")), ENVELOPE, "target.tag: invalid"),
    "size-negative": (env(event(t_size=-1)), ENVELOPE, "target.size: not a non-negative integer"),
    "size-float": (env(event(t_size=1.5)), ENVELOPE, "target.size: not a non-negative integer"),
    "size-string": (env(event(t_size="418")), ENVELOPE, "target.size: not a non-negative integer"),
    "media-type-header-injection": (env(event(t_mediaType="application/json\r\nX-Evil: 1")), ENVELOPE, "target.mediaType: invalid"),
    "media-type-no-subtype": (env(event(t_mediaType="application")), ENVELOPE, "target.mediaType: invalid"),
    "media-type-object": (env(event(t_mediaType={})), ENVELOPE, "target.mediaType: not a string"),
    "request-string": (env(event(request="GET /")), ENVELOPE, "events[0].request: not an object"),
    "host-number": (env(event(request={"host": 5000})), ENVELOPE, "request.host: not a string"),
    "push-without-digest": (env(event(t_digest=None)), ENVELOPE, "target.digest: missing"),
    "delete-without-digest-or-tag": (env(event(action="delete", t_digest=None, t_tag=None)), ENVELOPE, "delete without digest or tag"),
    "one-bad-event-among-good": (env(event(id="a"), event(id="b", t_repository="UP")), ENVELOPE, "events[1].target.repository: invalid"),
}

# Generated by the test from a recipe (too large to check in).
SYNTHETIC = [
    {"name": "oversized-body",
     "recipe": {"kind": "pad", "bytes": 4 * 1024 * 1024 + 1},
     "content_type": ENVELOPE, "error": {"code": "invalid argument", "contains": "exceeds the limit"}},
    {"name": "largest-body",
     "recipe": {"kind": "pad", "bytes": 4 * 1024 * 1024},
     "content_type": ENVELOPE, "events": []},
    {"name": "too-many-events",
     "recipe": {"kind": "repeat", "file": "handmade/minimal-event.body", "copies": 10001},
     "content_type": ENVELOPE, "error": {"code": "invalid argument", "contains": "exceed the limit"}},
    {"name": "most-events",
     "recipe": {"kind": "repeat", "file": "handmade/minimal-event.body", "copies": 10000},
     "content_type": ENVELOPE, "count": 10000},
    {"name": "deep-nesting",
     "recipe": {"kind": "nest", "depth": 100000},
     "content_type": ENVELOPE, "error": {"code": "invalid argument", "contains": "nested deeper"}},
]


def main():
    vectors = []
    cap = os.path.join(HERE, "captured")
    for root, _, files in sorted(os.walk(cap)):
        for f in sorted(files):
            if not f.endswith(".body"):
                continue
            path = os.path.join(root, f)
            with open(path.replace(".body", ".headers.json"), encoding="utf-8") as h:
                ct = json.load(h)["headers"]["Content-Type"]
            with open(path, "rb") as b:
                events = expected_events(b.read())
            vectors.append({"file": os.path.relpath(path, HERE), "content_type": ct,
                            "events": events})
    vectors.sort(key=lambda v: v["file"])
    hdir = os.path.join(HERE, "handmade")
    os.makedirs(hdir, exist_ok=True)
    for old in os.listdir(hdir):
        os.remove(os.path.join(hdir, old))
    for name, (body, ct, err) in HANDMADE.items():
        rel = "handmade/%s.body" % name
        with open(os.path.join(HERE, rel), "wb") as f:
            f.write(body)
        v = {"file": rel, "content_type": ct}
        if err is None:
            v["events"] = expected_events(body)
        else:
            v["error"] = {"code": "invalid argument", "contains": err}
        vectors.append(v)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"vectors": vectors, "synthetic": SYNTHETIC}, f, indent=1)
        f.write("\n")
    print("%d vectors, %d synthetic" % (len(vectors), len(SYNTHETIC)))


if __name__ == "__main__":
    main()
