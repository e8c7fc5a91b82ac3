// Energy from power samples (trapezoid rule), and power from energy readings: the arithmetic shared by the
// sources in this folder.
#pragma once
#include <chrono>

namespace hearth::telemetry {

using Clock = std::chrono::steady_clock;

// Joules from (time, watts) samples; a sample older than the previous one is ignored.
class PowerIntegrator {
 public:
  void add(Clock::time_point t, double watts) {
    if (started_) {
      if (t < t_) return;
      joules_ += 0.5 * (w_ + watts) * std::chrono::duration<double>(t - t_).count();
    }
    started_ = true;
    t_ = t;
    w_ = watts;
  }
  double joules() const { return joules_; }
  double watts() const { return started_ ? w_ : -1; }

 private:
  bool started_ = false;
  Clock::time_point t_{};
  double w_ = 0;
  double joules_ = 0;
};

// Average power between the last two (time, cumulative joules) readings; < 0 until there are two.
class EnergyRate {
 public:
  void add(Clock::time_point t, double joules) {
    if (n_ > 0 && t > t_) watts_ = (joules - j_) / std::chrono::duration<double>(t - t_).count();
    if (n_ == 0 || t > t_) {
      t_ = t;
      j_ = joules;
      ++n_;
    }
  }
  double watts() const { return watts_; }

 private:
  int n_ = 0;
  Clock::time_point t_{};
  double j_ = 0;
  double watts_ = -1;
};

}  // namespace hearth::telemetry
