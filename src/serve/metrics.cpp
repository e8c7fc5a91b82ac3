#include "serve/metrics.h"

#ifdef HEARTH_HAVE_HTTP
#include <httplib.h>

#include <sstream>

#include "serve/serve_state.h"

namespace hearth::serve {
namespace {

void header(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void metric(std::ostringstream& out, const char* name, const char* type, const char* help, double value) {
  header(out, name, type, help);
  out << name << ' ' << value << '\n';
}

// A label value with backslashes, quotes and newlines escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

void add_metrics_route(httplib::Server& http, ServeState& state) {
  http.Get("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    const Totals& t = state.totals;
    std::ostringstream out;
    out.precision(15);
    metric(out, "hearth_requests_total", "counter", "Generation requests received.", static_cast<double>(t.requests));
    metric(out, "hearth_requests_finished_total", "counter", "Generation requests ended (any reason).",
           static_cast<double>(t.finished));
    metric(out, "hearth_requests_cancelled_total", "counter", "Generation requests cancelled (client gone, stop).",
           static_cast<double>(t.cancelled));
    metric(out, "hearth_requests_active", "gauge", "Generation requests queued or running.", t.active);
    metric(out, "hearth_prompt_tokens_total", "counter", "Prompt tokens evaluated.", static_cast<double>(t.prompt_tokens));
    metric(out, "hearth_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a sequence's KV cache.",
           static_cast<double>(t.prompt_tokens_cached));
    metric(out, "hearth_tokens_generated_total", "counter", "Tokens generated.", static_cast<double>(t.tokens_generated));
    metric(out, "hearth_prompt_seconds_total", "counter", "Time spent evaluating prompts, summed over requests.",
           static_cast<double>(t.prompt_us) / 1e6);
    metric(out, "hearth_generation_seconds_total", "counter", "Time spent generating, summed over requests.",
           static_cast<double>(t.generation_us) / 1e6);
    const auto loaded = state.models.loaded();
    metric(out, "hearth_models_loaded", "gauge", "Models loaded.", static_cast<double>(loaded.size()));
    // Per model, both gauges from one snapshot of its scheduler.
    std::vector<std::pair<std::string, BatchGenerator::Counts>> counts;
    for (const auto& lm : loaded) counts.emplace_back(label(lm->name), lm->scheduler->counts());
    header(out, "hearth_model_sequences_busy", "gauge", "Sequences generating, per loaded model.");
    for (const auto& [name, c] : counts) out << "hearth_model_sequences_busy{model=\"" << name << "\"} " << c.running << '\n';
    header(out, "hearth_model_requests_queued", "gauge", "Requests waiting for a free sequence, per loaded model.");
    for (const auto& [name, c] : counts) out << "hearth_model_requests_queued{model=\"" << name << "\"} " << c.queued << '\n';
    res.set_content(out.str(), "text/plain; version=0.0.4");
  });
}

}  // namespace hearth::serve
#endif
