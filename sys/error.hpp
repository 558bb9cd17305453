// One error type for the whole project. Thrown, and caught at the CLI (which maps the
// code to an exit status). After clone(), a child process never throws: it reports
// {step, errno} to its parent over a pipe (see runtime/).
#pragma once
#include <cerrno>
#include <stdexcept>
#include <string>

namespace sys {

enum class Code {
    NotFound,            // a ref, blob, file, stage that does not exist
    AlreadyExists,
    InvalidInput,        // bad user input: Buildfile, digest, flag, tar entry
    FailedPrecondition,  // state does not allow it (lock held, store damaged, ...)
    System,              // a syscall failed (errno() says which)
    Internal,
    Cancelled,           // stopped because something else failed first (another stage of the build)
    ExecFailed,          // the container's command could not be executed (sys_errno(): ENOENT, EACCES, ...)
};

const char* code_name(Code c);

// Where in the build input an error happened ("Buildfile", 12). Empty file: nowhere.
struct SourceLoc {
    std::string file;
    int line = 0;
    explicit operator bool() const { return !file.empty(); }
};

class Error : public std::runtime_error {
public:
    Error(Code code, std::string msg, int err = 0)
        : std::runtime_error(std::move(msg)), code_(code), errno_(err) {}
    Code code() const { return code_; }
    int sys_errno() const { return errno_; }
    // The build location, once attached with at().
    const SourceLoc& loc() const { return loc_; }
    // Attach the build location once: the message becomes "file:line: " + message. An error
    // that already carries a location is returned unchanged (the innermost location wins).
    Error at(const SourceLoc& loc) const {
        if (loc_ || !loc) return *this;
        Error e(code_, loc.file + ":" + std::to_string(loc.line) + ": " + what(), errno_);
        e.loc_ = loc;
        return e;
    }
    // Prefix the message with what was being done: "commit layer sha256:ab..: " + message.
    // Keeps the code and the errno.
    Error wrap(const std::string& context) const {
        Error e(code_, context + ": " + what(), errno_);
        e.loc_ = loc_;
        return e;
    }

private:
    Code code_;
    int errno_;
    SourceLoc loc_;
};

// Build an Error from errno (or an explicit errno value): "<what>: <strerror>".
// ENOENT maps to Code::NotFound, EEXIST to AlreadyExists, the rest to System.
[[noreturn]] void throw_errno(const std::string& what, int err = errno);
Error errno_error(const std::string& what, int err = errno);

// The one way to raise a new error: sys::fail(code, message[, errno]), or sys::throw_errno(what)
// for a failed syscall. `throw` itself only rethrows an Error already in hand (`throw;`,
// `throw e.wrap(...)`, `throw e.at(...)`). See docs/ERRORS.md.
[[noreturn]] inline void fail(Code c, const std::string& msg, int err = 0) { throw Error(c, msg, err); }

// Run f(); on Error, rethrow it wrapped with the context.
template <typename F>
auto with_context(const std::string& context, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        throw e.wrap(context);
    }
}

}  // namespace sys
