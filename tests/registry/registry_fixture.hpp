// A real registry for tests: `docker-registry serve` (distribution 2.8) with its own config bound to
// 127.0.0.1:<free port>, TLS with a self-signed certificate made by `openssl req`, htpasswd
// (bcrypt) auth, delete enabled, storage in a temp dir. Stopped by its PID.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "../e2e/busybox_fixture.hpp"
#include "sys/fs.hpp"

namespace regtest {

using e2e::CmdResult;
using e2e::have_tool;
using e2e::run_cmd;
using e2e::shell_quote;

inline int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

inline bool can_connect(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port));
    bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
}

// `auth: token` instead of htpasswd: the token server's realm, the certificate its tokens are
// signed with (rootcertbundle), and the service/issuer names its tokens carry.
struct TokenAuth {
    std::string realm, rootcert, service, issuer;
};

class Registry {
public:
    static constexpr const char* kUser = "ciuser";
    static constexpr const char* kPass = "s3cret-pw";

    explicit Registry(std::optional<TokenAuth> token = std::nullopt) : dir_("/tmp", "imgbuild-registry-") {
        for (const char* t : {"docker-registry", "htpasswd", "openssl"})
            if (!have_tool(t)) {
                skip_ = std::string(t) + " is not installed (scripts/setup installs docker-registry apache2-utils openssl)";
                return;
            }
        const std::string& d = dir_.path();
        port_ = free_port();
        CmdResult r = run_cmd("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "
                              "subjectAltName=IP:127.0.0.1 -keyout " + d + "/key.pem -out " + d + "/cert.pem");
        if (r.status != 0) throw std::runtime_error("openssl req failed: " + r.out);
        r = run_cmd(std::string("htpasswd -B -b -c ") + d + "/htpasswd " + kUser + " " + kPass);
        if (r.status != 0) throw std::runtime_error("htpasswd failed: " + r.out);
        std::ofstream(d + "/config.yml") << "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: false\n"
                                         << "storage:\n  filesystem:\n    rootdirectory: " << d << "/data\n"
                                         << "  delete:\n    enabled: true\n"
                                         << "http:\n  addr: 127.0.0.1:" << port_ << "\n  tls:\n    certificate: " << d
                                         << "/cert.pem\n    key: " << d << "/key.pem\n"
                                         << (token ? "auth:\n  token:\n    realm: " + token->realm + "\n    service: " + token->service +
                                                         "\n    issuer: " + token->issuer + "\n    rootcertbundle: " + token->rootcert + "\n"
                                                   : "auth:\n  htpasswd:\n    realm: imgbuild-test\n    path: " + d + "/htpasswd\n");
        // Credentials for imgbuild (--authfile) and skopeo/podman (--authfile / --creds).
        std::ofstream(d + "/auth.json") << "{\"auths\":{\"" << host() << "\":{\"auth\":\""
                                        << base64(std::string(kUser) + ":" + kPass) << "\"}}}";
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open((d + "/registry.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            ::execlp("docker-registry", "docker-registry", "serve", (d + "/config.yml").c_str(), nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 200 && !can_connect(port_); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (!can_connect(port_)) throw std::runtime_error("docker-registry did not start: " + sys::read_file(d + "/registry.log"));
    }
    ~Registry() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    const std::string& skip_reason() const { return skip_; }
    std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    const std::string& dir() const { return dir_.path(); }
    std::string cert() const { return dir_.path() + "/cert.pem"; }
    std::string authfile() const { return dir_.path() + "/auth.json"; }
    // Global imgbuild flags that trust this registry and use its credentials.
    std::string ib_flags() const { return "--authfile " + authfile() + " --ca " + host() + "=" + cert() + " "; }
    std::string skopeo_flags() const { return "--authfile " + authfile() + " --cert-dir " + certdir() + " "; }
    // A directory with the cert as *.crt (skopeo/podman --cert-dir).
    std::string certdir() const {
        std::string c = dir_.path() + "/certs";
        if (!sys::exists(c)) {
            sys::mkdir_p(c);
            sys::write_file_atomic(c + "/ca.crt", sys::read_file(cert()));
        }
        return c;
    }

    static std::string base64(const std::string& s) {
        static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string o;
        size_t i = 0;
        for (; i + 2 < s.size(); i += 3) {
            unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
            o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
        }
        if (i + 1 == s.size()) {
            unsigned v = (unsigned char)s[i] << 16;
            o += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
        } else if (i + 2 == s.size()) {
            unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
            o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
        }
        return o;
    }

private:
    sys::TempDir dir_;
    std::string skip_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// One registry per test process, started on first use.
inline Registry& shared_registry() {
    static Registry r;
    return r;
}

// "imgbuild --root ROOT ARGS" trusting the shared registry and using its credentials.
inline std::string ib_shared(const std::string& root, const std::string& args) {
    return std::string(IMGBUILD_BIN) + " --root " + root + " " + shared_registry().ib_flags() + args;
}

}  // namespace regtest
