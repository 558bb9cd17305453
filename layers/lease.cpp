#include "layers/lease.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <random>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace layers {

namespace {

std::string leases_dir(const cas::Store& store) { return store.locks_dir() + "/leases"; }

std::string random_name() {
    std::random_device rd;
    return std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
}

}  // namespace

SnapshotLease::SnapshotLease(const cas::Store& store, const std::vector<std::string>& keys) {
    std::string dir = leases_dir(store);
    sys::mkdir_p(dir, 0700);
    std::string name = random_name();
    std::string tmp = dir + "/" + name + ".tmp";
    fd_.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd_) sys::throw_errno("lease: create " + tmp);
    std::string text;
    for (const auto& k : keys)
        if (!k.empty()) text += k + "\n";
    try {
        sys::write_all(fd_.get(), text.data(), text.size(), "lease " + tmp);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (::flock(fd_.get(), LOCK_SH) != 0 || ::rename(tmp.c_str(), (dir + "/" + name + ".lease").c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        sys::throw_errno("lease: publish " + tmp, err);
    }
    path_ = dir + "/" + name + ".lease";
}

SnapshotLease::~SnapshotLease() {
    if (!path_.empty()) ::unlink(path_.c_str());
}

std::set<std::string> SnapshotLease::live_keys(const cas::Store& store) {
    std::set<std::string> keys;
    sys::UniqueFd dfd(::open(leases_dir(store).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) return keys;
    for (const auto& n : sys::list_dir(dfd.get(), leases_dir(store))) {
        if (n.size() <= 6 || n.compare(n.size() - 6, 6, ".lease") != 0) continue;
        sys::UniqueFd f(::openat(dfd.get(), n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!f) continue;
        if (::flock(f.get(), LOCK_EX | LOCK_NB) == 0) {  // nobody holds it: the owner is gone
            ::unlinkat(dfd.get(), n.c_str(), 0);
            continue;
        }
        std::string text;
        char buf[4096];
        ssize_t r;
        while ((r = ::read(f.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20)) text.append(buf, size_t(r));
        size_t p = 0;
        while (p < text.size()) {
            size_t q = text.find('\n', p);
            if (q == std::string::npos) q = text.size();
            if (q > p) keys.insert(text.substr(p, q - p));
            p = q + 1;
        }
    }
    return keys;
}

}  // namespace layers
