#include "hearth/generate.h"

#include <algorithm>
#include <chrono>

#include "hearth/error.h"

namespace hearth {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Bytes at the end of text that may still become a stop string.
size_t stop_candidate(const std::string& text, const std::vector<std::string>& stops) {
  size_t hold = 0;
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  }
  return hold;
}

// Bytes at the end of text that are an incomplete UTF-8 sequence (held until the next token completes it).
size_t utf8_incomplete(const std::string& text) {
  size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    unsigned char c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

GenerateStats generate(Session& session, std::span<const int32_t> prompt, const GenerateParams& params,
                       const std::function<bool(const std::string&)>& on_text, int seq) {
  GenerateStats st;
  Model& model = session.model();
  Sampler sampler(params.sampling);
  const int n_vocab = session.n_vocab();
  for (int32_t t : prompt) sampler.accept(t);

  const auto t0 = Clock::now();
  const float* logits = session.decode(prompt, seq);
  st.n_prompt = static_cast<int>(prompt.size());
  st.prompt_ms = ms_since(t0);

  std::vector<float> work(n_vocab);
  std::string pending;  // generated text not yet handed to on_text
  Clock::time_point t_first;
  while (params.n_predict < 0 || st.n_gen < params.n_predict) {
    std::copy(logits, logits + n_vocab, work.begin());
    int32_t tok = sampler.sample(work.data(), n_vocab);
    if (st.n_gen == 0) {
      st.ttft_ms = ms_since(t0);
      t_first = Clock::now();
    }
    if (model.is_eog(tok)) {
      st.stop_reason = "eog";
      break;
    }
    sampler.accept(tok);
    st.tokens.push_back(tok);
    ++st.n_gen;
    pending += model.token_to_piece(tok);

    size_t cut = std::string::npos;
    for (const std::string& s : params.stop)
      if (!s.empty()) cut = std::min(cut, pending.find(s));
    if (cut != std::string::npos) {
      pending.resize(cut);
      st.stop_reason = "stop";
      break;
    }
    size_t hold = std::max(stop_candidate(pending, params.stop), utf8_incomplete(pending));
    if (pending.size() > hold) {
      if (!on_text(pending.substr(0, pending.size() - hold))) {
        pending.erase(0, pending.size() - hold);
        st.stop_reason = "cancelled";
        break;
      }
      pending.erase(0, pending.size() - hold);
    }
    if (session.n_past(seq) >= session.n_ctx()) {
      st.stop_reason = "context";
      break;
    }
    if (params.n_predict >= 0 && st.n_gen >= params.n_predict) break;
    logits = session.decode(std::span<const int32_t>(&tok, 1), seq);
  }
  if (st.stop_reason.empty()) st.stop_reason = "length";
  if (!pending.empty() && st.stop_reason != "cancelled") on_text(pending);
  if (st.n_gen > 0) st.gen_ms = ms_since(t_first);
  return st;
}

}  // namespace hearth
