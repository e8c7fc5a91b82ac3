// Speculative decoding: draft greedily with the small model, verify with one forward pass of the large one.
// The large model's token at each position is chosen by the same TokenStream (sampler, penalties, JSON
// constraint, stop strings) as in generate(), from the logits it computes after the accepted tokens, so the
// output follows its distribution exactly; a draft token is kept only when it is that choice.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "hearth/error.h"
#include "hearth/generate.h"
#include "runtime/token_stream.h"

namespace hearth {

void check_draft_vocab(const Model& model, const Model& draft) {
  const int n = model.info().n_vocab, nd = draft.info().n_vocab;
  if (n != nd)
    throw Error("the draft model has " + std::to_string(nd) + " tokens, the model " + std::to_string(n) +
                ": speculative decoding needs the same vocabulary");
  for (int32_t id = 0; id < n; ++id)
    if (model.token_text(id) != draft.token_text(id))
      throw Error("the draft model's token " + std::to_string(id) + " is '" + draft.token_text(id) +
                  "', the model's '" + model.token_text(id) + "': speculative decoding needs the same vocabulary");
}

namespace {

int32_t argmax(const float* v, int n) { return static_cast<int32_t>(std::max_element(v, v + n) - v); }

}  // namespace

GenerateStats generate_speculative(Session& session, Session& draft, std::span<const int32_t> prompt,
                                   const GenerateParams& params, int n_draft,
                                   const std::function<bool(const std::string&)>& on_text) {
  if (n_draft < 1) throw Error("speculative decoding: the number of draft tokens must be at least 1");
  check_draft_vocab(session.model(), draft.model());
  const auto t0 = std::chrono::steady_clock::now();
  TokenStream ts(session.model(), params, prompt, on_text, t0);
  const int V = session.n_vocab();
  const float* logits = session.decode(prompt);
  draft.decode(prompt);
  const double prompt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::vector<int32_t> behind;  // accepted tokens the draft has not evaluated yet
  std::vector<int32_t> batch;   // the next token, then the draft's proposals
  std::vector<float> rows;
  int32_t tok = ts.next(logits, session.n_past(), session.n_ctx());
  while (tok >= 0) {
    // Propose: catch the draft up, then let it run greedily (no further than the context allows).
    const int room = std::min(session.n_ctx(), draft.n_ctx()) - session.n_past() - 1;
    const int k = std::clamp(n_draft, 0, room);
    batch.assign(1, tok);
    behind.push_back(tok);
    if (k > 0) {
      const float* dl = draft.decode(behind);
      behind.clear();
      for (int i = 0; i < k; ++i) {
        batch.push_back(argmax(dl, V));
        if (i + 1 < k) dl = draft.decode(std::span<const int32_t>(&batch.back(), 1));
      }
      behind.push_back(batch.back());  // the last proposal was never evaluated by the draft
    }
    // Verify: one pass over the token and the proposals; row i is the model's view after batch[0..i].
    const int n_before = session.n_past();
    rows.resize(batch.size() * static_cast<size_t>(V));
    session.decode_all(batch, rows.data());
    ts.stats().n_drafted += k;
    size_t i = 0;
    for (;; ++i) {
      tok = ts.next(rows.data() + i * V, n_before + static_cast<int>(i) + 1, session.n_ctx());
      if (tok < 0 || i + 1 >= batch.size() || tok != batch[i + 1]) break;
      ++ts.stats().n_accepted;  // the model chose the draft's token, already in its cache
    }
    // Forget what was not accepted, in both models: the model keeps batch[0..i], the draft as much of it as it has.
    session.truncate(0, n_before + static_cast<int>(i) + 1);
    if (i + 1 < batch.size()) {
      draft.truncate(0, n_before + static_cast<int>(i) + 1);
      behind.clear();
    }
  }
  GenerateStats st = ts.finish();
  st.prompt_ms = prompt_ms;
  return st;
}

}  // namespace hearth
