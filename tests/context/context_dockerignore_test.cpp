// .dockerignore (moby patternmatcher) and filepath.Match semantics.
#include <gtest/gtest.h>

#include "context/context.hpp"
#include "context/dockerignore.hpp"
#include "context_util.hpp"
#include "sys/error.hpp"

using context::IgnoreMatcher;

namespace {

struct Case {
    const char* pattern;
    const char* path;
    bool match;
};

// From moby/patternmatcher's matching table (MatchesOrParentMatches semantics).
const Case kCases[] = {
    {"**", "file", true},
    {"**", "file/", true},
    {"**/", "file", true},
    {"**/", "file/", true},
    {"**", "dir/file", true},
    {"**/", "dir/file", true},
    {"**", "dir/file/", true},
    {"**/**", "dir/file", true},
    {"**/**", "dir/file/", true},
    {"dir/**", "dir/file", true},
    {"dir/**", "dir/file/", true},
    {"dir/**", "dir/dir2/file", true},
    {"dir/**", "dir/dir2/file/", true},
    {"**/dir", "dir", true},
    {"**/dir", "dir/file", true},
    {"**/dir2/*", "dir/dir2/file", true},
    {"**/dir2/*", "dir/dir2/file/", true},
    {"**/dir2/**", "dir/dir2/dir3/file", true},
    {"**/dir2/**", "dir/dir2/dir3/file/", true},
    {"**file", "file", true},
    {"**file", "dir/file", true},
    {"**/file", "dir/file", true},
    {"**file", "dir/dir/file", true},
    {"**/file", "dir/dir/file", true},
    {"**/file*", "dir/dir/file", true},
    {"**/file*", "dir/dir/file.txt", true},
    {"**/file*txt", "dir/dir/file.txt", true},
    {"**/file*.txt", "dir/dir/file.txt", true},
    {"**/file*.txt*", "dir/dir/file.txt", true},
    {"**/**/*.txt", "dir/dir/file.txt", true},
    {"**/**/*.txt2", "dir/dir/file.txt", false},
    {"**/*.txt", "file.txt", true},
    {"**/**/*.txt", "file.txt", true},
    {"a**/*.txt", "a/file.txt", true},
    {"a**/*.txt", "a/dir/file.txt", true},
    {"a**/*.txt", "a/dir/dir/file.txt", true},
    {"a/*.txt", "a/dir/file.txt", false},
    {"a/*.txt", "a/file.txt", true},
    {"a/*.txt**", "a/file.txt", true},
    {"a[b-d]e", "ae", false},
    {"a[b-d]e", "ace", true},
    {"a[b-d]e", "aae", false},
    {"a[^b-d]e", "aze", true},
    {".*", ".foo", true},
    {".*", "foo", false},
    {"abc.def", "abcdef", false},
    {"abc.def", "abc.def", true},
    {"abc.def", "abcZdef", false},
    {"abc?def", "abcZdef", true},
    {"abc?def", "abcdef", false},
    {"a\\\\", "a\\", true},
    {"**/foo/bar", "foo/bar", true},
    {"**/foo/bar", "dir/foo/bar", true},
    {"**/foo/bar", "dir/dir2/foo/bar", true},
    {"abc/**", "abc", false},
    {"abc/**", "abc/def", true},
    {"abc/**", "abc/def/ghi", true},
    {"**/.foo", ".foo", true},
    {"**/.foo", "bar.foo", false},
    {"a(b)c/def", "a(b)c/def", true},
    {"a(b)c/def", "a(b)c/xyz", false},
    {"a.|)$(}+{bc", "a.|)$(}+{bc", true},
    {"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
    {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
    // parent-directory matching: a pattern naming a directory excludes what is inside
    {"docs", "docs/a/b.md", true},
    {"*.md", "docs/a.md", false},
    {"*/*.md", "docs/a.md", true},
    {"/abs/x", "abs/x", true},
    {"./rel/../rel/x", "rel/x", true},
    {"dir/", "dir/file", true},
};

TEST(ContextDockerignore, MobyPatternTable) {
    int n = 0;
    for (const Case& c : kCases) {
        IgnoreMatcher m = IgnoreMatcher::from_patterns({c.pattern});
        EXPECT_EQ(m.excluded(c.path), c.match) << "pattern '" << c.pattern << "' path '" << c.path << "'";
        ++n;
    }
    EXPECT_GT(n, 60);
}

TEST(ContextDockerignore, ExceptionsAndLastMatchWins) {
    IgnoreMatcher m = IgnoreMatcher::parse(
        "# a comment\n"
        "\n"
        "  *.log  \n"
        "!important.log\n"
        "build\n"
        "!build/keep/**\n"
        "build/keep/secret\n"
        "**/node_modules\n");
    EXPECT_TRUE(m.excluded("a.log"));
    EXPECT_FALSE(m.excluded("important.log"));
    EXPECT_FALSE(m.excluded("sub/a.log"));  // "*.log" is anchored at the root
    EXPECT_TRUE(m.excluded("build"));
    EXPECT_TRUE(m.excluded("build/x.o"));
    EXPECT_FALSE(m.excluded("build/keep/a.txt"));
    EXPECT_TRUE(m.excluded("build/keep/secret"));  // last match wins
    EXPECT_TRUE(m.excluded("build/keep/secret/inner"));
    EXPECT_TRUE(m.excluded("node_modules/x"));
    EXPECT_TRUE(m.excluded("a/b/node_modules/c/d"));
    EXPECT_FALSE(m.excluded("# a comment"));
    EXPECT_TRUE(m.has_exceptions());
    EXPECT_TRUE(m.may_contain_exception("build"));
    EXPECT_FALSE(m.may_contain_exception("node_modules"));
    EXPECT_EQ(m.patterns().size(), 6u);

    IgnoreMatcher w = IgnoreMatcher::parse("dir\n!**/keep\n");
    EXPECT_TRUE(w.may_contain_exception("dir"));  // a wildcard exception can reach below
    EXPECT_TRUE(w.excluded("dir/x"));
    EXPECT_FALSE(w.excluded("dir/keep"));
}

TEST(ContextDockerignore, BadPatterns) {
    EXPECT_THROW(IgnoreMatcher::parse("!\n"), sys::Error);
    EXPECT_THROW(IgnoreMatcher::parse("a[b\n"), sys::Error);
    try {
        IgnoreMatcher::parse("ok\n[z-a]\n", "ctx/.dockerignore");
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find("ctx/.dockerignore"), std::string::npos) << e.what();
    }
}

TEST(ContextDockerignore, FilepathMatch) {
    EXPECT_TRUE(context::path_match("*.txt", "a.txt"));
    EXPECT_FALSE(context::path_match("*.txt", "dir/a.txt"));
    EXPECT_TRUE(context::path_match("a?c", "abc"));
    EXPECT_FALSE(context::path_match("a?c", "a/c"));
    EXPECT_TRUE(context::path_match("[a-c]x", "bx"));
    EXPECT_FALSE(context::path_match("[^a-c]x", "bx"));
    EXPECT_TRUE(context::path_match("\\*", "*"));
    EXPECT_FALSE(context::path_match("\\*", "a"));
    EXPECT_THROW(context::path_match("[", "a"), sys::Error);
    EXPECT_TRUE(context::has_glob_meta("a*"));
    EXPECT_FALSE(context::has_glob_meta("a\\*"));
    EXPECT_EQ(context::clean_path("./a//b/../c/"), "a/c");
    EXPECT_EQ(context::clean_path("/../x"), "/x");
    EXPECT_EQ(context::clean_path(""), ".");
}

TEST(ContextDockerignore, BuildfileSpecificIgnoreWins) {
    ctxtest::Tmp t;
    ctxtest::put(t.p(".dockerignore"), "a.txt\n");
    ctxtest::put(t.p("sub/Buildfile"), "FROM scratch\n");
    ctxtest::put(t.p("sub/Buildfile.dockerignore"), "b.txt\n");
    IgnoreMatcher generic = IgnoreMatcher::load(t.p(), t.p("Buildfile"));
    EXPECT_TRUE(generic.excluded("a.txt"));
    EXPECT_FALSE(generic.excluded("b.txt"));
    IgnoreMatcher specific = IgnoreMatcher::load(t.p(), t.p("sub/Buildfile"));
    EXPECT_FALSE(specific.excluded("a.txt"));
    EXPECT_TRUE(specific.excluded("b.txt"));
    EXPECT_EQ(specific.source_file(), t.p("sub/Buildfile.dockerignore"));
    IgnoreMatcher none = IgnoreMatcher::load(t.p("sub"), "");
    EXPECT_TRUE(none.empty());
}

}  // namespace
