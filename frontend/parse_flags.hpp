// Internal to the front end: BuildKit's BFlags (instruction flag parsing) and the
// RUN --mount option parser.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "frontend/instructions.hpp"
#include "frontend/parse_lines.hpp"

namespace frontend::detail {

// Declared flags of one instruction; parse() fills values. Errors are LineError with
// BuildKit's wording ("unknown flag: foo", "missing a value on flag: from", ...).
class Flags {
public:
    void add_bool(const std::string& name) { decl_[name] = Bool; }
    void add_string(const std::string& name) { decl_[name] = String; }
    void add_strings(const std::string& name) { decl_[name] = Strings; }
    void parse(const std::vector<std::string>& args);

    bool used(const std::string& name) const { return values_.count(name) > 0; }
    std::string str(const std::string& name) const;
    bool boolean(const std::string& name) const { return str(name) == "true"; }
    std::vector<std::string> strs(const std::string& name) const;

private:
    enum Type { Bool, String, Strings };
    std::map<std::string, Type> decl_;
    std::map<std::string, std::vector<std::string>> values_;
};

// Parse one --mount value ("type=cache,target=/x,..."), unexpanded.
RunMount parse_run_mount(const std::string& value);
// Validate/normalise a mount after expansion (defaults for id/target, value checks).
void finish_run_mount(RunMount& m);

}  // namespace frontend::detail
