#include <algorithm>

#include "telemetry/power.h"

namespace hearth::telemetry {

PowerSampler::PowerSampler(std::vector<std::unique_ptr<EnergySource>> sources,
                           std::chrono::milliseconds period)
    : sources_(std::move(sources)),
      period_(std::clamp(period, std::chrono::milliseconds(1), std::chrono::milliseconds(100))) {
  sample_locked();
  thread_ = std::thread([this] { loop(); });
}

PowerSampler::~PowerSampler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PowerSampler::sample_locked() {
  const auto now = std::chrono::steady_clock::now();  // taken under the lock: samples stay in time order
  for (auto& s : sources_) s->sample(now);
}

void PowerSampler::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  try {
    while (!cv_.wait_for(lock, period_, [this] { return stop_.load(); })) sample_locked();
  } catch (...) {
    // A source that throws (out of memory) must not end the process from this thread: periodic sampling
    // stops; mark() and snapshot() still sample, on their callers' threads, where an error can be reported.
  }
}

void PowerSampler::mark() {
  std::lock_guard<std::mutex> lock(mu_);
  sample_locked();
}

std::vector<double> PowerSampler::snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  sample_locked();
  std::vector<double> e;
  e.reserve(sources_.size());
  for (auto& s : sources_) e.push_back(s->energy_j());
  return e;
}

std::vector<std::string> PowerSampler::names() const {
  std::vector<std::string> v;
  for (auto& s : sources_) v.push_back(s->name());
  return v;
}

std::vector<std::string> PowerSampler::methods() const {
  std::vector<std::string> v;
  for (auto& s : sources_) v.push_back(s->method());
  return v;
}

}  // namespace hearth::telemetry
