#include "sys/dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace sys {

std::vector<std::string> list_dir_at(int dirfd) {
    std::vector<std::string> names;
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return names;
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        return names;
    }
    while (struct dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    return names;
}

}  // namespace sys
