// A target's BuildOptions: the registry keys go through RegistryHooks::prepare, and without
// hooks they are an error naming the key (never silently a local-only build).
#include <gtest/gtest.h>

#include "bake/run.hpp"
#include "sys/error.hpp"

namespace {

bake::Target target_of(const std::string& yaml) {
    bake::BakeFile f = bake::parse(yaml, "imgbuild-bake.yaml", "/src/");
    bake::Plan p = bake::resolve(f, {"app"}, {}, [](const std::string&) { return std::nullopt; });
    return p.targets.at(0);
}

std::string error_of(const bake::Target& t, const bake::RunOptions& ro) {
    try {
        bake::build_options(t, ro);
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
}

}  // namespace

TEST(BakeRunOptions, RegistryKeysWithoutHooksAreErrorsNamingTheKey) {
    bake::RunOptions ro;
    bake::Target t = target_of("targets:\n  app:\n    tags: [x]\n    cache-to: [\"type=local,dest=/c\"]\n");
    EXPECT_EQ(error_of(t, ro).rfind("imgbuild-bake.yaml:4:5: target \"app\": cache-to needs the registry support", 0), 0u)
        << error_of(t, ro);
    t = target_of("targets:\n  app:\n    cache-from: [\"type=local,src=/c\"]\n");
    EXPECT_EQ(error_of(t, ro).rfind("imgbuild-bake.yaml:3:5: target \"app\": cache-from needs", 0), 0u) << error_of(t, ro);
    t = target_of("targets:\n  app: {tags: [x]}\n");
    EXPECT_NO_THROW(bake::build_options(t, ro));
    ro.push = true;
    EXPECT_NE(error_of(t, ro).find("--push needs the registry support"), std::string::npos);
}

TEST(BakeRunOptions, HooksPrepareEachTargetsOptions) {
    bake::RunOptions ro;
    ro.push = true;
    std::vector<std::string> seen;
    ro.registry.prepare = [&](const bake::Target& t, bool push, builder::BuildOptions& o) {
        seen.push_back(t.name + (push ? " push" : ""));
        o.remote_cache = [](const cas::Digest&) { return std::nullopt; };
    };
    bake::Target t = target_of("targets:\n  app: {tags: [x], cache-to: [\"type=local,dest=/c\"]}\n");
    builder::BuildOptions o = bake::build_options(t, ro);
    EXPECT_EQ(seen, std::vector<std::string>{"app push"});
    EXPECT_TRUE(bool(o.remote_cache));
    EXPECT_EQ(o.tags, std::vector<std::string>{"x"});
}
