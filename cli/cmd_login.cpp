// imgbuild login REGISTRY -u USER --password-stdin / imgbuild logout REGISTRY
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/remote_util.hpp"
#include "registry/reference.hpp"
#include "sys/error.hpp"

static cli::Registrar reg_login("login", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("login", "Check and save credentials for a registry");
    static std::string host, user;
    static bool password_stdin = false;
    cmd->add_option("REGISTRY", host, "HOST[:PORT]")->required();
    cmd->add_option("-u,--username", user, "user name")->required();
    cmd->add_flag("--password-stdin", password_stdin, "read the password from stdin")->required();
    cmd->callback([&g] {
        std::string pw;
        std::getline(std::cin, pw);
        if (!pw.empty() && pw.back() == '\r') pw.pop_back();
        if (pw.empty()) sys::fail(sys::Code::InvalidInput, "login: empty password on stdin");
        std::string reg = registry::canonical_registry(host);
        registry::Options o = cli::registry_options(g);
        // Verify against the registry first: a temp auth file holding only these credentials.
        registry::Credentials c{user, pw};
        char tmpl[] = "/tmp/imgbuild-login-XXXXXX";
        int fd = ::mkstemp(tmpl);
        if (fd < 0) sys::throw_errno("mkstemp");
        ::close(fd);
        registry::AuthFiles probe{tmpl};
        try {
            registry::save_credentials(probe, reg, c);
            o.auth = probe;
            registry::RemoteRef r = registry::parse_remote_ref(reg + "/imgbuild-login-probe:latest");
            registry::Client cl(r.api_host(), r.repository, o);
            registry::HttpRequest req;
            req.url = "/v2/";
            registry::HttpResponse resp = cl.send(req);
            if (resp.status != 200) cl.fail("login " + reg, resp);
        } catch (...) {
            ::unlink(tmpl);
            throw;
        }
        ::unlink(tmpl);
        registry::AuthFiles files{cli::registry_flags().authfile};
        registry::save_credentials(files, reg, c);
        std::printf("Login Succeeded (credentials in %s)\n", files.write_path().c_str());
    });
});

static cli::Registrar reg_logout("logout", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("logout", "Remove saved credentials for a registry");
    static std::string host;
    cmd->add_option("REGISTRY", host, "HOST[:PORT]")->required();
    cmd->callback([&g] {
        registry::AuthFiles files{cli::registry_flags().authfile};
        std::string reg = registry::canonical_registry(host);
        if (!registry::remove_credentials(files, reg))
            sys::fail(sys::Code::NotFound, "not logged in to " + reg + " (" + files.write_path() + ")");
        std::printf("Removed login credentials for %s\n", reg.c_str());
    });
});
