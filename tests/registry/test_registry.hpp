// The registry a test file runs against, started on first use and stopped at exit, and the
// guard its tests start with. One registry per test file (an unnamed namespace: each file that
// includes this has its own), as before this was shared.
#pragma once
#include <gtest/gtest.h>

#include "../e2e/build_env.hpp"
#include "registry_fixture.hpp"

namespace {

regtest::Registry& reg() {
    static regtest::Registry r;
    return r;
}

}  // namespace

// Skip (with the reason) when the machine has no registry or no busybox base.
#define NEED_REGISTRY()                                                                                 \
    do {                                                                                                \
        if (!reg().skip_reason().empty()) GTEST_SKIP() << reg().skip_reason();                          \
        if (!e2e::BuildEnv::get().base_error().empty()) GTEST_SKIP() << e2e::BuildEnv::get().base_error(); \
    } while (0)
