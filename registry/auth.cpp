#include "registry/auth.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <cstdlib>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"

extern char** environ;

namespace registry {

namespace {

std::string env(const char* n) {
    const char* v = std::getenv(n);
    return v ? v : "";
}

std::string docker_config_path() {
    if (auto d = env("DOCKER_CONFIG"); !d.empty()) return d + "/config.json";
    return env("HOME") + "/.docker/config.json";
}

// Auth-file keys may be "host", "https://host", "https://host/v1/" (docker.io: index.docker.io/v1/).
std::string key_host(std::string k) {
    if (auto p = k.find("://"); p != std::string::npos) k = k.substr(p + 3);
    if (auto s = k.find('/'); s != std::string::npos) k = k.substr(0, s);
    if (k == "index.docker.io" || k == "registry-1.docker.io") k = "docker.io";
    return k;
}

nlohmann::json read_json(const std::string& path) {
    std::string text = sys::read_file(path, 4u << 20);
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();  // empty file
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        sys::fail(sys::Code::InvalidInput, path + ": not valid JSON: " + e.what());
    }
}

// Run `docker-credential-NAME get` with the registry on stdin; parse {"Username","Secret"}.
std::optional<Credentials> from_helper(const std::string& name, const std::string& registry) {
    std::string prog = "docker-credential-" + name;
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) < 0 || ::pipe2(out, O_CLOEXEC) < 0) sys::throw_errno("pipe");
    sys::UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    const char* argv[] = {prog.c_str(), "get", nullptr};
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, prog.c_str(), &fa, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) sys::throw_errno("credential helper " + prog, rc);
    in_r.reset();
    out_w.reset();
    std::string host = registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
    (void)!::write(in_w.get(), host.data(), host.size());
    in_w.reset();
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(out_r.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20);) text.append(buf, size_t(n));
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return std::nullopt;  // "credentials not found"
    try {
        auto j = nlohmann::json::parse(text);
        return Credentials{j.value("Username", ""), j.value("Secret", "")};
    } catch (const nlohmann::json::exception&) {
        sys::fail(sys::Code::InvalidInput, "credential helper " + prog + ": output is not JSON");
    }
}

std::optional<Credentials> from_file(const std::string& path, const std::string& registry) {
    if (!sys::exists(path)) return std::nullopt;
    nlohmann::json j = read_json(path);
    if (!j.is_object()) sys::fail(sys::Code::InvalidInput, path + ": not a JSON object");
    if (j.contains("credHelpers") && j["credHelpers"].is_object())
        for (auto& [k, v] : j["credHelpers"].items())
            if (key_host(k) == registry && v.is_string()) return from_helper(v.get<std::string>(), registry);
    if (j.contains("auths") && j["auths"].is_object()) {
        for (auto& [k, v] : j["auths"].items()) {
            if (key_host(k) != registry || !v.is_object()) continue;
            if (v.contains("auth") && v["auth"].is_string()) {
                std::string dec = sys::with_context(path + ": auths." + k, [&] { return base64_decode(v["auth"].get<std::string>()); });
                auto c = dec.find(':');
                if (c == std::string::npos)
                    sys::fail(sys::Code::InvalidInput, path + ": auths." + k + ".auth is not user:password");
                return Credentials{dec.substr(0, c), dec.substr(c + 1)};
            }
            if (v.contains("identitytoken") && v["identitytoken"].is_string())
                return Credentials{"<token>", v["identitytoken"].get<std::string>()};
        }
    }
    if (j.contains("credsStore") && j["credsStore"].is_string()) return from_helper(j["credsStore"].get<std::string>(), registry);
    return std::nullopt;
}

}  // namespace

std::vector<std::string> AuthFiles::read_order() const {
    std::vector<std::string> v;
    std::string af = authfile.empty() ? env("REGISTRY_AUTH_FILE") : authfile;
    if (!af.empty()) return {af};
    if (auto x = env("XDG_RUNTIME_DIR"); !x.empty()) v.push_back(x + "/containers/auth.json");
    v.push_back(docker_config_path());
    if (auto h = env("HOME"); !h.empty()) v.push_back(h + "/.config/containers/auth.json");
    return v;
}

std::string AuthFiles::write_path() const {
    std::string af = authfile.empty() ? env("REGISTRY_AUTH_FILE") : authfile;
    return af.empty() ? docker_config_path() : af;
}

std::optional<Credentials> find_credentials(const AuthFiles& files, const std::string& registry) {
    for (auto& p : files.read_order())
        if (auto c = from_file(p, registry)) return c;
    return std::nullopt;
}

void save_credentials(const AuthFiles& files, const std::string& registry, const Credentials& c) {
    std::string path = files.write_path();
    nlohmann::json j = sys::exists(path) ? read_json(path) : nlohmann::json::object();
    if (!j.is_object()) sys::fail(sys::Code::InvalidInput, path + ": not a JSON object");
    if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = nlohmann::json::object();
    for (auto it = j["auths"].begin(); it != j["auths"].end();)
        it = key_host(it.key()) == registry ? j["auths"].erase(it) : std::next(it);
    j["auths"][registry] = {{"auth", base64_encode(c.username + ":" + c.password)}};
    auto slash = path.rfind('/');
    if (slash != std::string::npos) sys::mkdir_p(path.substr(0, slash), 0700);
    sys::write_file_atomic(path, j.dump(1, '\t') + "\n", 0600);
}

bool remove_credentials(const AuthFiles& files, const std::string& registry) {
    std::string path = files.write_path();
    if (!sys::exists(path)) return false;
    nlohmann::json j = read_json(path);
    if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object()) return false;
    bool found = false;
    for (auto it = j["auths"].begin(); it != j["auths"].end();) {
        if (key_host(it.key()) == registry) {
            it = j["auths"].erase(it);
            found = true;
        } else {
            ++it;
        }
    }
    if (found) sys::write_file_atomic(path, j.dump(1, '\t') + "\n", 0600);
    return found;
}

std::string base64_encode(const std::string& s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
    out.resize(size_t(n));
    return out;
}

std::string base64_decode(const std::string& s) {
    if (s.size() % 4 != 0) sys::fail(sys::Code::InvalidInput, "bad base64 text");
    std::string out(s.size() / 4 * 3 + 1, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
    if (n < 0) sys::fail(sys::Code::InvalidInput, "bad base64 text");
    size_t pad = (!s.empty() && s.back() == '=') + (s.size() > 1 && s[s.size() - 2] == '=');
    out.resize(size_t(n) - pad);
    return out;
}

std::optional<Challenge> parse_challenge(const std::string& h) {
    size_t i = h.find_first_not_of(' ');
    if (i == std::string::npos) return std::nullopt;
    size_t sp = h.find(' ', i);
    Challenge c;
    c.scheme = h.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
    for (auto& ch : c.scheme) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (sp == std::string::npos) return c;
    size_t p = sp + 1;
    while (p < h.size()) {
        while (p < h.size() && (h[p] == ' ' || h[p] == ',')) p++;
        size_t eq = h.find('=', p);
        if (eq == std::string::npos) break;
        std::string key = h.substr(p, eq - p);
        for (auto& ch : key) ch = char(std::tolower(static_cast<unsigned char>(ch)));
        std::string val;
        p = eq + 1;
        if (p < h.size() && h[p] == '"') {
            for (p++; p < h.size() && h[p] != '"'; p++) {
                if (h[p] == '\\' && p + 1 < h.size()) p++;
                val += h[p];
            }
            p++;
        } else {
            size_t e = h.find(',', p);
            val = h.substr(p, e == std::string::npos ? std::string::npos : e - p);
            p = e == std::string::npos ? h.size() : e;
        }
        c.params[key] = val;
    }
    return c;
}

}  // namespace registry
