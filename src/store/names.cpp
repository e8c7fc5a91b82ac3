// Model names (NAME[:TAG]) and which directory the store lives in.
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "hearth/error.h"
#include "hearth/store.h"

namespace hearth {
namespace {

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }

// One path component of a name or a tag: what may safely become a file or directory name.
void check_component(const std::string& whole, const std::string& part, const char* what) {
  if (part.empty()) throw Error("invalid model name '" + whole + "': empty " + what);
  if (part.size() > 128) throw Error("invalid model name '" + whole + "': " + what + " longer than 128 characters");
  if (!std::isalnum(static_cast<unsigned char>(part[0])))
    throw Error("invalid model name '" + whole + "': " + what + " '" + part + "' must start with a letter or digit");
  for (char c : part)
    if (!name_char(c))
      throw Error("invalid model name '" + whole + "': " + what + " '" + part +
                  "' may contain only letters, digits, '.', '_' and '-'");
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v && *v ? v : "";
}

}  // namespace

ModelName parse_model_name(const std::string& s) {
  if (s.empty()) throw Error("invalid model name: empty");
  if (s.size() > 512) throw Error("invalid model name: longer than 512 characters");
  ModelName m;
  const size_t colon = s.rfind(':');
  m.name = colon == std::string::npos ? s : s.substr(0, colon);
  if (colon != std::string::npos) {
    m.tag = s.substr(colon + 1);
    check_component(s, m.tag, "tag");
  }
  size_t start = 0;
  for (;;) {
    size_t slash = m.name.find('/', start);
    check_component(s, m.name.substr(start, slash == std::string::npos ? std::string::npos : slash - start), "name");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return m;
}

ModelsDir resolve_models_dir(const std::string& flag) {
  if (!flag.empty()) return {flag, "--models"};
  if (std::string e = env("HEARTH_MODELS"); !e.empty()) return {e, "HEARTH_MODELS"};
  const std::string home = env("HOME");
  std::string config = env("XDG_CONFIG_HOME");
  config = !config.empty() ? config + "/hearth/config" : !home.empty() ? home + "/.config/hearth/config" : "";
  if (!config.empty()) {
    std::ifstream f(config);
    std::string found;
    for (std::string line; std::getline(f, line);) {
      line = trim(line);
      if (line.empty() || line[0] == '#') continue;
      const size_t eq = line.find('=');
      if (eq == std::string::npos || trim(line.substr(0, eq)) != "models") continue;
      found = trim(line.substr(eq + 1));
      if (found.size() >= 2 && found.front() == '"' && found.back() == '"') found = found.substr(1, found.size() - 2);
      if (found.rfind("~/", 0) == 0 && !home.empty()) found = home + found.substr(1);
    }
    if (!found.empty()) return {found, "config " + config};
  }
  if (std::string x = env("XDG_DATA_HOME"); !x.empty()) return {x + "/hearth/models", "default"};
  if (!home.empty()) return {home + "/.local/share/hearth/models", "default"};
  return {".hearth-models", "default"};
}

}  // namespace hearth
