// Power and energy readers, each behind one interface so the eval harness can combine them:
// NVIDIA GPUs through NVML (libnvidia-ml loaded with dlopen at run time, never linked), the CPU package
// through Linux RAPL (powercap sysfs), and a labelled estimate from a user-given wattage.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hearth::telemetry {

// One energy source. energy_j() is cumulative joules since an arbitrary origin (monotonic: counter wraps are
// handled by the reader), or a negative value when the latest reading failed (counters catch up at the
// next good reading; integrated power skips the failed sample). Not thread-safe by itself: PowerSampler
// serializes the calls.
class EnergySource {
 public:
  virtual ~EnergySource() = default;
  virtual std::string name() const = 0;   // "nvml:0 NVIDIA H100 80GB HBM3", "rapl:package-0", "estimate:65W"
  virtual std::string method() const = 0; // "counter" (hardware energy counter), "power" (integrated samples),
                                          // "estimate" (user wattage x time)
  // Called by the sampler at least every 100 ms and after each token; sources that only expose power
  // integrate it here (trapezoid rule over the sample times).
  virtual void sample(std::chrono::steady_clock::time_point now) = 0;
  virtual double energy_j() const = 0;
  virtual double power_w() const = 0;     // latest instantaneous power, or < 0 if unknown
};

// NVML: every GPU as one source each. lib_path "" searches libnvidia-ml.so.1 then libnvidia-ml.so.
// Returns an empty list (and sets *why) when the library or a GPU is missing; when some GPUs are measured
// and others cannot be, *why names the skipped ones. nvmlShutdown runs when the last source is destroyed.
std::vector<std::unique_ptr<EnergySource>> open_nvml(const std::string& lib_path, std::string* why);

// RAPL: each package-level zone under `root` (default /sys/class/powercap) whose energy_uj is readable.
// Wraps at max_energy_range_uj. Empty list (with *why) when none is readable (common without root).
std::vector<std::unique_ptr<EnergySource>> open_rapl(const std::string& root, std::string* why);

// A constant wattage (clearly labelled as an estimate).
std::unique_ptr<EnergySource> make_estimate(double watts);

// Samples every source on a thread every `period` and on mark() (after each token); energy over an interval
// is the difference of two snapshots. `period` is clamped to [1 ms, 100 ms]; the sources are sampled once
// at construction. Thread-safe; the destructor stops and joins the thread.
class PowerSampler {
 public:
  explicit PowerSampler(std::vector<std::unique_ptr<EnergySource>> sources,
                        std::chrono::milliseconds period = std::chrono::milliseconds(100));
  ~PowerSampler();
  PowerSampler(const PowerSampler&) = delete;
  PowerSampler& operator=(const PowerSampler&) = delete;

  void mark();                         // sample now (call after each generated token)
  std::vector<double> snapshot();      // energy_j of each source, after sampling now
  std::vector<std::string> names() const;
  std::vector<std::string> methods() const;
  size_t size() const { return sources_.size(); }

 private:
  void loop();
  void sample_locked();  // samples every source at one `now`; mu_ held
  std::vector<std::unique_ptr<EnergySource>> sources_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;  // wakes the thread early on destruction
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hearth::telemetry
