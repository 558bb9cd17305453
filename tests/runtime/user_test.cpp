// USER resolution against the image's /etc/passwd and /etc/group, and in a real run.
#include <gmock/gmock.h>
#include <fcntl.h>

#include "runtime/internal.hpp"
#include "tests/runtime/fixture.hpp"

using namespace rt_test;
using runtime::detail::resolve_user;

TEST_F(RuntimeTest, UserByNameAndNumber) {
    auto s = spec({"/bin/id"});
    s.user = "user";
    EXPECT_EQ(run_ok(s).out, "uid=1000(user) gid=1000(user) groups=50(staff)\n");
    s = spec({"/bin/id"});
    s.user = "65534:50";
    EXPECT_EQ(run_ok(s).out, "uid=65534(nobody) gid=50(staff)\n");
    s = spec({"/bin/id"});
    s.user = "4242";  // numeric and unknown: allowed, gid 0 (as docker)
    EXPECT_EQ(run_ok(s).out, "uid=4242 gid=0(root)\n");
    s = spec({"/bin/id", "-u"});
    EXPECT_EQ(run_ok(s).out, "0\n");
}

TEST_F(RuntimeTest, UnknownUserIsAnError) {
    auto s = spec({"/bin/id"});
    s.user = "ghost";
    try {
        run_capture(s);
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound);
        EXPECT_THAT(e.what(), ::testing::HasSubstr("unable to find user ghost"));
    }
    s.user = "user:nogroup-here";
    EXPECT_THROW(run_capture(s), sys::Error);
}

TEST_F(RuntimeTest, UserResolution) {
    sys::UniqueFd root = sys::open_dir(root_->path());
    auto id = resolve_user(root.get(), "");
    EXPECT_EQ(id.uid, 0u);
    EXPECT_EQ(id.groups, (std::vector<gid_t>{10}));  // member of wheel; the primary gid is not repeated
    EXPECT_EQ(id.home, "/root");
    id = resolve_user(root.get(), "user:wheel");
    EXPECT_EQ(id.uid, 1000u);
    EXPECT_EQ(id.gid, 10u);
    id = resolve_user(root.get(), "0");
    EXPECT_EQ(id.uid, 0u);
    EXPECT_THROW(resolve_user(root.get(), "4294967295"), sys::Error);  // CVE-2024-40635
    EXPECT_THROW(resolve_user(root.get(), "99999999999"), sys::Error);
    EXPECT_THROW(resolve_user(root.get(), "1:4294967295"), sys::Error);
    EXPECT_EQ(resolve_user(root.get(), "4294967294").uid, 4294967294u);
    EXPECT_THROW(resolve_user(root.get(), "user:"), sys::Error);

    // /etc/passwd must be a regular file inside the root: a symlink out of it resolves inside.
    ::unlink((root_->path() + "/etc/passwd").c_str());
    ::symlink("/etc/shadow", (root_->path() + "/etc/passwd").c_str());
    EXPECT_THROW(resolve_user(root.get(), "root"), sys::Error);  // <root>/etc/shadow: missing
    ::unlink((root_->path() + "/etc/passwd").c_str());
    ::mkfifo((root_->path() + "/etc/passwd").c_str(), 0644);
    EXPECT_THROW(resolve_user(root.get(), "root"), sys::Error);  // not a regular file
}
