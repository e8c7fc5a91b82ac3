#include "hearth/embed.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "hearth/error.h"
#include "hearth/session.h"

namespace hearth {

Pooling parse_pooling(std::string_view name) {
  if (name == "mean") return Pooling::Mean;
  if (name == "last") return Pooling::Last;
  if (name == "cls" || name == "first") return Pooling::First;
  throw Error("unknown pooling '" + std::string(name) + "' (choose mean, last or cls)");
}

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::Mean: return "mean";
    case Pooling::Last: return "last";
    case Pooling::First: return "cls";
  }
  return "?";
}

void l2_normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= scale;
}

std::vector<int32_t> embed_tokenize(const Model& model, std::string_view text) {
  return model.tokenize(text, /*add_bos=*/true, /*parse_special=*/true);
}

namespace {

// Embeds inputs [begin, end) in one session: one sequence each, batches of up to n_batch tokens.
void embed_group(Model& model, const std::vector<std::vector<int32_t>>& inputs, size_t begin, size_t end,
                 const EmbedParams& p, std::vector<std::vector<float>>& out) {
  const int n_embd = model.info().n_embd;
  size_t longest = 0, total = 0;
  for (size_t i = begin; i < end; ++i) {
    longest = std::max(longest, inputs[i].size());
    total += inputs[i].size();
  }
  SessionParams sp;
  sp.n_ctx = static_cast<int>(longest);
  sp.n_seq = static_cast<int>(end - begin);
  sp.n_batch = static_cast<int>(std::min<size_t>(total, p.n_batch));
  Session session(model, sp);

  // Every token of every input in order; each batch takes the next n_batch of them (a long input continues
  // in the next batch from its KV cache, which gives the same hidden states as one pass).
  std::vector<BatchToken> all;
  all.reserve(total);
  for (size_t i = begin; i < end; ++i)
    for (int32_t t : inputs[i]) all.push_back({t, static_cast<int32_t>(i - begin), false});
  std::vector<float> hidden(static_cast<size_t>(sp.n_batch) * n_embd);
  std::vector<std::vector<double>> sums(end - begin, std::vector<double>(n_embd, 0.0));
  std::vector<int> seen(end - begin, 0);
  for (size_t start = 0; start < all.size(); start += sp.n_batch) {
    const size_t n = std::min<size_t>(sp.n_batch, all.size() - start);
    session.decode_hidden(std::span<const BatchToken>(all.data() + start, n), hidden.data());
    for (size_t r = 0; r < n; ++r) {
      const int s = all[start + r].seq;
      const float* row = hidden.data() + r * n_embd;
      const int pos = seen[s]++;
      const bool last = seen[s] == static_cast<int>(inputs[begin + s].size());
      std::vector<double>& acc = sums[s];
      if (p.pooling == Pooling::Mean || (p.pooling == Pooling::First && pos == 0) ||
          (p.pooling == Pooling::Last && last))
        for (int j = 0; j < n_embd; ++j) acc[j] += row[j];
    }
  }
  for (size_t i = begin; i < end; ++i) {
    const std::vector<double>& acc = sums[i - begin];
    const double div = p.pooling == Pooling::Mean ? static_cast<double>(inputs[i].size()) : 1.0;
    std::vector<float>& v = out[i];
    v.resize(n_embd);
    for (int j = 0; j < n_embd; ++j) v[j] = static_cast<float>(acc[j] / div);
    if (p.normalize) l2_normalize(v);
  }
}

}  // namespace

std::vector<std::vector<float>> embed(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                      const EmbedParams& params) {
  EmbedParams p = params;
  if (p.n_ctx <= 0) p.n_ctx = model.info().n_ctx_train > 0 ? model.info().n_ctx_train : 4096;
  if (p.n_batch <= 0) p.n_batch = 512;
  if (p.max_seqs <= 0) p.max_seqs = 1;
  const int n_vocab = model.info().n_vocab;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) throw Error("embedding input " + std::to_string(i) + " is empty");
    if (static_cast<int64_t>(inputs[i].size()) > p.n_ctx)
      throw Error("embedding input " + std::to_string(i) + " has " + std::to_string(inputs[i].size()) +
                  " tokens, more than the context of " + std::to_string(p.n_ctx));
    for (int32_t t : inputs[i])
      if (t < 0 || t >= n_vocab)
        throw Error("embedding input " + std::to_string(i) + ": token id " + std::to_string(t) +
                    " is outside the vocabulary (" + std::to_string(n_vocab) + ")");
  }
  std::vector<std::vector<float>> out(inputs.size());
  // Groups of consecutive inputs that fill about one batch: short inputs share a pass; a long one is alone
  // (the KV cache of a group is n_seq x its longest input, so a long input does not pad many short ones).
  size_t begin = 0;
  while (begin < inputs.size()) {
    size_t end = begin + 1, tokens = inputs[begin].size();
    while (end < inputs.size() && static_cast<int>(end - begin) < p.max_seqs &&
           tokens + inputs[end].size() <= static_cast<size_t>(p.n_batch)) {
      tokens += inputs[end].size();
      ++end;
    }
    embed_group(model, inputs, begin, end, p, out);
    begin = end;
  }
  return out;
}

}  // namespace hearth
