// A user-given constant wattage over wall time, labelled "estimate" wherever it is reported.
#include <cstdio>

#include "telemetry/power.h"
#include "telemetry/power_integrator.h"

namespace hearth::telemetry {
namespace {

class EstimateSource : public EnergySource {
 public:
  explicit EstimateSource(double watts) : watts_(watts) { integ_.add(Clock::now(), watts_); }
  std::string name() const override {
    char buf[64];
    std::snprintf(buf, sizeof buf, "estimate:%gW", watts_);
    return buf;
  }
  std::string method() const override { return "estimate"; }
  void sample(Clock::time_point now) override { integ_.add(now, watts_); }
  double energy_j() const override { return integ_.joules(); }
  double power_w() const override { return watts_; }

 private:
  double watts_;
  PowerIntegrator integ_;
};

}  // namespace

std::unique_ptr<EnergySource> make_estimate(double watts) { return std::make_unique<EstimateSource>(watts); }

}  // namespace hearth::telemetry
