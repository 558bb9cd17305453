// Benchmark (not a test): diff + compress + store throughput of an upper dir, next to
// sha256sum over the same files as the physical reference.
//   bench_layers_diff [work-dir]   (default: $TMPDIR or /tmp; needs ~2 GiB free)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cas/store.hpp"
#include "layers/layer.hpp"
#include "sys/fs.hpp"

namespace {

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Rng {
    uint64_t s = 0x9E3779B97F4A7C15ull;
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    void fill(std::string& b) {
        for (size_t i = 0; i + 8 <= b.size(); i += 8) {
            uint64_t v = next();
            std::memcpy(&b[i], &v, 8);
        }
    }
};

void write_file(const std::string& p, const std::string& data) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, data.data(), data.size()) != ssize_t(data.size())) {
        std::perror(p.c_str());
        std::exit(1);
    }
    ::close(fd);
}

double sha256sum_seconds(const std::string& dir) {
    std::string cmd = "cd '" + dir + "' && find . -type f -print0 | xargs -0 -n 2000 sha256sum > /dev/null";
    double t = now();
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "sha256sum failed\n");
    return now() - t;
}

void run(cas::Store& store, const std::string& name, const std::string& dir, uint64_t bytes, uint64_t files) {
    // Warm the page cache once so every contender reads from memory.
    sha256sum_seconds(dir);
    double ref = sha256sum_seconds(dir);
    std::printf("%-22s %-6s %9.1f MB/s %9.0f files/s  (%.2f s)\n", name.c_str(), "sha256sum", bytes / ref / 1e6,
                files / ref, ref);
    for (auto [c, cname] : {std::pair{layers::Compression::None, "none"}, std::pair{layers::Compression::Zstd, "zstd"},
                            std::pair{layers::Compression::Gzip, "gzip"}}) {
        double t = now();
        auto b = layers::diff_upper(store, dir, {c, 0});
        double s = now() - t;
        std::printf("%-22s %-9s %9.1f MB/s %9.0f files/s  (%.2f s, blob %.1f MiB)\n", name.c_str(), cname,
                    bytes / s / 1e6, files / s, s, b.size / 1048576.0);
        store.delete_blob(b.digest);
    }
    // Extraction of the uncompressed layer, for reference.
    auto b = layers::diff_upper(store, dir);
    std::string target = dir + ".applied";
    sys::mkdir_p(target);
    double t = now();
    layers::apply_layer(store, b.digest, target, b.diff_id);
    double s = now() - t;
    std::printf("%-22s %-9s %9.1f MB/s %9.0f files/s  (%.2f s)\n", name.c_str(), "apply", bytes / s / 1e6, files / s, s);
    sys::remove_tree(target);
    store.delete_blob(b.digest);
}

}  // namespace

int main(int argc, char** argv) {
    const char* tmp = std::getenv("TMPDIR");
    std::string parent = argc > 1 ? argv[1] : (tmp && *tmp ? tmp : "/tmp");
    sys::TempDir work(parent, "imgbuild-bench-");
    cas::Store store = cas::Store::open(work.path() + "/store");
    Rng rng;

    std::string big = work.path() + "/big";
    sys::mkdir_p(big);
    std::string chunk(64u << 20, '\0');
    for (int i = 0; i < 8; i++) {
        rng.fill(chunk);
        write_file(big + "/random-" + std::to_string(i), chunk);
    }
    std::string small = work.path() + "/small";
    uint64_t small_bytes = 0;
    for (int d = 0; d < 200; d++) {
        std::string sd = small + "/d" + std::to_string(d);
        sys::mkdir_p(sd);
        for (int f = 0; f < 100; f++) {
            std::string data(512 + rng.next() % 7680, '\0');
            rng.fill(data);
            small_bytes += data.size();
            write_file(sd + "/f" + std::to_string(f), data);
        }
    }
    std::printf("imgbuild layers bench (%ld cores)\n", sysconf(_SC_NPROCESSORS_ONLN));
    run(store, "512MiB random (8 files)", big, 512ull << 20, 8);
    run(store, "20000 small files", small, small_bytes, 20000);
    return 0;
}
