#include "serve/access_log.h"

#include <cstdio>
#include <ctime>

namespace hearth::serve {

std::string access_log_line(std::chrono::system_clock::time_point when, int status, double seconds,
                            const std::string& client, const std::string& method, const std::string& path) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char took[32] = "-";
  if (seconds >= 0) std::snprintf(took, sizeof took, "%.3fs", seconds);
  // The path without its query string; control characters (a hostile client's) as '?'.
  std::string p = path.substr(0, path.find('?'));
  for (char& c : p)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return std::string(stamp) + " " + std::to_string(status) + " " + took + " " + (client.empty() ? "-" : client) +
         " " + method + " " + p;
}

}  // namespace hearth::serve
