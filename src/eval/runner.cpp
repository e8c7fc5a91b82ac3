// The evaluation loop and the per-request energy attribution.
#include "eval/runner.h"

#include <cmath>
#include <cstdio>

#include "hearth/error.h"

namespace hearth::eval {
namespace {

std::string energy_source_text(const telemetry::PowerSampler& power) {
  std::string out;
  const std::vector<std::string> names = power.names(), methods = power.methods();
  for (size_t i = 0; i < names.size(); ++i) out += (i ? " + " : "") + names[i] + " (" + methods[i] + ")";
  return out;
}

// Joules between two snapshots, summed over the sources; NaN when any reading failed.
double energy_between(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || a.size() != b.size()) return kUnknown;
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0 || b[i] < 0 || b[i] < a[i]) return kUnknown;
    sum += b[i] - a[i];
  }
  return sum;
}

}  // namespace

std::string config_label(const TargetSpec& spec, double temperature) {
  char t[32];
  std::snprintf(t, sizeof t, " T=%g", temperature);
  return spec.label + t;
}

namespace {

// One opened target and its spec.
struct OpenTarget {
  const TargetSpec* spec;
  std::unique_ptr<Target> target;
};

}  // namespace

void run_eval(const std::vector<TargetSpec>& specs, const std::vector<Prompt>& prompts, const RunOptions& o,
              const RunHooks& hooks, std::vector<RequestRecord>& records) {
  if (prompts.empty()) throw Error("no prompts to evaluate");
  if (o.reps < 1) throw Error("repetitions must be at least 1");
  if (o.temperatures.empty()) throw Error("no temperatures given");
  const size_t per_config = prompts.size() * static_cast<size_t>(o.reps);
  const size_t total = specs.size() * o.temperatures.size() * per_config;
  size_t done = 0;
  auto stopped = [&] { return hooks.stop && hooks.stop(); };
  auto progress = [&](const std::string& what) {
    if (hooks.progress) hooks.progress(done, total, what);
  };
  const std::string energy_source = hooks.power ? energy_source_text(*hooks.power) : "";
  auto base = [&](const TargetSpec& spec, double temperature) {
    RequestRecord r;
    r.config = config_label(spec, temperature);
    r.target = spec.kind;
    r.model = spec.model;
    r.temperature = temperature;
    return r;
  };

  // Interleaved: every target is open at once and each (repetition, prompt) is measured on every configuration
  // back to back, so a noisy neighbour or a drift in memory bandwidth touches all configurations alike.
  // Sequential: one target at a time (one model in memory at a time).
  std::vector<std::vector<const TargetSpec*>> groups;
  for (const TargetSpec& spec : specs) {
    if (o.interleave && !groups.empty()) groups.back().push_back(&spec);
    else groups.push_back({&spec});
  }
  for (const auto& group : groups) {
    std::vector<OpenTarget> open;
    for (const TargetSpec* spec : group) {
      if (stopped()) return;
      progress("opening " + spec->label);
      try {
        open.push_back({spec, spec->open()});
      } catch (const std::exception& e) {
        for (double temperature : o.temperatures) {
          RequestRecord r = base(*spec, temperature);
          r.m.ok = false;
          r.m.error = std::string("cannot open target: ") + e.what();
          records.push_back(std::move(r));
          done += per_config;
        }
        progress(spec->label + " failed");
      }
    }
    auto request = [&](double temperature) {
      Request req;
      req.temperature = temperature;
      req.seed = o.seed;
      req.ignore_eos = o.ignore_eos;
      req.chat = o.chat;
      return req;
    };
    if (o.warmup) {  // caches, page faults, a server's lazy load: not measured
      for (OpenTarget& t : open) {
        for (double temperature : o.temperatures) {
          if (stopped()) return;
          progress("warm-up " + config_label(*t.spec, temperature));
          Request req = request(temperature);
          req.prompt = prompts[0].text;
          req.max_tokens = std::min(prompts[0].max_tokens, 16);
          t.target->run(req, hooks.stop);
        }
      }
    }
    for (int rep = 1; rep <= o.reps; ++rep) {
      for (const Prompt& p : prompts) {
        for (OpenTarget& t : open) {
          for (double temperature : o.temperatures) {
            if (stopped()) return;
            RequestRecord r = base(*t.spec, temperature);
            r.prompt_id = p.id;
            r.rep = rep;
            r.device = t.target->device();
            r.n_gpu_layers = t.target->n_gpu_layers();
            Request req = request(temperature);
            req.prompt = p.text;
            req.max_tokens = p.max_tokens;
            const bool measure_energy = hooks.power && t.target->local_energy();
            const std::vector<double> e0 = measure_energy ? hooks.power->snapshot() : std::vector<double>{};
            r.m = t.target->run(req, hooks.stop);
            if (r.m.ok == false && r.m.error == "cancelled") return;  // interrupted: not a measurement
            if (measure_energy) {
              r.energy_source = energy_source;
              r.energy_j = energy_between(e0, hooks.power->snapshot());
              if (r.m.total_ms > 0) r.mean_power_w = r.energy_j / (r.m.total_ms / 1000.0);
              const EnergyCost c = energy_cost(r.energy_j, r.m.gen_tokens, o.price_kwh);
              if (r.m.gen_tokens > 0) {
                r.j_per_token = c.joules_per_token;
                r.wh_per_token = c.wh_per_token;
                r.usd_per_mtok = c.usd_per_million_tokens;
              }
            }
            records.push_back(std::move(r));
            ++done;
            progress(config_label(*t.spec, temperature));
          }
        }
      }
    }
  }
}

}  // namespace hearth::eval
