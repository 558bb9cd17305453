// BuildKit shell lexer conformance: shell/envVarTest (ProcessWord) and shell/wordsTest
// (ProcessWords), non-Windows cases, read in place from the shared conformance data.
#include <gtest/gtest.h>

#include <sstream>

#include "frontend/shell_lex.hpp"
#include "frontend_common.hpp"
#include "sys/error.hpp"

using namespace frontend;
using frontend_test::conformance_dir;
using frontend_test::slurp;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

TEST(ShellLexConformance, EnvVarTest) {
    if (conformance_dir().empty()) GTEST_SKIP() << frontend_test::conformance_missing();
    ShellLex lex('\\');
    ShellLex::Env env = {{"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "한국어"}, {"NULL", ""}};
    std::istringstream in(slurp(conformance_dir() + "/shell/envVarTest"));
    std::string line;
    int total = 0, passed = 0, lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        std::string l = line.substr(std::min(line.size(), line.find_first_not_of(" \t")));
        if (l.empty() || l[0] == '#') continue;
        auto parts = split(line, '|');
        ASSERT_EQ(parts.size(), 3u) << "line " << lineno;
        std::string platform = trim(parts[0]);
        if (platform == "W") continue;
        std::string source = trim(parts[1]), expected = trim(parts[2]);
        ++total;
        std::string got;
        bool err = false;
        try {
            got = lex.process_word(source, env);
        } catch (const sys::Error&) {
            err = true;
        }
        bool ok = expected == "error" ? err : (!err && got == expected);
        EXPECT_TRUE(ok) << "line " << lineno << ": " << source << " -> " << (err ? "error" : got) << ", want "
                        << expected;
        passed += ok;
    }
    EXPECT_GT(total, 0);
    std::printf("shell envVarTest: %d/%d pass\n", passed, total);
}

TEST(ShellLexConformance, WordsTest) {
    if (conformance_dir().empty()) GTEST_SKIP() << frontend_test::conformance_missing();
    ShellLex lex('\\');
    ShellLex::Env env;
    std::istringstream in(slurp(conformance_dir() + "/shell/wordsTest"));
    std::string line;
    int total = 0, passed = 0, lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.rfind("#", 0) == 0) continue;
        if (line.rfind("ENV ", 0) == 0) {
            std::string kv = line.substr(3);
            kv = kv.substr(std::min(kv.size(), kv.find_first_not_of(' ')));
            auto eq = kv.find('=');
            env[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
            continue;
        }
        if (trim(line).empty()) continue;
        auto parts = split(line, '|');
        ASSERT_EQ(parts.size(), 2u) << "line " << lineno;
        std::string test = trim(parts[0]);
        std::string exp = parts[1].substr(std::min(parts[1].size(), parts[1].find_first_not_of(' ')));
        auto expected = split(exp, ',');
        ++total;
        std::vector<std::string> got;
        try {
            got = lex.process_words(test, env);
        } catch (const sys::Error&) {
            got = {"error"};
        }
        EXPECT_EQ(got, expected) << "line " << lineno << ": " << test;
        passed += got == expected;
    }
    EXPECT_GT(total, 0);
    std::printf("shell wordsTest: %d/%d pass\n", passed, total);
}
