// HTTP(S) download with cpp-httplib: resume from a .part file, follow redirects, atomic rename at the end.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "hearth/error.h"
#include "hearth/download.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>
#endif

namespace hearth {

#ifdef HEARTH_HAVE_HTTP
namespace {

struct Url {
  std::string origin;  // scheme://host[:port]
  std::string path;    // /... (with query)
};

Url split_url(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) throw Error("invalid URL '" + url + "'");
  size_t slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

}  // namespace

void download_file(const std::string& url, const std::string& dest,
                   const std::function<void(const DownloadProgress&)>& progress) {
  const std::string part = dest + ".part";
  Url u = split_url(url);
  httplib::Client cli(u.origin);
  cli.set_follow_location(true);
  cli.set_connection_timeout(30);
  cli.set_read_timeout(60);
  const char* token = std::getenv("HF_TOKEN");

  uint64_t have = std::filesystem::exists(part) ? std::filesystem::file_size(part) : 0;
  httplib::Headers headers;
  if (have > 0) headers.emplace("Range", "bytes=" + std::to_string(have) + "-");
  if (token && *token && url.find("huggingface.co") != std::string::npos)
    headers.emplace("Authorization", std::string("Bearer ") + token);

  std::ofstream out;
  DownloadProgress prog;
  int status = 0;
  std::string write_error;
  auto res = cli.Get(
      u.path, headers,
      [&](const httplib::Response& r) {
        status = r.status;
        if (r.status == 206) {
          out.open(part, std::ios::binary | std::ios::app);
          prog.done = have;
        } else if (r.status == 200) {
          out.open(part, std::ios::binary | std::ios::trunc);  // server ignored the range: start over
          prog.done = 0;
        } else {
          return r.status >= 300 && r.status < 400;  // redirects are followed by the client
        }
        if (r.has_header("Content-Length")) prog.total = prog.done + std::stoull(r.get_header_value("Content-Length"));
        if (!out) {
          write_error = "cannot write " + part;
          return false;
        }
        return true;
      },
      [&](const char* data, size_t n) {
        out.write(data, static_cast<std::streamsize>(n));
        if (!out) {
          write_error = "cannot write " + part + " (disk full?)";
          return false;
        }
        prog.done += n;
        if (progress) progress(prog);
        return true;
      });
  out.close();
  if (!write_error.empty()) throw Error(write_error);
  if (status >= 400 && status != 416) throw Error("download of " + url + " failed: HTTP " + std::to_string(status));
  if (!res) throw Error("download of " + url + " failed: " + httplib::to_string(res.error()));
  if (status == 416 && have > 0) {
    // Range not satisfiable: the .part is already complete.
  } else if (status != 200 && status != 206) {
    throw Error("download of " + url + " failed: HTTP " + std::to_string(status));
  }
  if (prog.total && std::filesystem::file_size(part) != prog.total)
    throw Error("download of " + url + " was cut off (" + std::to_string(std::filesystem::file_size(part)) + " of " +
                std::to_string(prog.total) + " bytes); run again to resume");
  std::filesystem::rename(part, dest);
}

#else

void download_file(const std::string& url, const std::string&, const std::function<void(const DownloadProgress&)>&) {
  throw Error("cannot download " + url + ": this hearth was built without HTTP support (cpp-httplib)");
}

#endif

}  // namespace hearth
