#include <cstdlib>
#include <filesystem>

#include "hearth/error.h"
#include "hearth/download.h"

namespace hearth {

std::string hf_url(const std::string& src) {
  if (src.rfind("hf:", 0) != 0) return "";
  std::string rest = src.substr(3);
  // ORG/REPO/FILE... (FILE may contain slashes); an optional @REVISION after REPO is not supported yet.
  size_t a = rest.find('/'), b = a == std::string::npos ? a : rest.find('/', a + 1);
  if (a == std::string::npos || b == std::string::npos || b + 1 >= rest.size() || rest.find("..") != std::string::npos)
    throw Error("invalid Hugging Face source '" + src + "' (expected hf:ORG/REPO/FILE.gguf)");
  const char* env = std::getenv("HEARTH_HF_ENDPOINT");
  std::string base = env && *env ? env : "https://huggingface.co";
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + rest.substr(0, b) + "/resolve/main/" + rest.substr(b + 1);
}

bool is_remote_source(const std::string& src) {
  return src.rfind("hf:", 0) == 0 || src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0;
}

std::string default_cache_dir() {
  if (const char* c = std::getenv("HEARTH_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/hearth";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/hearth";
  return ".hearth-cache";
}

std::string cache_path_for(const std::string& src, const std::string& cache_dir) {
  std::string rel;
  if (src.rfind("hf:", 0) == 0) {
    hf_url(src);  // validates
    rel = "hf/" + src.substr(3);
  } else {
    size_t scheme = src.find("://");
    rel = "url/" + src.substr(scheme + 3);
    size_t q = rel.find_first_of("?#");
    if (q != std::string::npos) rel.resize(q);
    if (rel.find("..") != std::string::npos) throw Error("invalid URL '" + src + "'");
  }
  return cache_dir + "/" + rel;
}

std::string resolve_model_source(const std::string& src, const std::string& cache_dir,
                                 const std::function<void(const DownloadProgress&)>& progress) {
  if (!is_remote_source(src)) return src;
  std::string dest = cache_path_for(src, cache_dir);
  if (std::filesystem::exists(dest)) return dest;
  std::string url = src.rfind("hf:", 0) == 0 ? hf_url(src) : src;
  std::filesystem::create_directories(std::filesystem::path(dest).parent_path());
  download_file(url, dest, progress);
  return dest;
}

}  // namespace hearth
