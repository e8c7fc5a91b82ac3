// `pull` into the store: download (resumable), check size and sha256, check it is a GGUF, register.
#include <filesystem>

#include "hearth/error.h"
#include "hearth/store.h"
#include "store/sha256.h"
#include "store/store_files.h"
#include "store/store_internal.h"

namespace hearth {
namespace fs = std::filesystem;
using namespace store;

namespace {

// The store name a source gets without --name: its file name without ".gguf".
std::string default_name(const std::string& source) {
  std::string s = source;
  size_t q = s.find_first_of("?#");
  if (q != std::string::npos) s.resize(q);
  std::string file = s.substr(s.find_last_of("/:") + 1);
  if (file.size() > 5 && file.compare(file.size() - 5, 5, ".gguf") == 0) file.resize(file.size() - 5);
  try {
    parse_model_name(file);
  } catch (const Error& e) {
    throw Error("cannot name the model from '" + source + "' (" + e.what() + "): give a name");
  }
  return file;
}

}  // namespace

StoreModel ModelStore::pull(const std::string& source, const PullOptions& options, const StoreProgress& progress) {
  if (!is_remote_source(source))
    throw Error("'" + source + "' is not a remote source (an http(s) URL or hf:ORG/REPO/FILE.gguf)");
  const std::string url = source.rfind("hf:", 0) == 0 ? hf_url(source) : source;
  const ModelName n = parse_model_name(options.name.empty() ? default_name(source) : options.name);
  std::string want = options.sha256;
  if (want.rfind("sha256:", 0) == 0) want = want.substr(7);
  for (char& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!want.empty() && !is_sha256_hex(want)) throw Error("--sha256: '" + options.sha256 + "' is not 64 hex digits");

  // One file per source, so that an interrupted pull of the same source resumes its .part.
  const std::string tmp_dir = dir() + "/tmp";
  fs::create_directories(tmp_dir);
  const std::string file = tmp_dir + "/pull-" + sha256_hex(url.data(), url.size()).substr(0, 24);
  std::error_code ec;
  fs::remove(file, ec);  // a finished download that failed its checks earlier is not trusted
  download_file(url, file, [&](const DownloadProgress& p) {
    if (progress) progress("downloading", p.done, p.total);
  });
  try {
    const uint64_t size = fs::file_size(file);
    if (options.size && size != options.size)
      throw Error("download of " + source + " has " + std::to_string(size) + " bytes, expected " +
                  std::to_string(options.size));
    if (progress) progress("verifying sha256 digest", 0, size);
    const std::string hex = sha256_file(file, [&](uint64_t d, uint64_t t) {
      if (progress) progress("verifying sha256 digest", d, t);
    });
    if (!want.empty() && hex != want)
      throw Error("download of " + source + " has sha256 " + hex + ", expected " + want);
    check_gguf(file, "the download of " + source);
    StoreModel m;
    m.digest = "sha256:" + hex;
    m.size = size;
    m.from = source;
    {
      StoreLock lock(dir());
      fs::create_directories(dir() + "/blobs");
      stage_blob(dir(), file, hex);
      if (progress) progress("writing manifest", 0, 0);
      write_manifest(dir(), n, m);
    }
  } catch (...) {
    fs::remove(file, ec);
    throw;
  }
  if (progress) progress("success", 0, 0);
  return get(n.str());
}

}  // namespace hearth
