// libFuzzer target for the Buildfile front end: parse, type, plan, and expand arbitrary
// input. Any exception other than sys::Error, any crash or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/stages.hpp"
#include "sys/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    frontend::ParseLimits lim;
    lim.max_line_bytes = 64 << 10;
    try {
        auto ast = frontend::parse_buildfile(text, "Buildfile", lim);
        auto plan = frontend::plan_stages(ast, {{"A", "x y"}}, "");
        frontend::ShellLex lex(ast.escape);
        for (int i : plan.order)
            for (const auto& in : ast.stages[i].instructions) {
                try {
                    frontend::expand(in, lex, plan.global_env);
                    (void)frontend::created_by(in);
                } catch (const sys::Error&) {
                }
            }
    } catch (const sys::Error&) {
    }
    try {
        frontend::ShellLex lex;
        (void)lex.process_words(text.substr(0, 4096), {{"A", "a b"}, {"EMPTY", ""}});
    } catch (const sys::Error&) {
    }
    return 0;
}
