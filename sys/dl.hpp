// Libraries loaded on first use (dlopen) instead of at start-up: registry/curl_dl.cpp and
// cas/archive_dl.cpp define the functions imgbuild calls and forward them through here.
#pragma once
#include <dlfcn.h>

#include <string>

#include "sys/error.hpp"

namespace sys {

// dlopen(soname) for good (RTLD_NOW | RTLD_LOCAL, never closed: handles and callbacks live until
// exit). Missing: FailedPrecondition naming what needs it and the Debian package to install.
inline void* open_library(const char* soname, const char* needed_for, const char* package) {
    void* lib = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        fail(Code::FailedPrecondition,
             std::string(needed_for) + " needs " + soname + " (Debian package " + package + "): " + ::dlerror());
    return lib;
}

// fn = the library's `name`; a library without it is not the one imgbuild was built against.
template <class F>
void bind_symbol(void* lib, F& fn, const char* name, const char* soname) {
    fn = reinterpret_cast<F>(::dlsym(lib, name));
    if (!fn) fail(Code::Internal, std::string(soname) + " lacks " + name);
}

}  // namespace sys
