// --chown resolution against the destination root's /etc/passwd and /etc/group: the
// spec's forms, the database's comment/NIS lines, and the error codes for bad input.
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "context/copy.hpp"
#include "context_util.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

using context::Owner;
using context::resolve_owner;

namespace {

struct Root {
    ctxtest::Tmp dir;
    sys::UniqueFd fd;
    Root(const std::string& passwd, const std::string& group) {
        if (!passwd.empty()) ctxtest::put(dir.p("etc/passwd"), passwd);
        if (!group.empty()) ctxtest::put(dir.p("etc/group"), group);
        fd = sys::open_dir(dir.p());
    }
};

sys::Code code_of(int fd, const std::string& spec) {
    try {
        resolve_owner(fd, spec);
    } catch (const sys::Error& e) {
        return e.code();
    }
    ADD_FAILURE() << spec << " was accepted";
    return sys::Code::Internal;
}

}  // namespace

TEST(CopyOwner, SkipsCommentsAndNisLines) {
    Root r("# app:x:1:1::/:/bin/sh\n+app\n-app\n\napp:x:1000:1001::/home/app:/bin/sh\n",
           "#staff:x:1:\nstaff:x:50:app\n");
    EXPECT_EQ(resolve_owner(r.fd.get(), "app"), (Owner{1000, 1001}));
    EXPECT_EQ(resolve_owner(r.fd.get(), "app:staff"), (Owner{1000, 50}));
    EXPECT_EQ(resolve_owner(r.fd.get(), "0:0"), (Owner{0, 0}));
    EXPECT_EQ(resolve_owner(r.fd.get(), "4294967294"), (Owner{4294967294u, 4294967294u}));
}

TEST(CopyOwner, NumericIdsNeedNoDatabase) {
    Root r("", "");  // no /etc at all
    EXPECT_EQ(resolve_owner(r.fd.get(), "7:8"), (Owner{7, 8}));
    EXPECT_EQ(code_of(r.fd.get(), "app"), sys::Code::NotFound);
    EXPECT_EQ(code_of(r.fd.get(), "7:staff"), sys::Code::NotFound);
}

TEST(CopyOwner, BadSpecsAreInvalidInput) {
    Root r("app:x:1000:1001::/:/bin/sh\nbroken:x:zz:1::/:/bin/sh\n", "staff:x:50:\n");
    EXPECT_EQ(code_of(r.fd.get(), ""), sys::Code::InvalidInput);
    EXPECT_EQ(code_of(r.fd.get(), ":staff"), sys::Code::InvalidInput);
    EXPECT_EQ(code_of(r.fd.get(), "app:"), sys::Code::InvalidInput);
    EXPECT_EQ(code_of(r.fd.get(), "4294967295"), sys::Code::InvalidInput);  // (uid_t)-1
    EXPECT_EQ(code_of(r.fd.get(), "99999999999"), sys::Code::InvalidInput);
    EXPECT_EQ(code_of(r.fd.get(), "broken"), sys::Code::InvalidInput);  // non-numeric uid in passwd
}

TEST(CopyOwner, PasswdMustBeARegularFile) {
    Root r("", "");
    ASSERT_EQ(::mkdir(r.dir.p("etc").c_str(), 0755), 0);
    ASSERT_EQ(::mkfifo(r.dir.p("etc/passwd").c_str(), 0644), 0);  // would block a plain open
    EXPECT_EQ(code_of(r.fd.get(), "app"), sys::Code::InvalidInput);
}
