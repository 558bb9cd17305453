// Registry credentials and auth challenges.
//   Lookup order (first hit wins): --authfile / $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
//   $DOCKER_CONFIG/config.json (default ~/.docker/config.json; credHelpers/credsStore run
//   `docker-credential-NAME get`), ~/.config/containers/auth.json.
// Credentials are never logged: error messages name the registry and the file, never the secret.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace registry {

struct Credentials {
    std::string username;
    std::string password;  // or identity token when username is "<token>"
};

// Where credentials are read from and `login` writes to.
struct AuthFiles {
    std::string authfile;  // --authfile (else $REGISTRY_AUTH_FILE)
    std::vector<std::string> read_order() const;
    std::string write_path() const;  // authfile if given, else $DOCKER_CONFIG/config.json
};

std::optional<Credentials> find_credentials(const AuthFiles& files, const std::string& registry);
// Store/remove `auths[registry].auth` in the write path (mode 0600, atomic). Logout: false when absent.
void save_credentials(const AuthFiles& files, const std::string& registry, const Credentials& c);
bool remove_credentials(const AuthFiles& files, const std::string& registry);

std::string base64_encode(const std::string& s);
std::string base64_decode(const std::string& s);  // InvalidInput on bad text

// One WWW-Authenticate challenge: scheme ("basic"/"bearer", lowercase) and its parameters.
struct Challenge {
    std::string scheme;
    std::map<std::string, std::string> params;  // realm, service, scope, error
};
std::optional<Challenge> parse_challenge(const std::string& header);

}  // namespace registry
