// A small scripted HTTP/1.1 server on 127.0.0.1 for fault tests: each request is handed to a
// handler that returns the raw bytes to send (status line, headers, body; possibly cut short).
// One request per connection (Connection: close). Stopped in the destructor. Connections are
// served one after the other, or each on a thread of its own when `concurrent` (the handler
// must then be thread-safe: parallel-transfer tests hold requests to count them in flight).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace regtest {

struct Req {
    std::string method, path;
    std::map<std::string, std::string> headers;  // lowercase names
    std::string body;                            // Content-Length bytes (uploads)
};

inline std::string http_response(int status, const std::string& reason, const std::vector<std::string>& headers,
                                 const std::string& body, bool full_length = true) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    for (auto& h : headers) r += h + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (full_length) r += body;
    else r += body.substr(0, body.size() / 2);  // cut mid-transfer
    return r;
}

class FaultServer {
public:
    using Handler = std::function<std::string(const Req&)>;
    explicit FaultServer(Handler h, bool concurrent = false) : handler_(std::move(h)), concurrent_(concurrent) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        ::listen(fd_, 64);
        thread_ = std::thread([this] { loop(); });
    }
    ~FaultServer() {
        stop_ = true;
        thread_.join();
        for (auto& t : conns_) t.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::vector<Req> requests() {
        std::lock_guard<std::mutex> l(mu_);
        return reqs_;
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            if (concurrent_) {
                conns_.emplace_back([this, c] {
                    serve(c);
                    ::close(c);
                });
                continue;
            }
            serve(c);
            ::close(c);
        }
    }
    void serve(int c) {
        std::string in;
        char buf[8192];
        while (in.find("\r\n\r\n") == std::string::npos) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 2000) <= 0) return;
            ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) return;
            in.append(buf, size_t(n));
            if (in[0] == '\x16') return;  // a TLS ClientHello: this server speaks plain http only
        }
        Req r;
        size_t eol = in.find("\r\n");
        std::string line = in.substr(0, eol);
        r.method = line.substr(0, line.find(' '));
        r.path = line.substr(r.method.size() + 1, line.rfind(' ') - r.method.size() - 1);
        size_t p = eol + 2;
        while (true) {
            size_t e = in.find("\r\n", p);
            if (e == p || e == std::string::npos) break;
            std::string h = in.substr(p, e - p);
            auto colon = h.find(':');
            std::string name = h.substr(0, colon);
            for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
            r.headers[name] = h.substr(h.find_first_not_of(' ', colon + 1));
            p = e + 2;
        }
        if (auto cl = r.headers.find("content-length"); cl != r.headers.end()) {
            size_t want = std::stoull(cl->second);
            r.body = in.substr(p + 2);
            while (r.body.size() < want) {
                pollfd pb{c, POLLIN, 0};
                if (::poll(&pb, 1, 2000) <= 0) return;
                ssize_t n = ::read(c, buf, sizeof buf);
                if (n <= 0) return;
                r.body.append(buf, size_t(n));
            }
            r.body.resize(want);
        }
        {
            std::lock_guard<std::mutex> l(mu_);
            reqs_.push_back(r);
        }
        std::string out = handler_(r);  // "": close without an answer (a cut connection)
        size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
            if (n <= 0) break;
            off += size_t(n);
        }
    }
    Handler handler_;
    bool concurrent_ = false;
    std::vector<std::thread> conns_;
    int fd_ = -1, port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mu_;
    std::vector<Req> reqs_;
};

}  // namespace regtest
