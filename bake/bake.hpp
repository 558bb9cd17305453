// `imgbuild bake`: many images from one YAML file (imgbuild-bake.yaml). This header is the
// pure part: parse the file (every value keeps its file:line:column for errors), resolve
// variables, `inherits`, `matrix`, `--set` overrides and `${VAR}` interpolation, groups, and
// the target graph (`depends`, `contexts: {NAME: "target:X"}`) in build order. Execution
// (builds in parallel, sharing one store) is bake/run.hpp.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bake {

// Where a value was written: "imgbuild-bake.yaml:12:5" (or "--set app.tags=x").
struct Loc {
    std::string file;
    int line = 0, col = 0;  // 1-based; 0 = not in a file
    std::string str() const;
};

struct Str {
    std::string v;
    Loc loc;
};

// A target key's value as written. Which kind a key has is fixed by the schema (key_kind).
enum class Kind { String, Bool, List, Map, Matrix };
struct Value {
    Kind kind = Kind::String;
    Loc loc;
    Str scalar;                                                 // String, Bool ("true"/"false")
    std::vector<Str> list;                                      // List
    std::map<std::string, Str> map;                             // Map
    std::vector<std::pair<std::string, std::vector<Str>>> matrix;  // Matrix, in file order
};
using Fields = std::map<std::string, Value>;

// Target, group and variable names: letters, digits, '-' and '_' (so --set can split on '.').
bool valid_name(const std::string& s);

// The kind of a target key, or nullopt for an unknown key.
std::optional<Kind> key_kind(const std::string& key);

struct RawTarget {
    std::string name;
    Loc loc;
    Fields fields;
};

struct Variable {
    std::string name;
    Loc loc;
    std::optional<Str> def;  // default
    std::string env;         // looked up only when given
};

struct Group {
    std::string name;
    Loc loc;
    std::vector<Str> members;  // targets or groups
};

struct BakeFile {
    std::string name;  // for messages
    std::string dir;   // contexts are relative to it ("" = current directory)
    std::vector<Variable> variables;
    std::vector<RawTarget> targets;  // file order
    std::vector<Group> groups;
};

// Parse the YAML text. Errors (sys::Error InvalidInput) start with "NAME:LINE:COL: ".
BakeFile parse(std::string_view text, const std::string& name, const std::string& dir = "");

// --set PATTERN.KEY=VALUE | PATTERN.KEY+=VALUE (append to a list) | PATTERN.MAPKEY.SUB=VALUE
// for args/labels/contexts. PATTERN is a glob over target names (`*`, `app*`).
struct Override {
    std::string text;  // as given, for messages
    std::string pattern, key, subkey, value;
    bool append = false;
};
Override parse_set(const std::string& text);

// A target ready to build (after inherits, matrix, --set and interpolation).
struct Target {
    std::string name;    // "test-slim" for a matrix instance
    std::string source;  // the target as written ("test")
    Loc loc;
    std::string context;  // joined with BakeFile::dir, lexically normal
    std::string file;     // Buildfile path ("" = CONTEXT/Buildfile, then CONTEXT/Dockerfile)
    std::string stage;    // `target:` (the Buildfile stage)
    std::string network;  // "" | none | host
    bool no_cache = false;
    std::vector<std::string> tags, outputs, cache_from, cache_to, secrets;
    std::map<std::string, std::string> args, labels;
    std::map<std::string, std::string> context_targets;  // NAME -> target built first
    std::map<std::string, std::string> context_images;   // NAME -> image reference in the store
    std::vector<std::string> depends;                    // targets built first (depends + contexts), sorted
    std::map<std::string, Loc> where;                    // key -> where it was set (for build-time errors)
};

struct Plan {
    std::vector<Target> targets;  // the selected targets and their dependencies, in build order
    std::map<std::string, std::vector<std::string>> groups;  // every group -> its targets
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// `requested`: target or group names ("" list = the group "default"). Errors name the file
// location: unknown targets, cycles in inherits / groups / the target graph, unknown
// variables, bad matrix names, --set patterns that match nothing.
Plan resolve(const BakeFile& f, const std::vector<std::string>& requested, const std::vector<Override>& sets,
             const EnvLookup& env);

// The resolved plan as JSON (`imgbuild bake --print`), targets in build order.
nlohmann::ordered_json to_json(const Plan& p);

// "${NAME}" replaced from vars ("$$" is a literal "$"; other "$" stay as written). An unknown
// NAME is an error at s.loc.
std::string interpolate(const Str& s, const std::map<std::string, std::string>& vars);

}  // namespace bake
