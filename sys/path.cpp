#include "sys/path.hpp"

namespace sys {

std::vector<std::string> split_fields(std::string_view s, char sep) {
    std::vector<std::string> out;
    for (size_t i = 0;;) {
        size_t j = s.find(sep, i);
        if (j == std::string_view::npos) {
            out.emplace_back(s.substr(i));
            return out;
        }
        out.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
}

std::string clean_path(std::string_view path) {
    bool rooted = !path.empty() && path[0] == '/';
    std::vector<std::string> out;
    for (std::string& c : split_fields(path, '/')) {
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            if (!out.empty() && out.back() != "..") out.pop_back();
            else if (!rooted) out.push_back(std::move(c));
            continue;
        }
        out.push_back(std::move(c));
    }
    std::string r = rooted ? "/" : "";
    for (size_t k = 0; k < out.size(); ++k) {
        if (k) r += '/';
        r += out[k];
    }
    return r.empty() ? "." : r;
}

std::string base_name(std::string_view path) {
    size_t k = path.rfind('/');
    return std::string(k == std::string_view::npos ? path : path.substr(k + 1));
}

std::string dir_name(std::string_view path) {
    size_t k = path.rfind('/');
    return k == std::string_view::npos ? std::string() : std::string(path.substr(0, k));
}

}  // namespace sys
