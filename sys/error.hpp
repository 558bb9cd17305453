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
};

const char* code_name(Code c);

class Error : public std::runtime_error {
public:
    Error(Code code, std::string msg, int err = 0)
        : std::runtime_error(std::move(msg)), code_(code), errno_(err) {}
    Code code() const { return code_; }
    int sys_errno() const { return errno_; }
    // Prefix the message with what was being done: "commit layer sha256:ab..: " + message.
    Error wrap(const std::string& context) const { return Error(code_, context + ": " + what(), errno_); }

private:
    Code code_;
    int errno_;
};

// Build an Error from errno (or an explicit errno value): "<what>: <strerror>".
// ENOENT maps to Code::NotFound, EEXIST to AlreadyExists, the rest to System.
[[noreturn]] void throw_errno(const std::string& what, int err = errno);
Error errno_error(const std::string& what, int err = errno);

[[noreturn]] inline void fail(Code c, const std::string& msg) { throw Error(c, msg); }

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
