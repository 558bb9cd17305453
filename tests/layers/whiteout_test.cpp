// Pure tests: whiteout conversion both ways, path cleaning, xattr filter, chain IDs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "layers/snapshotter.hpp"
#include "layers/whiteout.hpp"
#include "sys/error.hpp"

using namespace layers;

TEST(Whiteout, OciToOverlay) {
    auto w = classify_oci_path("etc/.wh.passwd");
    EXPECT_EQ(w.kind, OciEntry::Kind::Whiteout);
    EXPECT_EQ(w.dir, "etc");
    EXPECT_EQ(w.name, "passwd");
    auto top = classify_oci_path(".wh.tmp");
    EXPECT_EQ(top.kind, OciEntry::Kind::Whiteout);
    EXPECT_EQ(top.dir, "");
    EXPECT_EQ(top.name, "tmp");
    auto o = classify_oci_path("var/lib/.wh..wh..opq");
    EXPECT_EQ(o.kind, OciEntry::Kind::Opaque);
    EXPECT_EQ(o.dir, "var/lib");
    EXPECT_EQ(classify_oci_path(".wh..wh..opq").dir, "");
    EXPECT_EQ(classify_oci_path("a/.wh..wh.plnk").kind, OciEntry::Kind::Meta);
    auto p = classify_oci_path("a/b.wh.c");
    EXPECT_EQ(p.kind, OciEntry::Kind::Plain);
    EXPECT_EQ(p.name, "b.wh.c");
    EXPECT_THROW(classify_oci_path("a/.wh."), sys::Error);
    EXPECT_THROW(classify_oci_path("a/.wh.."), sys::Error);
    EXPECT_THROW(classify_oci_path("a/.wh..."), sys::Error);
}

TEST(Whiteout, OverlayToOci) {
    EXPECT_EQ(oci_whiteout_path("etc", "passwd"), "etc/.wh.passwd");
    EXPECT_EQ(oci_whiteout_path("", "tmp"), ".wh.tmp");
    EXPECT_EQ(oci_opaque_path("var/lib"), "var/lib/.wh..wh..opq");
    EXPECT_EQ(oci_opaque_path(""), ".wh..wh..opq");
    EXPECT_TRUE(is_overlay_whiteout(S_IFCHR | 0, makedev(0, 0)));
    EXPECT_FALSE(is_overlay_whiteout(S_IFCHR | 0666, makedev(1, 3)));  // /dev/null stays a device
    EXPECT_FALSE(is_overlay_whiteout(S_IFBLK, makedev(0, 0)));
    EXPECT_FALSE(is_overlay_whiteout(S_IFREG, 0));
    EXPECT_TRUE(is_overlay_opaque_value("y"));
    EXPECT_FALSE(is_overlay_opaque_value("x"));
}

TEST(Whiteout, RoundTripBothWays) {
    for (std::string dir : {"", "a", "a/b/c"}) {
        for (std::string name : {"x", ".hidden", "with space", "wh"}) {
            auto e = classify_oci_path(oci_whiteout_path(dir, name));
            EXPECT_EQ(e.kind, OciEntry::Kind::Whiteout);
            EXPECT_EQ(e.dir, dir);
            EXPECT_EQ(e.name, name);
        }
        auto o = classify_oci_path(oci_opaque_path(dir));
        EXPECT_EQ(o.kind, OciEntry::Kind::Opaque);
        EXPECT_EQ(o.dir, dir);
    }
}

TEST(EntryPath, Clean) {
    EXPECT_EQ(clean_entry_path("./a/b"), "a/b");
    EXPECT_EQ(clean_entry_path("/etc/passwd"), "etc/passwd");  // absolute: confined to the layer
    EXPECT_EQ(clean_entry_path("a//b/./c/"), "a/b/c");
    EXPECT_EQ(clean_entry_path("."), "");
    EXPECT_EQ(clean_entry_path("/"), "");
    EXPECT_EQ(clean_entry_path("./"), "");
    EXPECT_THROW(clean_entry_path("../x"), sys::Error);
    EXPECT_THROW(clean_entry_path("a/../../x"), sys::Error);
    EXPECT_THROW(clean_entry_path("/.."), sys::Error);
    EXPECT_EQ(clean_entry_path("a/..b"), "a/..b");
    auto [d, n] = split_parent("a/b/c");
    EXPECT_EQ(d, "a/b");
    EXPECT_EQ(n, "c");
    EXPECT_EQ(split_parent("c").first, "");
}

TEST(EntryPath, XattrFilter) {
    EXPECT_TRUE(layer_xattr_allowed("security.capability"));
    EXPECT_TRUE(layer_xattr_allowed("user.mime"));
    EXPECT_TRUE(layer_xattr_allowed("trusted.foo"));
    EXPECT_FALSE(layer_xattr_allowed("trusted.overlay.opaque"));
    EXPECT_FALSE(layer_xattr_allowed("trusted.overlay.redirect"));
    EXPECT_FALSE(layer_xattr_allowed("security.selinux"));
    EXPECT_FALSE(layer_xattr_allowed("system.posix_acl_access"));
}

TEST(ChainId, MatchesSpecDefinition) {
    auto a = cas::Digest::of("layer a"), b = cas::Digest::of("layer b"), c = cas::Digest::of("layer c");
    EXPECT_EQ(chain_id({a}), a);
    auto ab = cas::Digest::of(a.str() + " " + b.str());
    EXPECT_EQ(chain_id({a, b}), ab);
    EXPECT_EQ(chain_id({a, b, c}), cas::Digest::of(ab.str() + " " + c.str()));
    EXPECT_NE(chain_id({a, b}), chain_id({b, a}));
    EXPECT_THROW(chain_id({}), sys::Error);
}
