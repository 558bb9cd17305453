// `imgbuild run IMAGE`: not wired to layers/ yet.
#include <functional>
#include <string>
#include <vector>

#include "builder/cli/registry.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"

int run_image_command(runtime::RunSpec&, const std::string& image, const std::vector<std::string>&,
                      const std::string*, const cli::Globals&, const std::function<int(runtime::RunSpec&)>&) {
    sys::fail(sys::Code::FailedPrecondition, "run " + image + ": running images is not available yet; use --rootfs DIR");
}
