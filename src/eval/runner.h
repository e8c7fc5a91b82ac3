// The evaluation loop: every target x temperature x repetition x prompt, interleaved (each prompt runs on every
// configuration in turn), one warm-up per configuration excluded, energy from the machine's readers per
// request, records appended as they are measured.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eval/cost.h"
#include "eval/prompts.h"
#include "eval/records.h"
#include "eval/target.h"
#include "telemetry/power.h"

namespace hearth::eval {

struct TargetSpec {
  std::string label;                              // "hearth stories260K.gguf t=2 ngl=0", "endpoint llama-server"
  std::string kind;                               // "hearth" or "endpoint"
  std::string model;                              // model file or served name
  std::function<std::unique_ptr<Target>()> open;  // may throw hearth::Error (recorded, the run goes on)
};

struct RunOptions {
  std::vector<double> temperatures{0.0};
  int reps = 3;
  bool warmup = true;
  uint64_t seed = 42;
  bool ignore_eos = false;
  bool chat = false;
  bool interleave = true;  // all targets open at once, configurations measured in turn (false: one at a time)
  double price_kwh = kDefaultPriceKwh;
};

struct RunHooks {
  std::function<void(size_t done, size_t total, const std::string& what)> progress;  // after each request
  std::function<bool()> stop;                // true: finish now (the request under way is cancelled)
  telemetry::PowerSampler* power = nullptr;  // null: no energy figures
};

// The configuration label of a target at a temperature: "LABEL T=0.7".
std::string config_label(const TargetSpec& spec, double temperature);

// Appends one record per request to `records` (so that whatever was measured survives an interruption or an
// exception). A target that cannot be opened gives one failed record per temperature, and the run goes on.
void run_eval(const std::vector<TargetSpec>& specs, const std::vector<Prompt>& prompts, const RunOptions& options,
              const RunHooks& hooks, std::vector<RequestRecord>& records);

}  // namespace hearth::eval
