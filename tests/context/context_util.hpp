// Helpers for the context/copy tests (tests/context/context_*.cpp).
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace ctxtest {

inline void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
    size_t k = path.rfind('/');
    if (k != std::string::npos) sys::mkdir_p(path.substr(0, k));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) sys::throw_errno("open " + path);
    if (::write(fd, data.data(), data.size()) != ssize_t(data.size())) sys::throw_errno("write " + path);
    ::close(fd);
    ::chmod(path.c_str(), mode);
}

inline void link(const std::string& target, const std::string& path) {
    size_t k = path.rfind('/');
    if (k != std::string::npos) sys::mkdir_p(path.substr(0, k));
    if (::symlink(target.c_str(), path.c_str()) != 0) sys::throw_errno("symlink " + path);
}

inline std::string get(const std::string& path) { return sys::read_file(path); }

inline struct stat lst(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) sys::throw_errno("lstat " + path);
    return st;
}

inline std::string readlink_s(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n < 0) sys::throw_errno("readlink " + path);
    return std::string(buf, size_t(n));
}

struct Tmp {
    sys::TempDir dir{"/tmp", "imgbuild-ctx-"};
    std::string p(const std::string& rel = "") const { return rel.empty() ? dir.path() : dir.path() + "/" + rel; }
};

}  // namespace ctxtest
