#!/usr/bin/env python3
"""Corrupt an imgbuild local build cache (--cache-to type=local,dest=DIR) so that only the
content check of a cache hit can catch it (tests/e2e/security_test.cpp).

usage: corrupt_local_cache.py DIR MODE
MODE dotdot: every layer of a record becomes an uncompressed tar holding "../x"; the record's
             digest, size and diff_id are the new blob's own, so descriptors and digests agree.
MODE diffid: every record keeps its (valid) blob but names a diff_id it does not have.
MODE bytes:  every record keeps its descriptor, but the last byte of its blob is changed, so the
             blob no longer hashes to its digest.
The config, manifest and index.json are rewritten to match. Prints the digests of the layers
that a hit must now refuse, one a line.
"""
import hashlib, io, json, os, sys, tarfile

d, mode = sys.argv[1], sys.argv[2]


def path(digest):
    return os.path.join(d, "blobs/sha256", digest.split(":", 1)[1])


def put(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(path(digest), "wb") as f:
        f.write(data)
    return digest, len(data)


def load(digest):
    with open(path(digest), "rb") as f:
        return json.load(f)


def evil_tar():
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("../x")
        ti.mtime = 0
        data = b"escaped\n"
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


with open(os.path.join(d, "index.json")) as f:
    index = json.load(f)
man = load(index["manifests"][0]["digest"])
cfg = load(man["config"]["digest"])
refused, layers = [], []
for r in cfg["records"]:
    l = r.get("layer")
    if not l:
        continue
    if mode == "dotdot":
        digest, size = put(evil_tar())
        l.update(digest=digest, size=size, diff_id=digest, mediaType="application/vnd.oci.image.layer.v1.tar")
    elif mode == "diffid":
        l["diff_id"] = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
    elif mode == "bytes":
        if l["digest"] in refused:
            continue  # flipped once already (two records may share a layer)
        with open(path(l["digest"]), "r+b") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last[0] ^ 0xFF]))
    else:
        sys.exit("unknown mode " + mode)
    refused.append(l["digest"])
    if all(x["digest"] != l["digest"] for x in layers):
        layers.append({"mediaType": l["mediaType"], "digest": l["digest"], "size": l["size"]})
if not refused:
    sys.exit("the cache has no layer records")
cdigest, csize = put(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode())
man["config"].update(digest=cdigest, size=csize)
man["layers"] = layers
mdigest, msize = put(json.dumps(man).encode())
index["manifests"][0].update(digest=mdigest, size=msize)
with open(os.path.join(d, "index.json"), "w") as f:
    json.dump(index, f)
print("\n".join(refused))
