// Local model target: each request is a fresh sequence (nothing cached between requests, as the endpoint
// targets are asked for), timed by generate() itself.
#include "eval/local_target.h"

#include <chrono>
#include <cmath>

#include "hearth/generate.h"
#include "hearth/session.h"

namespace hearth::eval {
namespace {

class LocalTarget : public Target {
 public:
  LocalTarget(const std::string& path, const LoadParams& params, int n_ctx) : model_(Model::load(path, params)) {
    SessionParams sp;
    sp.n_ctx = n_ctx;
    session_ = std::make_unique<Session>(*model_, sp);
    const PlacementSummary& pl = model_->placement();
    device_ = "CPU";
    for (const std::string& d : pl.layer_device)
      if (d != "CPU") {
        ++n_gpu_layers_;
        device_ = d;
      }
  }
  std::string device() const override { return device_; }
  int n_gpu_layers() const override { return n_gpu_layers_; }
  bool local_energy() const override { return true; }

  Measurement run(const Request& r, const std::function<bool()>& stop) override {
    Measurement m;
    const auto t0 = std::chrono::steady_clock::now();
    try {
      const std::vector<int32_t> prompt =
          r.chat ? model_->tokenize_chat({{"user", r.prompt}}, true) : model_->tokenize(r.prompt, true, true);
      if (static_cast<int>(prompt.size()) + r.max_tokens > session_->n_ctx())
        throw Error("prompt (" + std::to_string(prompt.size()) + " tokens) and max_tokens (" +
                    std::to_string(r.max_tokens) + ") exceed the context of " + std::to_string(session_->n_ctx()));
      GenerateParams gp;
      gp.n_predict = r.max_tokens;
      gp.sampling.temperature = static_cast<float>(r.temperature);
      gp.sampling.seed = r.seed;
      if (r.ignore_eos && model_->eos() >= 0) gp.sampling.logit_bias.emplace_back(model_->eos(), -INFINITY);
      session_->truncate(0, 0);
      const GenerateStats st = generate(*session_, prompt, gp, [&](const std::string& text) {
        m.text += text;
        return !(stop && stop());
      });
      m.prompt_tokens = st.n_prompt;
      if (st.prompt_ms > 0) m.prompt_tps = st.n_prompt * 1000.0 / st.prompt_ms;
      m.gen_tokens = st.n_gen;
      if (st.n_gen > 1 && st.gen_ms > 0) m.gen_tps = (st.n_gen - 1) * 1000.0 / st.gen_ms;  // as `hearth run`
      if (st.n_gen > 0) m.ttft_ms = st.ttft_ms;
      if (st.stop_reason == "cancelled") {
        m.ok = false;
        m.error = "cancelled";
      }
    } catch (const Error& e) {
      m.ok = false;
      m.error = e.what();
    }
    m.total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return m;
  }

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<Session> session_;
  std::string device_;
  int n_gpu_layers_ = 0;
};

}  // namespace

std::unique_ptr<Target> make_local_target(const std::string& model_path, const LoadParams& params, int n_ctx) {
  return std::make_unique<LocalTarget>(model_path, params, n_ctx);
}

}  // namespace hearth::eval
