// Model sources: local paths, http(s) URLs and hf:ORG/REPO/FILE (Hugging Face), downloaded into a cache
// with resume (a .part file and a Range request), then moved into place atomically.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

// Where a download may go and how much it may take. The defaults are the CLI's: the machine's own user may
// fetch anything. The server's /api/pull fetches for whoever can reach it, so it refuses private destinations
// and caps the size.
struct DownloadOptions {
  // false: only public internet addresses (is_public_address) are connected, checked after DNS resolution on
  // every hop (redirects are followed one by one), and the connection goes to the address that was checked (no
  // second lookup to rebind). Refused, unresolvable and unreachable destinations all give the same error, so
  // that the server is no port scanner.
  bool allow_private = true;
  uint64_t max_bytes = 0;  // 0: no limit; else a larger Content-Length, or more bytes received, fails
  // Tests: replace the checks of which URLs get HF_TOKEN (hf_token_allowed) and which addresses count as
  // public (is_public_address).
  std::function<bool(const std::string& url)> token_allowed;
  std::function<bool(const std::string& ip)> address_allowed;
};

// Whether HF_TOKEN may be sent to url: https, and the host (as the connection sees it: not a query string, not
// "huggingface.co@evil.example") is huggingface.co or a subdomain of it. Malformed URLs: false.
bool hf_token_allowed(const std::string& url);
// Whether a numeric IPv4/IPv6 address is a public internet address: false for loopback, private (RFC 1918,
// CGNAT 100.64/10, IPv6 ULA fc00::/7), link-local (169.254/16, fe80::/10), unspecified, multicast, broadcast,
// reserved and documentation ranges, and IPv4-mapped, -compatible, NAT64 and 6to4 IPv6 forms of those.
bool is_public_address(const std::string& ip);

// Downloads url to dest (resuming dest + ".part"), following up to 10 redirects hop by hop: HF_TOKEN goes
// only where hf_token_allowed says, and never again once a redirect has left those hosts. progress may throw to
// stop (the exception comes out of download_file). Throws hearth::Error with the HTTP status or network error.
void download_file(const std::string& url, const std::string& dest,
                   const std::function<void(const DownloadProgress&)>& progress,
                   const DownloadOptions& options = {});
// A local path as is; a remote source downloaded into the cache on first use. Returns the local path.
std::string resolve_model_source(const std::string& src, const std::string& cache_dir,
                                 const std::function<void(const DownloadProgress&)>& progress);

}  // namespace hearth
