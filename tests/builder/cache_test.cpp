#include <gtest/gtest.h>

#include "builder/cache.hpp"
#include "sys/fs.hpp"

using nlohmann::json;
using namespace builder;

TEST(CacheKey, CanonicalAndVersioned) {
    json a = {{"parent", "scratch"}, {"instruction", "RUN make"}, {"env", {{"A", "1"}, {"B", "2"}}}};
    json b = json::parse(R"({"env":{"B":"2","A":"1"},"instruction":"RUN make","parent":"scratch"})");
    EXPECT_EQ(cache_key(a), cache_key(b));  // key order does not matter
    json c = a;
    c["env"]["A"] = "3";
    EXPECT_NE(cache_key(a), cache_key(c));
    // The version is part of the key: the same inputs under another version differ.
    json d = a;
    d["v"] = kCacheVersion + 1;
    EXPECT_NE(cache_key(a).str(), cas::Digest::of(d.dump()).str());
    EXPECT_EQ(cache_key(a).str(), [&] { json e = a; e["v"] = kCacheVersion; return cas::Digest::of(e.dump()).str(); }());
}

TEST(CacheExplain, NamesTheFirstDifference) {
    json prev = {{"parent", "p1"}, {"instruction", "COPY . /src"}, {"files", {{"a.c", "d1"}, {"b.c", "d2"}}}};
    json cur = prev;
    EXPECT_EQ(explain_difference(prev, cur), "");
    cur["files"]["b.c"] = "d3";
    EXPECT_EQ(explain_difference(prev, cur), "file \"b.c\" changed");
    cur = prev;
    cur["files"]["c.c"] = "d4";
    EXPECT_EQ(explain_difference(prev, cur), "file \"c.c\" added");
    cur = prev;
    cur["files"].erase("a.c");
    EXPECT_EQ(explain_difference(prev, cur), "file \"a.c\" removed");
    json p2 = {{"parent", "p1"}, {"instruction", "RUN x"}, {"args", {{"VERSION", "1"}}}};
    json c2 = p2;
    c2["args"]["VERSION"] = "2";
    EXPECT_EQ(explain_difference(p2, c2), "build-arg VERSION changed (\"1\" -> \"2\")");
    c2 = p2;
    c2["parent"] = "p2";
    EXPECT_EQ(explain_difference(p2, c2), "parent step changed");
    c2 = p2;
    c2["instruction"] = "RUN y";
    EXPECT_EQ(explain_difference(p2, c2), "instruction changed: \"RUN y\"");
}
