#!/usr/bin/env python3
"""Write crafted layer tars (one per attack) into the directory given as argv[1].

Used by tests/layers/crafted_tar_test.cpp at run time; each tar is named after the case.
Every case is either rejected by imgbuild's apply_layer or confined to the target dir.
"""
import io
import os
import sys
import tarfile


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = 1700000000
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = dict(pax)
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
    return ti, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


CASES = {
    # "../x": a path leaving the layer root.
    "dotdot": [entry("../escape-dotdot", data=b"pwned")],
    "dotdot_deep": [entry("a/b/../../../escape-deep", data=b"pwned")],
    # An absolute path: confined to the layer root.
    "absolute": [entry("/abs-file", data=b"confined")],
    # A symlink pointing outside, then a file written through it.
    "symlink_then_file": [entry("link", tarfile.SYMTYPE, link="../outside"),
                          entry("link/pwned", data=b"pwned")],
    "abs_symlink_then_file": [entry("root", tarfile.SYMTYPE, link="/"),
                              entry("root/through-root", data=b"confined")],
    "symlink_chain": [entry("a", tarfile.SYMTYPE, link="b"),
                      entry("b", tarfile.SYMTYPE, link="../../../.."),
                      entry("a/chain-file", data=b"confined")],
    # A symlink replaced by a regular file must not write through the link.
    "file_over_symlink": [entry("f", tarfile.SYMTYPE, link="../outside/canary"),
                          entry("f", data=b"replaced")],
    # Hard links to outside, to a host path, to a later entry, through a symlink.
    "hardlink_dotdot": [entry("hl", tarfile.LNKTYPE, link="../outside/canary")],
    "hardlink_absolute": [entry("hl", tarfile.LNKTYPE, link="/etc/passwd")],
    "hardlink_not_yet": [entry("early", tarfile.LNKTYPE, link="later"),
                         entry("later", data=b"later")],
    "hardlink_via_symlink": [entry("d", tarfile.SYMTYPE, link="/"),
                             entry("hl", tarfile.LNKTYPE, link="d/etc/passwd")],
    # The layer root itself as a symlink.
    "dot_symlink": [entry(".", tarfile.SYMTYPE, link="/tmp"), entry("after-dot", data=b"x")],
    "slash_symlink": [entry("/", tarfile.SYMTYPE, link="/tmp")],
    "dot_slash_symlink": [entry("./", tarfile.SYMTYPE, link="..")],
    # Whiteouts naming paths outside the root.
    "whiteout_dotdot": [entry("../.wh.outside")],
    "whiteout_dotdot_name": [entry("dir/.wh..."), ],
    "whiteout_absolute": [entry("/.wh.canary")],
    # Device nodes are created (never opened); setuid and capabilities kept.
    "devices_setuid": [entry("dev", tarfile.DIRTYPE, mode=0o755),
                       entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
                       entry("dev/sda", tarfile.BLKTYPE, mode=0o660, dev=(8, 0)),
                       entry("suid", data=b"#!x", mode=0o4755,
                             pax={"SCHILY.xattr.security.capability":
                                  "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"})],
    # overlay's own xattrs never come from a tar.
    "overlay_xattr": [entry("d", tarfile.DIRTYPE, mode=0o755,
                            pax={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                 "SCHILY.xattr.trusted.overlay.redirect": "/etc"})],
    # Opaque marker after the dir's other entries: still applied, entries kept.
    "opaque_last": [entry("d", tarfile.DIRTYPE, mode=0o755), entry("d/keep", data=b"keep"),
                    entry("d/.wh..wh..opq")],
    # Bombs (tests pass small limits).
    "many_entries": [entry("f%03d" % i, data=b"x") for i in range(50)],
    "long_path": [entry("/".join(["p" * 100] * 3) + "/f", data=b"x")],
    "big_pax": [entry("x", data=b"x", pax={"SCHILY.xattr.user.big": "v" * 200000})],
    "big_file": [entry("big", data=b"\0" * (4 << 20))],
}
# Not an attack: a tree deeper than PATH_MAX (30 directories of 250 bytes), as a RUN can make it,
# with a file, a hard link to it and a whiteout of a 255-byte name at the bottom.
DEEP = ["%02d" % i + "d" * 248 for i in range(30)]
CASES["deep_path"] = ([entry("/".join(DEEP[:i + 1]), tarfile.DIRTYPE, mode=0o750) for i in range(30)] +
                      [entry("/".join(DEEP) + "/f", data=b"deep"),
                       entry("/".join(DEEP) + "/.wh." + "w" * 255),
                       entry("top-link", tarfile.LNKTYPE, link="/".join(DEEP) + "/f")])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, entries in CASES.items():
        with tarfile.open(os.path.join(out, name + ".tar"), "w", format=tarfile.PAX_FORMAT) as t:
            for ti, f in entries:
                t.addfile(ti, f)


if __name__ == "__main__":
    main()
