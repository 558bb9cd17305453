// imgbuild pull REF [--platform OS/ARCH]: fetch an image from a registry into the store.
#include <cstdio>

#include "cli/remote_util.hpp"
#include "cli/store_util.hpp"
#include "layers/rootfs.hpp"
#include "registry/transfer.hpp"
#include "sys/error.hpp"

static cli::Registrar reg("pull", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("pull", "Pull an image from a registry");
    static std::string ref, platform;
    cmd->add_option("REF", ref, "[HOST[:PORT]/]NAME[:TAG|@DIGEST]")->required();
    cmd->add_option("--platform", platform, "OS/ARCH[/VARIANT] to pick from a multi-platform image");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        registry::RemoteRef r = registry::parse_remote_ref(ref);
        registry::PullOptions po;
        po.caps = g.config.import_caps();
        if (!platform.empty()) {
            auto a = platform.find('/');
            if (a == std::string::npos) sys::fail(sys::Code::InvalidInput, "--platform " + platform + ": expected OS/ARCH");
            po.os = platform.substr(0, a);
            po.architecture = platform.substr(a + 1);
            if (auto v = po.architecture.find('/'); v != std::string::npos) {
                po.variant = po.architecture.substr(v + 1);
                po.architecture.resize(v);
            }
        }
        registry::PullResult res = registry::pull(store, r, cli::registry_options(g), po);
        layers::unpack_after_import(store, res.manifest.digest);
        std::printf("Pulled %s\nDigest: %s\n", res.local_name.empty() ? r.str().c_str() : res.local_name.c_str(),
                    res.resolved.str().c_str());
    });
});
