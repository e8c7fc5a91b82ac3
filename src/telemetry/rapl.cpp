// CPU package energy from Linux RAPL through powercap sysfs:
//   <root>/intel-rapl:N/{name, energy_uj, max_energy_range_uj}
// Only package-level zones (intel-rapl:N named "package-M"); subzones intel-rapl:N:M (core, uncore, dram)
// are parts of a package and would count twice. AMD's driver exposes the same names.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>

#include "telemetry/power.h"
#include "telemetry/power_integrator.h"

namespace hearth::telemetry {
namespace {

// The whole of a small file, or nullopt with *err set to "path: reason".
std::optional<std::string> read_small_file(const std::string& path, std::string* err) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    *err = path + ": " + std::strerror(read_errno);
    return std::nullopt;
  }
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::optional<uint64_t> read_u64(const std::string& path, std::string* err) {
  auto s = read_small_file(path, err);
  if (!s) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size() || s->empty()) {
    *err = path + ": '" + *s + "' is not an unsigned integer";
    return std::nullopt;
  }
  return v;
}

class RaplSource : public EnergySource {
 public:
  RaplSource(std::string zone, std::string energy_path, uint64_t max_uj, uint64_t first_uj)
      : zone_(std::move(zone)), energy_path_(std::move(energy_path)), max_uj_(max_uj), last_uj_(first_uj) {
    rate_.add(Clock::now(), 0);
  }
  std::string name() const override { return "rapl:" + zone_; }
  std::string method() const override { return "counter"; }

  void sample(Clock::time_point now) override {
    std::string err;
    const auto uj = read_u64(energy_path_, &err);
    ok_ = uj.has_value();
    if (!ok_) return;
    // The counter runs from 0 to max_energy_range_uj and starts again at 0.
    const uint64_t delta = *uj >= last_uj_ ? *uj - last_uj_ : max_uj_ - last_uj_ + *uj;
    last_uj_ = *uj;
    total_uj_ += delta;
    rate_.add(now, energy_j());
  }
  double energy_j() const override { return ok_ ? static_cast<double>(total_uj_) * 1e-6 : -1; }
  double power_w() const override { return rate_.watts(); }

 private:
  std::string zone_;         // "package-0"
  std::string energy_path_;  // .../intel-rapl:0/energy_uj
  uint64_t max_uj_;          // max_energy_range_uj: where the counter wraps
  uint64_t last_uj_;         // the latest raw reading
  uint64_t total_uj_ = 0;    // since the first reading, wraps undone
  bool ok_ = true;           // the latest reading succeeded
  EnergyRate rate_;
};

}  // namespace

std::vector<std::unique_ptr<EnergySource>> open_rapl(const std::string& root_arg, std::string* why) {
  namespace fs = std::filesystem;
  const std::string root = root_arg.empty() ? "/sys/class/powercap" : root_arg;
  std::vector<std::unique_ptr<EnergySource>> out;
  std::string reasons;
  const auto note = [&](const std::string& r) { reasons += (reasons.empty() ? "" : "; ") + r; };

  std::vector<fs::path> zones;
  std::error_code ec;
  static const std::regex package_dir("intel-rapl:[0-9]+");
  for (const auto& e : fs::directory_iterator(root, ec))
    if (std::regex_match(e.path().filename().string(), package_dir)) zones.push_back(e.path());
  if (ec) note(root + ": " + ec.message());
  std::sort(zones.begin(), zones.end());

  for (const auto& dir : zones) {
    std::string err;
    const auto name = read_small_file((dir / "name").string(), &err);
    if (!name) {
      note(err);
      continue;
    }
    if (name->rfind("package-", 0) != 0) continue;
    const auto max_uj = read_u64((dir / "max_energy_range_uj").string(), &err);
    const auto first = max_uj ? read_u64((dir / "energy_uj").string(), &err) : std::nullopt;
    if (!first) {
      note(err);
      continue;
    }
    out.push_back(std::make_unique<RaplSource>(*name, (dir / "energy_uj").string(), *max_uj, *first));
  }

  if (out.empty() && why) {
    if (zones.empty() && reasons.empty()) reasons = "no RAPL zones (intel-rapl:N) under " + root;
    else if (reasons.empty()) reasons = "no package-level RAPL zone under " + root;
    if (reasons.find("Permission denied") != std::string::npos)
      reasons += " (RAPL energy counters are readable by root only)";
    *why = reasons;
  }
  return out;
}

}  // namespace hearth::telemetry
