// `pull` into the store: download (resumable, shared by pulls of the same source), check size and sha256,
// check it is a GGUF, register.
#include <filesystem>
#include <set>

#include "hearth/error.h"
#include "hearth/store.h"
#include "store/pull_share.h"
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

// The checks a pull's options ask for, on the blob it got (hex: its digest).
void check_expected(const std::string& source, const PullOptions& o, const std::string& want, uint64_t size,
                    const std::string& hex) {
  if (o.size && size != o.size)
    throw Error("download of " + source + " has " + std::to_string(size) + " bytes, expected " + std::to_string(o.size));
  if (!want.empty() && hex != want) throw Error("download of " + source + " has sha256 " + hex + ", expected " + want);
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
  const std::string part = file + ".part";
  // Pulls that may go to different places (or take different sizes) do not share.
  const std::string key = dir() + "\n" + url + "\n" + (options.download.allow_private ? "any" : "public") + "\n" +
                          std::to_string(options.download.max_bytes);
  bool led = false;
  const PulledBlob blob = share_pull(
      key,
      [&](const PullProgress& publish) {
        led = true;
        PullLock lock(file, [&] { publish("waiting for another download of the same source", 0, 0); });
        std::error_code ec;
        fs::remove(file, ec);  // a finished download that failed its checks earlier is not trusted
        try {
          download_file(url, file, [&](const DownloadProgress& p) { publish("downloading", p.done, p.total); },
                        options.download);
        } catch (...) {
          // Kept to resume unless told otherwise; an empty one (the lock's) is no use to anyone.
          if (!options.keep_partial || fs::file_size(part, ec) == 0) fs::remove(part, ec);
          throw;
        }
        try {
          const uint64_t size = fs::file_size(file);
          publish("verifying sha256 digest", 0, size);
          const std::string hex = sha256_file(file, [&](uint64_t d, uint64_t t) { publish("verifying sha256 digest", d, t); });
          check_expected(source, options, want, size, hex);
          check_gguf(file, "the download of " + source);
          StoreModel m;
          m.digest = "sha256:" + hex;
          m.size = size;
          m.from = source;
          StoreLock store_lock(dir());
          fs::create_directories(dir() + "/blobs");
          stage_blob(dir(), file, hex);
          publish("writing manifest", 0, 0);
          write_manifest(dir(), n, m);
          return PulledBlob{hex, size};
        } catch (...) {
          fs::remove(file, ec);
          throw;
        }
      },
      [&](const std::string& status, uint64_t done, uint64_t total) {
        if (progress) progress(status, done, total);
      });
  if (!led) {
    // Another pull of the source downloaded the blob: this one's checks, then its name.
    check_expected(source, options, want, blob.size, blob.hex);
    StoreLock lock(dir());
    std::error_code ec;
    if (!fs::exists(blob_path(dir(), blob.hex), ec))
      throw Error("the download of " + source + " was deleted before it was registered as " + n.str() + ": pull again");
    if (progress) progress("writing manifest", 0, 0);
    StoreModel m;
    m.digest = "sha256:" + blob.hex;
    m.size = blob.size;
    m.from = source;
    write_manifest(dir(), n, m);
  }
  if (progress) progress("success", 0, 0);
  return get(n.str());
}

size_t ModelStore::collect_partial_downloads() {
  // Downloads by their base name (tmp/pull-HASH, with .part and .lock beside it).
  std::set<std::string> bases;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir() + "/tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("pull-", 0) != 0) continue;
    for (const char* suffix : {".part", ".lock"})
      if (name.size() > 5 && name.compare(name.size() - 5, 5, suffix) == 0) name.resize(name.size() - 5);
    bases.insert(dir() + "/tmp/" + name);
  }
  size_t removed = 0;
  for (const std::string& b : bases) removed += remove_unused_download(b);
  return removed;
}

}  // namespace hearth
