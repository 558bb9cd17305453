// Typed Buildfile instructions (BuildKit's frontend/dockerfile/instructions). Fields hold
// the RAW words as written; the solver expands them per instruction with the variables in
// scope at that point (stage ENV + declared ARGs) by calling expand(). Which fields expand
// (as BuildKit does):
//   FROM        base, --platform (global ARGs only; plan_stages does this)
//   ENV, LABEL  keys and values              ARG   names and defaults
//   WORKDIR, USER, STOPSIGNAL   value         EXPOSE, VOLUME   each word (EXPOSE splits)
//   COPY, ADD   srcs, dest, --from, --chown, --chmod, --checksum, --exclude; heredoc
//               content when Heredoc::expand (COPY/ADD only)
//   RUN         --mount option values; the command itself is NOT expanded (the shell does it)
//   CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER   not expanded
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontend/parser.hpp"
#include "frontend/shell_lex.hpp"

namespace frontend {

struct SourceLoc {
    std::string file;  // the Buildfile name given to the parser
    int start_line = 0;
    int end_line = 0;
};

// RUN --mount=type=...,k=v,...
struct RunMount {
    std::string type = "bind";  // bind | cache | tmpfs | secret
    std::string target;         // mount point in the container (secret: default /run/secrets/<id>)
    std::string source;         // bind/cache: path in `from` (default "/" for bind)
    std::string from;           // stage name/index or image; empty = build context (bind) / none
    std::string id;             // cache id (default: target), secret id (default: basename(target))
    bool readonly = false;      // bind: default true (rw to allow); cache: default false
    std::string sharing = "shared";  // cache: shared | private | locked
    std::string mode, uid, gid;      // cache/secret: octal mode, owner ids (strings as written)
    std::string size;                // tmpfs size (bytes, may carry unit suffix)
    bool required = false;           // secret: fail if missing
    std::string env;                 // secret: expose as this env var instead of a file
};

struct Healthcheck {
    std::vector<std::string> test;  // ["NONE"] | ["CMD", args...] | ["CMD-SHELL", cmd]
    std::string interval, timeout, start_period, start_interval, retries;  // as written, empty = unset
    // Parsed values (0 = unset / default), validated at parse time like BuildKit.
    int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0, start_interval_ns = 0;
    int retries_n = 0;
};

struct KeyValue {
    std::string key;
    std::string value;
};

struct ArgDef {
    std::string key;
    std::optional<std::string> value;  // default, if any
};

struct Instruction {
    enum class Kind {
        From, Run, Copy, Add, Env, Arg, Workdir, User, Expose, Label, Cmd, Entrypoint,
        Volume, Shell, Stopsignal, Healthcheck, Onbuild, Maintainer
    };
    Kind kind = Kind::Run;
    SourceLoc loc;
    std::string original;            // logical line as written, e.g. "RUN make -j2"
    std::vector<std::string> flags;  // raw flags as written ("--from=build")

    // RUN, CMD, ENTRYPOINT, SHELL: shell form = one string in args; JSON form = the array.
    // EXPOSE, VOLUME: the words. MAINTAINER/WORKDIR/USER/STOPSIGNAL use `value`.
    std::vector<std::string> args;
    bool json_form = false;
    std::vector<Heredoc> heredocs;   // RUN, COPY, ADD

    // RUN
    std::vector<RunMount> mounts;
    std::string network = "default";  // default | none | host
    std::string security = "sandbox";  // sandbox | insecure (needs the security.insecure entitlement)

    // COPY / ADD
    std::vector<std::string> srcs;
    std::string dest;
    std::string from, chown, chmod, checksum;
    bool link = false;
    bool parents = false;
    bool keep_git_dir = false;
    std::vector<std::string> excludes;

    // ENV, LABEL
    std::vector<KeyValue> kvs;
    // ARG
    std::vector<ArgDef> arg_defs;
    // WORKDIR, USER, STOPSIGNAL, MAINTAINER
    std::string value;
    // HEALTHCHECK
    Healthcheck health;
    // ONBUILD: the trigger expression as written ("RUN echo hi"), validated at parse time.
    std::string onbuild;
    // FROM
    std::string base;        // image reference or stage name, unexpanded
    std::string stage_name;  // `AS name`, lower-cased; empty if none
    std::string platform;    // --platform, unexpanded

    // Lower-case keyword: "run", "copy", ...
    const char* keyword() const;
};

const char* kind_keyword(Instruction::Kind k);

// Convert one parsed node into a typed instruction (validates arguments and flags).
// Throws InvalidInput "<file>:<line>: <message>\n >>> <line>".
Instruction parse_instruction(const Node& node, const std::string& file);

// Return a copy with the expandable fields (see the table above) expanded with `env`.
// Throws InvalidInput located at the instruction's line on expansion errors.
Instruction expand(const Instruction& in, const ShellLex& lex, const ShellLex::Env& env);

// Docker/BuildKit-style history text for image config `created_by`, e.g.
//   RUN  -> "RUN /bin/sh -c make # buildkit" (shell form, with the stage's SHELL) /
//           "RUN make # buildkit" (JSON)
//   others -> the original line, trimmed.
std::string created_by(const Instruction& in, const std::vector<std::string>& shell = {"/bin/sh", "-c"});

// EXPOSE arguments as BuildKit's nat.ParsePortSpecs makes them: "80" -> "80/tcp",
// "7000-7002/TCP" -> "7000/tcp", "7001/tcp", "7002/tcp"; protocols tcp, udp, sctp.
// Throws InvalidInput on a bad port, range or protocol.
std::vector<std::string> expose_ports(const std::vector<std::string>& args);

// Go time.ParseDuration ("1m30s", "300ms", "0"); returns nanoseconds. Throws InvalidInput.
int64_t parse_go_duration_ns(const std::string& text);

}  // namespace frontend
