// The API key: the bearer token of a request and the key file of `hearth serve --api-key-file`.
#include "serve/api_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hearth/error.h"
#include "hearth/server.h"

namespace hearth {
namespace serve {

std::string bearer_token(const std::string& authorization) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  size_t i = 0;
  while (i < authorization.size() && is_space(authorization[i])) ++i;
  const std::string scheme = "bearer";
  if (authorization.size() < i + scheme.size()) return "";
  for (size_t k = 0; k < scheme.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(authorization[i + k])) != scheme[k]) return "";
  i += scheme.size();
  if (i >= authorization.size() || !is_space(authorization[i])) return "";  // "Bearerxyz" is another scheme
  while (i < authorization.size() && is_space(authorization[i])) ++i;
  size_t end = authorization.size();
  while (end > i && is_space(authorization[end - 1])) --end;
  return authorization.substr(i, end - i);
}

bool same_key(const std::string& given, const std::string& key) {
  if (key.empty()) return false;
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
  return diff == 0;
}

}  // namespace serve

std::string read_api_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open the API key file " + path + ": " + std::strerror(errno));
  struct stat st {};
  std::string text;
  const bool stat_ok = ::fstat(fd, &st) == 0;
  if (stat_ok && S_ISREG(st.st_mode) && (st.st_mode & 077) == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (64u << 10)) text.append(buf, size_t(n));
  }
  ::close(fd);
  if (!stat_ok || !S_ISREG(st.st_mode)) throw Error("the API key file " + path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error("the API key file " + path + " has mode " + mode +
                ": others may read it; make it private to its owner (chmod 600 " + path + ")");
  }
  std::string key = text.substr(0, text.find_first_of("\r\n"));
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
  if (key.empty()) throw Error("the API key file " + path + " is empty (the key is its first line)");
  return key;
}

}  // namespace hearth
