// Unit tests of the bake format: parsing (errors with file:line:column), variables,
// inherits, matrix, --set, groups and the target graph.
#include <gtest/gtest.h>

#include "bake/bake.hpp"
#include "sys/error.hpp"

using namespace bake;

namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

Plan plan_of(const std::string& yaml, std::vector<std::string> names = {}, std::vector<std::string> sets = {},
             EnvLookup env = no_env) {
    BakeFile f = parse(yaml, "imgbuild-bake.yaml", "/src/");
    std::vector<Override> os;
    for (auto& s : sets) os.push_back(parse_set(s));
    return resolve(f, names, os, env);
}

// The error message of f(), which must throw sys::Error(InvalidInput).
template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
}

const Target& target(const Plan& p, const std::string& name) {
    for (auto& t : p.targets)
        if (t.name == name) return t;
    throw std::runtime_error("no target " + name);
}

std::vector<std::string> names(const Plan& p) {
    std::vector<std::string> n;
    for (auto& t : p.targets) n.push_back(t.name);
    return n;
}

const char* kIssueExample = R"(version: 1
variables:
  TAG: {default: dev, env: CI_TAG}
targets:
  base:   {context: ., file: base.Buildfile, tags: ["app-base:${TAG}"]}
  app:
    context: .
    file: Buildfile
    inherits: [common]
    contexts: {base: "target:base"}
    args: {VERSION: "${TAG}"}
    tags: ["registry:5000/app:${TAG}"]
    target: runtime
    cache-from: ["type=registry,ref=registry:5000/app:cache"]
    cache-to:   ["type=registry,ref=registry:5000/app:cache,mode=max"]
    output: ["type=oci,dest=out/app.tar"]
  common: {labels: {org.opencontainers.image.source: "https://example.invalid/app"}}
  test:
    inherits: [app]
    target: test
    matrix: {flavor: [slim, full]}
    name: "test-${flavor}"
    args: {FLAVOR: "${flavor}"}
groups:
  default: [app, test]
)";

}  // namespace

TEST(BakeResolve, IssueExampleResolvesInBuildOrder) {
    Plan p = plan_of(kIssueExample);
    ASSERT_EQ(names(p), (std::vector<std::string>{"base", "app", "test-slim", "test-full"}));
    const Target& app = target(p, "app");
    EXPECT_EQ(app.context, "/src");
    EXPECT_EQ(app.file, "/src/Buildfile");
    EXPECT_EQ(app.stage, "runtime");
    EXPECT_EQ(app.args.at("VERSION"), "dev");
    EXPECT_EQ(app.tags, std::vector<std::string>{"registry:5000/app:dev"});
    EXPECT_EQ(app.labels.at("org.opencontainers.image.source"), "https://example.invalid/app");
    EXPECT_EQ(app.context_targets.at("base"), "base");
    EXPECT_EQ(app.depends, std::vector<std::string>{"base"});
    const Target& slim = target(p, "test-slim");
    EXPECT_EQ(slim.source, "test");
    EXPECT_EQ(slim.stage, "test");                                  // own key wins
    EXPECT_EQ(slim.args.at("FLAVOR"), "slim");                      // maps merge...
    EXPECT_EQ(slim.args.at("VERSION"), "dev");                      // ...keeping the inherited keys
    EXPECT_EQ(slim.context_targets.at("base"), "base");             // inherited context
    EXPECT_EQ(target(p, "test-full").args.at("FLAVOR"), "full");
    EXPECT_EQ(p.groups.at("default"), (std::vector<std::string>{"app", "test-slim", "test-full"}));
}

TEST(BakeResolve, VariableFromEnvOnlyWhenAskedFor) {
    auto env = [](const std::string& n) -> std::optional<std::string> {
        if (n == "CI_TAG") return "v9";
        if (n == "TAG") return "from-TAG";  // not consulted: TAG names env CI_TAG
        return std::nullopt;
    };
    Plan p = plan_of(kIssueExample, {"base"}, {}, env);
    EXPECT_EQ(target(p, "base").tags, std::vector<std::string>{"app-base:v9"});
    Plan q = plan_of("variables: {TAG: dev}\ntargets: {a: {tags: [\"x:${TAG}\"]}}\n", {"a"}, {}, env);
    EXPECT_EQ(target(q, "a").tags, std::vector<std::string>{"x:dev"});
}

TEST(BakeResolve, VariablesUseOtherVariablesAndDollarEscapes) {
    Plan p = plan_of("variables: {A: \"${B}-x\", B: b}\ntargets: {t: {args: {X: \"${A}\", Y: \"$$HOME $PATH\"}}}\n", {"t"});
    EXPECT_EQ(target(p, "t").args.at("X"), "b-x");
    EXPECT_EQ(target(p, "t").args.at("Y"), "$HOME $PATH");
}

TEST(BakeResolve, ListsReplaceLaterWins) {
    Plan p = plan_of(R"(targets:
  a: {tags: [a1, a2], target: one, args: {K: a}}
  b: {tags: [b1], args: {K: b, L: b}}
  c: {inherits: [a, b], target: three}
)", {"c"});
    const Target& c = target(p, "c");
    EXPECT_EQ(c.tags, std::vector<std::string>{"b1"});
    EXPECT_EQ(c.stage, "three");
    EXPECT_EQ(c.args.at("K"), "b");
    EXPECT_EQ(c.args.at("L"), "b");
    EXPECT_EQ(names(p), std::vector<std::string>{"c"});  // inheriting is not depending
}

TEST(BakeResolve, MatrixIsTheCartesianProductInFileOrder) {
    Plan p = plan_of(R"(targets:
  t:
    matrix: {os: [alpine, debian], v: ["1", "2"]}
    name: "t-${os}-${v}"
    tags: ["img:${os}${v}"]
)", {"t"});
    EXPECT_EQ(names(p), (std::vector<std::string>{"t-alpine-1", "t-alpine-2", "t-debian-1", "t-debian-2"}));
    EXPECT_EQ(target(p, "t-debian-2").tags, std::vector<std::string>{"img:debian2"});
    EXPECT_EQ(names(plan_of("targets: {t: {matrix: {x: [a, b]}, name: \"t-${x}\"}}\n", {"t-b"})), std::vector<std::string>{"t-b"});
}

TEST(BakeResolve, SetOverridesByGlob) {
    Plan p = plan_of(kIssueExample, {}, {"*.args.VERSION=9", "app.tags=one", "test*.tags+=extra:${TAG}", "base.no-cache=true"});
    EXPECT_EQ(target(p, "app").args.at("VERSION"), "9");
    EXPECT_EQ(target(p, "test-slim").args.at("VERSION"), "9");
    EXPECT_EQ(target(p, "app").tags, std::vector<std::string>{"one"});
    EXPECT_EQ(target(p, "test-full").tags, (std::vector<std::string>{"registry:5000/app:dev", "extra:dev"}));
    EXPECT_TRUE(target(p, "base").no_cache);
    EXPECT_FALSE(target(p, "app").no_cache);
    EXPECT_NE(error_of([] { plan_of(kIssueExample, {}, {"nomatch*.target=x"}); }).find("no target matches \"nomatch*\""),
              std::string::npos);
    EXPECT_NE(error_of([] { parse_set("app.tagz=x"); }).find("unknown key \"tagz\""), std::string::npos);
    EXPECT_NE(error_of([] { parse_set("app.args=x"); }).find("needs a name"), std::string::npos);
    EXPECT_NE(error_of([] { parse_set("app.target"); }).find("missing '='"), std::string::npos);
    EXPECT_NE(error_of([] { parse_set("app.no-cache=maybe"); }).find("true or false"), std::string::npos);
}

TEST(BakeResolve, UnknownKeyNamesFileLineColumn) {
    std::string e = error_of([] { parse("targets:\n  app:\n    context: .\n    tagz: [x]\n", "imgbuild-bake.yaml"); });
    EXPECT_EQ(e, "imgbuild-bake.yaml:4:5: unknown key \"tagz\" in target \"app\"");
    e = error_of([] { parse("version: 1\nvariable: {}\ntargets: {}\n", "f.yaml"); });
    EXPECT_EQ(e.rfind("f.yaml:2:1: unknown key \"variable\"", 0), 0u) << e;
    e = error_of([] { parse("version: 2\ntargets: {}\n", "f.yaml"); });
    EXPECT_EQ(e.rfind("f.yaml:1:10: version", 0), 0u) << e;
}

TEST(BakeResolve, BadTypesNameFileLineColumn) {
    EXPECT_EQ(error_of([] { parse("targets:\n  app:\n    tags: x\n", "f.yaml"); }),
              "f.yaml:3:11: \"tags\" in target \"app\": expected a list of strings");
    EXPECT_EQ(error_of([] { parse("targets:\n  app:\n    args: [a]\n", "f.yaml"); }),
              "f.yaml:3:11: \"args\" in target \"app\": expected a mapping");
    EXPECT_EQ(error_of([] { parse("targets:\n  app: {no-cache: yes please}\n", "f.yaml"); }),
              "f.yaml:2:19: \"no-cache\" in target \"app\": expected true or false");
    EXPECT_EQ(error_of([] { parse("targets:\n  app: {context: [a]}\n", "f.yaml"); }),
              "f.yaml:2:18: \"context\" in target \"app\": expected a string");
    EXPECT_NE(error_of([] { parse("targets:\n  a: {}\n  a: {}\n", "f.yaml"); }).find("f.yaml:3:3: targets: duplicate key \"a\""),
              std::string::npos);
    EXPECT_NE(error_of([] { parse("targets: [\n", "f.yaml"); }).rfind("f.yaml:", 0), std::string::npos);
}

TEST(BakeResolve, CyclesAreErrorsNamingThem) {
    std::string e = error_of([] { plan_of("targets:\n  a: {depends: [b]}\n  b: {contexts: {x: \"target:c\"}}\n  c: {depends: [a]}\n", {"a"}); });
    EXPECT_NE(e.find("cycle between targets: a -> b -> c -> a"), std::string::npos) << e;
    e = error_of([] { plan_of("targets:\n  a: {inherits: [b]}\n  b: {inherits: [a]}\n", {"a"}); });
    EXPECT_NE(e.find("cycle in inherits: a -> b -> a"), std::string::npos) << e;
    e = error_of([] { plan_of("targets: {a: {}}\ngroups: {g: [h], h: [g]}\n", {"a"}); });
    EXPECT_NE(e.find("cycle in groups: g -> h -> g"), std::string::npos) << e;
    e = error_of([] { plan_of("variables: {A: \"${B}\", B: \"${A}\"}\ntargets: {a: {}}\n", {"a"}); });
    EXPECT_NE(e.find("cycle: A -> B -> A"), std::string::npos) << e;
    e = error_of([] { plan_of("targets: {a: {depends: [a]}}\n", {"a"}); });
    EXPECT_NE(e.find("depends on itself"), std::string::npos) << e;
}

TEST(BakeResolve, UnknownNamesAreErrors) {
    EXPECT_NE(error_of([] { plan_of(kIssueExample, {"nosuch"}); }).find("unknown target or group \"nosuch\""), std::string::npos);
    EXPECT_EQ(error_of([] { plan_of("targets:\n  a: {depends: [zz]}\n", {"a"}); }),
              "imgbuild-bake.yaml:2:17: target \"a\" refers to unknown target \"zz\"");
    EXPECT_NE(error_of([] { plan_of("targets:\n  a: {inherits: [zz]}\n", {"a"}); }).find("inherits unknown target \"zz\""),
              std::string::npos);
    EXPECT_EQ(error_of([] { plan_of("targets:\n  a: {tags: [\"x:${NOPE}\"]}\n", {"a"}); }),
              "imgbuild-bake.yaml:2:14: unknown variable \"NOPE\" in \"x:${NOPE}\"");
    EXPECT_NE(error_of([] { plan_of("targets: {a: {}}\n"); }).find("no \"default\" group"), std::string::npos);
    EXPECT_NE(error_of([] { plan_of("targets: {t: {matrix: {x: [a]}}}\n", {"t"}); }).find("no \"name\" template"), std::string::npos);
    EXPECT_NE(error_of([] { plan_of("targets: {t: {matrix: {x: [a, b]}, name: t}}\n", {"t"}); }).find("used twice"),
              std::string::npos);
    EXPECT_NE(error_of([] { plan_of("targets:\n  m: {matrix: {x: [a, b]}, name: \"m-${x}\"}\n  u: {contexts: {b: \"target:m\"}}\n", {"u"}); })
                  .find("is a matrix of 2 targets"),
              std::string::npos);
}

TEST(BakeResolve, DependenciesJoinTheSelectionOnce) {
    Plan p = plan_of(R"(targets:
  base: {}
  a: {contexts: {b: "target:base"}}
  b: {depends: [base], contexts: {img: "busybox:latest"}}
groups:
  default: [b, a, base]
)");
    EXPECT_EQ(names(p), (std::vector<std::string>{"base", "b", "a"}));
    EXPECT_EQ(target(p, "b").context_images.at("img"), "busybox:latest");
    auto j = to_json(p);
    EXPECT_EQ(j["target"]["a"]["contexts"]["b"], "target:base");
    EXPECT_EQ(j["target"]["b"]["depends"], nlohmann::ordered_json::array({"base"}));
}
