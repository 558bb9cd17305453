#include "sys/error.hpp"

#include <cstring>

namespace sys {

const char* code_name(Code c) {
    switch (c) {
        case Code::NotFound: return "not found";
        case Code::AlreadyExists: return "already exists";
        case Code::InvalidInput: return "invalid input";
        case Code::FailedPrecondition: return "failed precondition";
        case Code::System: return "system error";
        case Code::Internal: return "internal error";
        case Code::Cancelled: return "cancelled";
        case Code::ExecFailed: return "exec failed";
    }
    return "error";
}

Error errno_error(const std::string& what, int err) {
    Code c = Code::System;
    if (err == ENOENT) c = Code::NotFound;
    else if (err == EEXIST) c = Code::AlreadyExists;
    return Error(c, what + ": " + std::strerror(err), err);
}

void throw_errno(const std::string& what, int err) { throw errno_error(what, err); }

}  // namespace sys
