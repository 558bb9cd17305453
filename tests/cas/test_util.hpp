// Shared helpers for the cas unit tests: a fresh store in a temp dir.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "cas/store.hpp"
#include "sys/fs.hpp"

namespace cas_test {

struct StoreFixture : ::testing::Test {
    sys::TempDir tmp{"/tmp", "cas-test-"};
    cas::Store store = cas::Store::open(tmp.path() + "/store");
};

// Expect f() to throw sys::Error whose message contains `needle`.
template <typename F>
void expect_error(F&& f, const std::string& needle) {
    try {
        f();
        ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

}  // namespace cas_test
