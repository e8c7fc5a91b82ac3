// NVIDIA GPU energy through NVML, opened with dlopen so that hearth runs (without GPU energy) where the
// driver is absent. Per GPU: the hardware energy counter (Volta and newer) where it answers, else power
// samples integrated over time.
#include <dlfcn.h>

#include <memory>

#include "telemetry/nvml_api.h"
#include "telemetry/power.h"
#include "telemetry/power_integrator.h"

namespace hearth::telemetry {
namespace {

// The loaded library and its entry points; nvmlShutdown and dlclose when the last source is gone.
struct NvmlLib {
  void* handle = nullptr;
  bool initialized = false;
  nvmlInit_v2_fn init = nullptr;
  nvmlShutdown_fn shutdown = nullptr;
  nvmlDeviceGetCount_v2_fn get_count = nullptr;
  nvmlDeviceGetHandleByIndex_v2_fn get_handle = nullptr;
  nvmlDeviceGetName_fn get_name = nullptr;
  nvmlDeviceGetPowerUsage_fn get_power = nullptr;
  nvmlDeviceGetTotalEnergyConsumption_fn get_energy = nullptr;
  nvmlErrorString_fn error_string = nullptr;  // optional

  ~NvmlLib() {
    if (initialized) shutdown();
    if (handle) dlclose(handle);
  }
  std::string error(const char* call, nvmlReturn_t rc) const {
    std::string s = std::string(call) + " failed (NVML error " + std::to_string(rc);
    if (error_string) s += std::string(": ") + error_string(rc);
    return s + ")";
  }
};

template <typename Fn>
bool bind(void* handle, const char* symbol, Fn* fn, std::string* missing) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
  if (!*fn) *missing += (missing->empty() ? "" : ", ") + std::string(symbol);
  return *fn != nullptr;
}

class NvmlSource : public EnergySource {
 public:
  NvmlSource(std::shared_ptr<NvmlLib> lib, nvmlDevice_t dev, unsigned index, std::string gpu_name,
             bool counter, unsigned long long first_mj)
      : lib_(std::move(lib)), dev_(dev), index_(index), gpu_name_(std::move(gpu_name)), counter_(counter),
        first_mj_(first_mj) {
    sample(Clock::now());
  }
  std::string name() const override { return "nvml:" + std::to_string(index_) + " " + gpu_name_; }
  std::string method() const override { return counter_ ? "counter" : "power"; }

  void sample(Clock::time_point now) override {
    unsigned int mw = 0;
    const bool have_power = lib_->get_power(dev_, &mw) == kNvmlSuccess;
    if (have_power) watts_ = mw * 1e-3;
    if (counter_) {
      unsigned long long mj = 0;
      ok_ = lib_->get_energy(dev_, &mj) == kNvmlSuccess;
      if (ok_) joules_ = mj >= first_mj_ ? static_cast<double>(mj - first_mj_) * 1e-3 : joules_;
    } else {
      ok_ = have_power;
      if (ok_) integ_.add(now, watts_);
      joules_ = integ_.joules();
    }
  }
  double energy_j() const override { return ok_ ? joules_ : -1; }
  double power_w() const override { return watts_; }

 private:
  std::shared_ptr<NvmlLib> lib_;
  nvmlDevice_t dev_;
  unsigned index_;
  std::string gpu_name_;
  bool counter_;                  // the GPU has the total-energy counter
  unsigned long long first_mj_;   // counter reading at open: the origin
  double joules_ = 0;
  double watts_ = -1;
  bool ok_ = true;                // the latest reading succeeded
  PowerIntegrator integ_;         // method "power" only
};

}  // namespace

std::vector<std::unique_ptr<EnergySource>> open_nvml(const std::string& lib_path, std::string* why) {
  std::vector<std::unique_ptr<EnergySource>> out;
  std::string reason;
  const auto fail = [&](const std::string& r) {
    if (why) *why = r;
    return std::vector<std::unique_ptr<EnergySource>>{};
  };

  auto lib = std::make_shared<NvmlLib>();
  const std::vector<std::string> names =
      lib_path.empty() ? std::vector<std::string>{"libnvidia-ml.so.1", "libnvidia-ml.so"}
                       : std::vector<std::string>{lib_path};
  for (const auto& n : names) {
    lib->handle = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle) break;
    const char* e = dlerror();
    reason += (reason.empty() ? "" : "; ") + std::string(e ? e : n + ": cannot open");
  }
  if (!lib->handle) return fail("NVML not available: " + reason);

  std::string missing;
  bind(lib->handle, "nvmlInit_v2", &lib->init, &missing);
  bind(lib->handle, "nvmlShutdown", &lib->shutdown, &missing);
  bind(lib->handle, "nvmlDeviceGetCount_v2", &lib->get_count, &missing);
  bind(lib->handle, "nvmlDeviceGetHandleByIndex_v2", &lib->get_handle, &missing);
  bind(lib->handle, "nvmlDeviceGetName", &lib->get_name, &missing);
  bind(lib->handle, "nvmlDeviceGetPowerUsage", &lib->get_power, &missing);
  bind(lib->handle, "nvmlDeviceGetTotalEnergyConsumption", &lib->get_energy, &missing);
  lib->error_string = reinterpret_cast<nvmlErrorString_fn>(dlsym(lib->handle, "nvmlErrorString"));
  if (!missing.empty()) return fail("NVML library lacks " + missing);

  if (nvmlReturn_t rc = lib->init(); rc != kNvmlSuccess) return fail(lib->error("nvmlInit_v2", rc));
  lib->initialized = true;
  unsigned int count = 0;
  if (nvmlReturn_t rc = lib->get_count(&count); rc != kNvmlSuccess)
    return fail(lib->error("nvmlDeviceGetCount_v2", rc));
  if (count == 0) return fail("NVML reports no GPU");

  std::string skipped;
  for (unsigned i = 0; i < count; ++i) {
    const auto skip = [&](const std::string& r) {
      skipped += (skipped.empty() ? "" : "; ") + ("GPU " + std::to_string(i) + ": " + r);
    };
    nvmlDevice_t dev = nullptr;
    if (nvmlReturn_t rc = lib->get_handle(i, &dev); rc != kNvmlSuccess) {
      skip(lib->error("nvmlDeviceGetHandleByIndex_v2", rc));
      continue;
    }
    char name[kNvmlDeviceNameBufferSize] = {};
    if (lib->get_name(dev, name, sizeof name) != kNvmlSuccess) name[0] = '\0';
    name[sizeof name - 1] = '\0';
    unsigned long long mj = 0;
    unsigned int mw = 0;
    const bool counter = lib->get_energy(dev, &mj) == kNvmlSuccess;
    if (nvmlReturn_t rc = lib->get_power(dev, &mw); !counter && rc != kNvmlSuccess) {
      skip("neither energy counter nor power reading (" + lib->error("nvmlDeviceGetPowerUsage", rc) + ")");
      continue;
    }
    out.push_back(std::make_unique<NvmlSource>(lib, dev, i, name[0] ? name : "GPU", counter, mj));
  }
  if (out.empty()) return fail(skipped);
  if (why && !skipped.empty()) *why = skipped;  // some GPUs measured, others not: say which
  return out;
}

}  // namespace hearth::telemetry
