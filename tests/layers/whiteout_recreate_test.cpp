// issue 12.12: a layer that deletes a directory (.wh.NAME) and re-creates it must hide the
// lower directory's old content: apply marks the re-created directory opaque, in either order.
#include <sys/xattr.h>

#include "helpers.hpp"
#include "layers/layer.hpp"
#include "layers/whiteout.hpp"

using namespace layers;

namespace {

std::string opaque_of(const std::string& dir) {
    char v[8] = {0};
    ssize_t n = ::getxattr(dir.c_str(), kOverlayOpaqueXattr, v, sizeof v);
    return n > 0 ? std::string(v, size_t(n)) : "";
}

}  // namespace

TEST(WhiteoutRecreate, RecreatedDirectoryIsOpaque) {
    if (!lt::is_root()) GTEST_SKIP() << "needs root (trusted.* xattrs, whiteout devices)";
    if (!lt::have("python3")) GTEST_SKIP() << "python3 not installed";
    lt::Env env;
    std::string tarp = env.dir.path() + "/l.tar", out;
    ASSERT_EQ(lt::run("python3 -c \"import tarfile,io\n"
                      "t=tarfile.open('" + tarp + "','w',format=tarfile.PAX_FORMAT)\n"
                      "def add(n,k,d=b''):\n"
                      "  i=tarfile.TarInfo(n); i.mtime=0\n"
                      "  if k=='d': i.type=tarfile.DIRTYPE; i.mode=0o755; t.addfile(i)\n"
                      "  else: i.size=len(d); t.addfile(i,io.BytesIO(d))\n"
                      "add('.wh.olddir','f'); add('olddir','d'); add('olddir/new','f',b'n')\n"
                      "add('later','d'); add('later/x','f',b'x'); add('.wh.later','f')\n"
                      "add('plain','d')\n"
                      "t.close()\"", &out), 0) << out;
    cas::Digest d = env.store.put(lt::read(tarp));
    std::string target = env.path("target");
    apply_layer(env.store, d, target);
    EXPECT_EQ(opaque_of(target + "/olddir"), "y") << "whiteout then directory: the lower olddir would show through";
    EXPECT_EQ(opaque_of(target + "/later"), "y") << "directory then whiteout: the lower dir would show through";
    EXPECT_EQ(lt::read(target + "/olddir/new"), "n");
    EXPECT_EQ(lt::read(target + "/later/x"), "x");
    EXPECT_EQ(opaque_of(target + "/plain"), "") << "an ordinary directory merges with the lower one";
}
