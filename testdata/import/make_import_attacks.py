#!/usr/bin/env python3
"""Crafted OCI layouts for `imgbuild import` (tests/e2e/import_attack_test.cpp).

usage: make_import_attacks.py OUTDIR
Writes OUTDIR/<case>/ (an OCI layout with one image, one or two layers) for every case and
OUTDIR/cases.json: {case: {"layer": digest of the offending layer, "entry": entry name or "",
"why": substring the error must contain}}. OUTDIR/unref.tar is a good layout tarred with a
64 MiB member nothing refers to. Everything is generated here; nothing is checked in.
"""
import gzip, hashlib, io, json, os, sys, tarfile

OUT = sys.argv[1]
GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"
cases = {}


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (name, kind, data_or_target, pax) with kind in f d l h."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as t:
        for name, kind, arg, pax in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            ti.pax_headers = dict(pax or {})
            data = None
            if kind == "f":
                data = arg or b""
                ti.size = len(data)
            elif kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, arg
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, arg
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return bio.getvalue()


def layout(name, layers):
    """layers: (blob bytes, media type, diff_id)."""
    d = os.path.join(OUT, name)
    os.makedirs(d + "/blobs/sha256", exist_ok=True)

    def put(b):
        h = sha(b)
        with open(d + "/blobs/sha256/" + h[7:], "wb") as f:
            f.write(b)
        return {"digest": h, "size": len(b)}

    ls = [dict(mediaType=mt, **put(b)) for b, mt, _ in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [di for _, _, di in layers]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **put(cfg)),
                      "layers": ls}).encode()
    idx = {"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json",
                                                  annotations={"org.opencontainers.image.ref.name": "1"}, **put(man))]}
    with open(d + "/index.json", "w") as f:
        json.dump(idx, f)
    with open(d + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return [l["digest"] for l in ls]


def case(name, layers, bad, entry, why):
    digests = layout(name, layers)
    cases[name] = {"layer": digests[bad], "entry": entry, "why": why}


def plain(t):
    return (t, TAR, sha(t))


def gz(t):
    return (gzip.compress(t, 6, mtime=0), GZ, sha(t))


good = tar([("etc", "d", None, None), ("etc/hello", "f", b"hello\n", None), ("etc/hl", "h", "etc/hello", None),
            ("lnk", "l", "etc/hello", None), ("etc/.wh.gone", "f", b"", None)])
layout("good", [gz(good)])

# 8. integrity and caps
case("wrong_diff_id", [(good, TAR, sha(b"something else"))], 0, "", "diff_id")
case("truncated_gzip", [(gzip.compress(good, 6, mtime=0)[:-6], GZ, sha(good))], 0, "", "truncated gzip")
two = bytearray(tar([("a", "f", b"a\n", None), ("b", "f", b"b\n", None)], tarfile.USTAR_FORMAT))
two[1024 + 1] ^= 0x01  # the second header's name: its checksum no longer matches
case("bad_checksum", [plain(bytes(two))], 0, "", "damaged tar")
case("truncated_tar", [plain(good[:1024 + 100])], 0, "", "")
zeros = tar([("zeros", "f", bytes(128 << 20), None)])
case("gzip_bomb", [gz(zeros)], 0, "", "compression ratio")
case("pax_huge_size", [plain(tar([("huge", "f", b"", {"size": str(1 << 60)})]))], 0, "huge", "declared size")
sparse = tar([("sparse", "f", b"", {"GNU.sparse.size": str(1 << 40), "GNU.sparse.numblocks": "1",
                                    "GNU.sparse.map": "0,0"})])
case("sparse_1tib", [plain(sparse)], 0, "sparse", "declared size")

# 9. unsafe entries
case("dotdot", [plain(tar([("a", "d", None, None), ("a/../../evil", "f", b"x", None)]))], 0, "a/../../evil", "\"..\"")
case("hardlink_outside", [plain(tar([("x", "h", "etc/passwd", None)]))], 0, "x", "hard link target")
case("hardlink_later", [plain(tar([("x", "h", "y", None), ("y", "f", b"y", None)]))], 0, "x", "hard link target")
case("whiteout_empty", [plain(tar([("d", "d", None, None), ("d/.wh.", "f", b"", None)]))], 0, "d/.wh.", "whiteout")
case("root_symlink", [plain(tar([(".", "l", "/", None), ("evil", "f", b"x", None)]))], 0, ".", "layer root")
case("through_symlink", [plain(tar([("a", "l", "/etc", None), ("a/evil", "f", b"x", None)]))], 0, "a/evil",
     "planted by an earlier entry")
case("through_lower_symlink", [plain(tar([("a", "l", "/etc", None)])), plain(tar([("a/evil", "f", b"x", None)]))], 1,
     "a/evil", "planted by an earlier layer")

# names no file system can hold (a component past NAME_MAX) are refused up front, as is a symlink
# target longer than symlink(2) stores; paths past PATH_MAX made of short names are fine (below)
long_name = "n" * 256
case("long_component", [plain(tar([("d", "d", None, None), ("d/" + long_name, "f", b"x", None)]))], 0,
     "d/" + long_name, "NAME_MAX")
case("long_symlink_target", [plain(tar([("l", "l", "t/" * 2048, None)]))], 0, "l", "symlink target longer")
deep = "/".join("%02d" % i + "d" * 248 for i in range(30))  # 7529 bytes, as a RUN can make it
layout("deep_path", [gz(tar([(deep, "d", None, None), (deep + "/f", "f", b"deep\n", None),
                             (deep + "/.wh." + "w" * 255, "f", b"", None)]))])

# 10. a "+gzip" layer in another program's format (lzop magic): only zlib may read it
lzo = b"\x89LZO\x00\r\n\x1a\n" + bytes(200)
case("lzop_magic", [(lzo, GZ, sha(b"whatever"))], 0, "", "gzip")

# 12. (good layouts) a directory deleted and re-created in one layer, whiteout first or last:
# the lower layer's content of /d must not show through
lower = tar([("d", "d", None, None), ("d/old", "f", b"old\n", None), ("d/sub", "d", None, None),
             ("d/sub/deep", "f", b"deep\n", None)])
layout("whiteout_recreate", [plain(lower), plain(tar([(".wh.d", "f", b"", None), ("d", "d", None, None),
                                                      ("d/new", "f", b"new\n", None)]))])
layout("recreate_whiteout", [plain(lower), plain(tar([("d", "d", None, None), ("d/new", "f", b"new\n", None),
                                                      (".wh.d", "f", b"", None)]))])

# 11. a layout tar with a 64 MiB member nothing refers to (sparse in the tar file itself
# would need GNU sparse; zeros keep it simple and fast)
with tarfile.open(os.path.join(OUT, "unref.tar"), "w", format=tarfile.PAX_FORMAT) as t:
    base = os.path.join(OUT, "good")
    for root, dirs, files in os.walk(base):
        for f in files:
            p = os.path.join(root, f)
            t.add(p, os.path.relpath(p, base))
    ti = tarfile.TarInfo("blobs/sha256/" + "0" * 64)
    ti.size = 64 << 20
    t.addfile(ti, io.BytesIO(bytes(ti.size)))

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
