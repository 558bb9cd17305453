// The one copy of each low-level helper: path text, K=V env entries, directory listing,
// write_all and the openat2 wrappers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "sys/env.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"

using namespace sys;

TEST(Path, SplitFieldsKeepsEmptyFields) {
    EXPECT_EQ(split_fields("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_EQ(split_fields("", ','), (std::vector<std::string>{""}));
    EXPECT_EQ(split_fields("a:", ':'), (std::vector<std::string>{"a", ""}));
}

TEST(Path, CleanPathLikeGo) {
    EXPECT_EQ(clean_path(""), ".");
    EXPECT_EQ(clean_path("a//b/./c/"), "a/b/c");
    EXPECT_EQ(clean_path("/../a/../../b"), "/b");
    EXPECT_EQ(clean_path("../a/.."), "..");
    EXPECT_EQ(clean_path("a/../../b"), "../b");
    EXPECT_EQ(clean_path("/"), "/");
}

TEST(Path, BaseAndDirName) {
    EXPECT_EQ(base_name("a/b/c"), "c");
    EXPECT_EQ(base_name("c"), "c");
    EXPECT_EQ(base_name("a/"), "");
    EXPECT_EQ(dir_name("a/b/c"), "a/b");
    EXPECT_EQ(dir_name("c"), "");
    EXPECT_EQ(dir_name("/c"), "");
}

TEST(Env, SplitKeyValue) {
    EXPECT_EQ(split_kv("A=b=c"), (std::pair<std::string, std::string>{"A", "b=c"}));
    EXPECT_EQ(split_kv("A"), (std::pair<std::string, std::string>{"A", ""}));
    EXPECT_EQ(split_kv("A="), (std::pair<std::string, std::string>{"A", ""}));
    EXPECT_EQ(env_key("PATH=/bin"), "PATH");
    EXPECT_EQ(env_key("PATH"), "PATH");
}

TEST(Env, SetReplacesInPlaceOrAppends) {
    std::vector<std::string> env{"A=1", "PATHX=2", "B"};
    env_set(env, "PATH", "/bin");  // PATHX is another key
    env_set(env, "A", "3");
    env_set(env, "B", "4");  // a bare key is replaced too
    EXPECT_EQ(env, (std::vector<std::string>{"A=3", "PATHX=2", "B=4", "PATH=/bin"}));
    EXPECT_TRUE(env_has(env, "PATH"));
    EXPECT_FALSE(env_has(env, "PAT"));
    auto m = env_map({"A=1", "A=2", "C"});
    EXPECT_EQ(m.at("A"), "2");
    EXPECT_EQ(m.at("C"), "");
}

TEST(Dir, ListDirSkipsDotsAndCanBeRepeated) {
    TempDir t("/tmp", "imgbuild-test-");
    write_file_atomic(t.path() + "/x", "1");
    mkdir_p(t.path() + "/sub");
    UniqueFd fd = open_dir(t.path());
    for (int i = 0; i < 2; ++i) {  // the second listing of the same fd sees everything again
        auto names = list_dir(fd.get(), t.path());
        std::sort(names.begin(), names.end());
        EXPECT_EQ(names, (std::vector<std::string>{"sub", "x"}));
    }
    EXPECT_EQ(list_dir(t.path() + "/sub"), std::vector<std::string>{});
}

TEST(Dir, ListMissingDir) {
    EXPECT_TRUE(list_dir("/nonexistent/imgbuild/d", /*missing_ok=*/true).empty());
    try {
        list_dir("/nonexistent/imgbuild/d");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::NotFound);
        EXPECT_EQ(e.sys_errno(), ENOENT);
    }
    UniqueFd file(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(list_dir(file.get(), "status"), Error);  // not a directory: thrown, nothing leaks
}

TEST(Fs, WriteAllWritesEverything) {
    TempDir t("/tmp", "imgbuild-test-");
    std::string p = t.path() + "/f";
    UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string data(3 << 20, 'z');
    write_all(fd.get(), data.data(), data.size(), p);
    fd.reset();
    EXPECT_EQ(read_file(p), data);
    UniqueFd ro(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_THROW(write_all(ro.get(), "x", 1, p), Error);
}

TEST(Fs, OpenInRootNofollowRefusesAnySymlink) {
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/d");
    write_file_atomic(t.path() + "/d/f", "x");
    ASSERT_EQ(::symlink("d", (t.path() + "/l").c_str()), 0);
    UniqueFd root = open_dir(t.path());
    EXPECT_TRUE(open_in_root_nofollow(root.get(), "d/f", O_RDONLY));
    EXPECT_TRUE(open_in_root_nofollow(root.get(), "", O_RDONLY | O_DIRECTORY));
    EXPECT_THROW(open_in_root_nofollow(root.get(), "l/f", O_RDONLY), Error);
    EXPECT_TRUE(open_in_root(root.get(), "l/f", O_RDONLY));  // the confined open follows it
    EXPECT_EQ(openat2_fd(root.get(), "", O_PATH, kResolveInRoot), -1);  // raw: "" is not "."
}

TEST(ErrorCodes, WrapKeepsCodeErrnoAndLocation) {
    Error e = errno_error("open x", EACCES).at({"Buildfile", 12});
    EXPECT_STREQ(e.what(), "Buildfile:12: open x: Permission denied");
    Error w = e.wrap("step");
    EXPECT_EQ(w.code(), Code::System);
    EXPECT_EQ(w.sys_errno(), EACCES);
    EXPECT_EQ(w.loc().file, "Buildfile");
    EXPECT_EQ(w.loc().line, 12);
    // The location is attached once: the innermost wins, the text is not prefixed twice.
    EXPECT_STREQ(e.at({"Other", 3}).what(), "Buildfile:12: open x: Permission denied");
    EXPECT_STREQ(Error(Code::Cancelled, "x").at({}).what(), "x");  // no location: unchanged
    EXPECT_STREQ(code_name(Code::Cancelled), "cancelled");
    EXPECT_STREQ(code_name(Code::ExecFailed), "exec failed");
}
