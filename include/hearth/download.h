// Model sources: local paths, http(s) URLs and hf:ORG/REPO/FILE (Hugging Face), downloaded into a cache
// with resume (a .part file and a Range request), then moved into place atomically.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace hearth {

struct DownloadProgress {
  uint64_t done = 0;
  uint64_t total = 0;  // 0 when the server did not say
};

// hf:ORG/REPO/FILE → https://huggingface.co/ORG/REPO/resolve/main/FILE (the host can be changed with
// HEARTH_HF_ENDPOINT, e.g. a mirror or a local test server). Returns "" when src is not an hf: source.
std::string hf_url(const std::string& src);
// True for hf: sources and http(s) URLs.
bool is_remote_source(const std::string& src);
// Default cache: $HEARTH_CACHE, else $XDG_CACHE_HOME/hearth, else ~/.cache/hearth.
std::string default_cache_dir();
// Where a remote source is kept in the cache.
std::string cache_path_for(const std::string& src, const std::string& cache_dir);

// Downloads url to dest (resuming dest + ".part"); throws hearth::Error with the HTTP status or network error.
void download_file(const std::string& url, const std::string& dest,
                   const std::function<void(const DownloadProgress&)>& progress);
// A local path as is; a remote source downloaded into the cache on first use. Returns the local path.
std::string resolve_model_source(const std::string& src, const std::string& cache_dir,
                                 const std::function<void(const DownloadProgress&)>& progress);

}  // namespace hearth
