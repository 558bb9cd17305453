// History `created_by` text exactly as docker's BuildKit (Dockerfile frontend of the Debian
// docker.io 20.10 daemon, dockerfile2llb) writes it, so `docker history` of an imgbuild image
// reads like the docker-built one. Pure: takes the EXPANDED instruction and the stage's state.
//   RUN   "RUN |2 A=1 B= /bin/sh -c make # buildkit" (ARGs in scope, values from ENV if set)
//   COPY  "COPY src... dest # buildkit" (flags dropped)   ADD likewise
//   CMD   `CMD ["/bin/sh" "-c" "x"]` (Go %q)   SHELL/VOLUME "SHELL [/bin/sh -c]" (Go %v)
//   EXPOSE "EXPOSE map[80/tcp:{}]"   HEALTHCHECK `HEALTHCHECK &{["CMD" "true"] "0s" "0s" "0s" '\x00'}`
//   ENV/LABEL "ENV k=v k2=v2" (unquoted)   WORKDIR the absolute path   ARG "ARG k[=default]"
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "frontend/instructions.hpp"

namespace frontend {

struct HistoryState {
    std::vector<std::string> shell = {"/bin/sh", "-c"};  // the stage's SHELL
    // ARGs declared in the stage so far, in order, with the value a RUN sees ("" if none).
    std::vector<std::pair<std::string, std::string>> run_args;
    std::string workdir;  // the stage's WORKDIR after this instruction (WORKDIR only)
};

// "" for instructions BuildKit records no history for (ONBUILD).
std::string buildkit_created_by(const Instruction& in, const HistoryState& st);

// fmt's %q of a []string: ["a" "b"] (go_quote in parser.hpp quotes one string).
std::string go_quote_list(const std::vector<std::string>& v);
// Go's time.Duration.String(): "1m30s", "500ms", "0s".
std::string go_duration(int64_t ns);

}  // namespace frontend
