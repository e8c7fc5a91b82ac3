// Who a download may talk to: which URLs get HF_TOKEN, and which addresses are public (what /api/pull may
// connect to without --allow-private-pull).
#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "hearth/download.h"
#include "hearth/error.h"
#include "store/fetch_url.h"

namespace hearth {
namespace {

bool in_v4(uint32_t a, uint32_t net, int bits) {
  const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (a & mask) == (net & mask);
}

constexpr uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }

bool public_v4(uint32_t a) {
  static const struct {
    uint32_t net;
    int bits;
  } blocked[] = {
      {v4(0, 0, 0, 0), 8},        // "this network", unspecified
      {v4(10, 0, 0, 0), 8},       // private
      {v4(100, 64, 0, 0), 10},    // carrier-grade NAT
      {v4(127, 0, 0, 0), 8},      // loopback
      {v4(169, 254, 0, 0), 16},   // link-local (cloud metadata at 169.254.169.254)
      {v4(172, 16, 0, 0), 12},    // private
      {v4(192, 0, 0, 0), 24},     // IETF protocol assignments
      {v4(192, 0, 2, 0), 24},     // documentation
      {v4(192, 168, 0, 0), 16},   // private
      {v4(198, 18, 0, 0), 15},    // benchmarking
      {v4(198, 51, 100, 0), 24},  // documentation
      {v4(203, 0, 113, 0), 24},   // documentation
      {v4(224, 0, 0, 0), 4},      // multicast
      {v4(240, 0, 0, 0), 4},      // reserved, broadcast
  };
  for (const auto& b : blocked)
    if (in_v4(a, b.net, b.bits)) return false;
  return true;
}

uint32_t v4_at(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

bool public_v6(const uint8_t* a) {
  static const uint8_t zeros[16] = {};
  // ::/96 (unspecified, loopback, IPv4-compatible) and ::ffff:0:0/96 (IPv4-mapped): the IPv4 address decides.
  if (std::memcmp(a, zeros, 10) == 0 && ((a[10] == 0 && a[11] == 0) || (a[10] == 0xff && a[11] == 0xff))) {
    if (std::memcmp(a, zeros, 12) == 0 && v4_at(a + 12) <= 1) return false;  // :: and ::1
    return public_v4(v4_at(a + 12));
  }
  // ::ffff:0:0:0/96 (IPv4-translated, SIIT): the IPv4 address decides too.
  if (std::memcmp(a, zeros, 8) == 0 && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0)
    return public_v4(v4_at(a + 12));
  // 64:ff9b::/96, NAT64 of an IPv4 address; 64:ff9b:1::/48 is for local use.
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(a, nat64, 12) == 0) return public_v4(v4_at(a + 12));
  if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1) return false;
  if (a[0] == 0x20 && a[1] == 0x02) return public_v4(v4_at(a + 2));                      // 6to4
  if (a[0] == 0x01 && a[1] == 0 && std::memcmp(a + 2, zeros, 6) == 0) return false;      // 100::/64 discard
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return false;        // documentation
  if ((a[0] & 0xfe) == 0xfc) return false;                                               // unique local fc00::/7
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return false;                               // link-local fe80::/10
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return false;                               // site-local fec0::/10
  if (a[0] == 0xff) return false;                                                        // multicast
  return true;
}

}  // namespace

bool is_public_address(const std::string& ip) {
  in_addr a4{};
  if (inet_pton(AF_INET, ip.c_str(), &a4) == 1) return public_v4(ntohl(a4.s_addr));
  in6_addr a6{};
  if (inet_pton(AF_INET6, ip.c_str(), &a6) == 1) return public_v6(a6.s6_addr);
  return false;  // not an address: nothing to connect to
}

bool hf_token_allowed(const std::string& url) {
  store::FetchUrl u;
  try {
    u = store::parse_fetch_url(url);
  } catch (const Error&) {
    return false;
  }
  const std::string domain = "huggingface.co";
  const bool hf_host = u.host == domain ||
                       (u.host.size() > domain.size() + 1 &&
                        u.host.compare(u.host.size() - domain.size() - 1, std::string::npos, "." + domain) == 0);
  return u.scheme == "https" && hf_host && !u.ipv6_literal;
}

}  // namespace hearth
