#include "runtime/token_stream.h"

#include <algorithm>
#include <cmath>

#include "runtime/logprobs.h"

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

TokenStream::TokenStream(Model& model, const GenerateParams& params, std::span<const int32_t> prompt, OnText on_text,
                         Clock::time_point t0)
    : model_(model), params_(params), sampler_(params.sampling), on_text_(std::move(on_text)), t0_(t0) {
  for (int32_t t : prompt) sampler_.accept(t);
  st_.n_prompt = n_prompt_ = static_cast<int>(prompt.size());
  if (params_.ignore_eos || params_.json)
    for (int32_t t = 0; t < model_.info().n_vocab; ++t)
      if (model_.is_eog(t)) eog_.push_back(t);
  if (params_.json) {
    try {
      sampling::JsonSchema schema = params_.json_schema.empty() ? sampling::JsonSchema::any_object()
                                                                : sampling::JsonSchema::parse(params_.json_schema);
      json_ = std::make_unique<sampling::JsonConstraint>(std::move(schema), model_.token_pieces(), eog_);
    } catch (const std::exception& e) {
      stop(std::string("error: ") + e.what());  // callers check the schema first (check_json_schema)
    }
  }
  if (params_.n_predict == 0) stop("length");
}

void TokenStream::stop(const std::string& reason) {
  if (done_) return;
  done_ = true;
  st_.stop_reason = reason;
}

bool TokenStream::emit() {
  const size_t hold = std::max(stop_candidate(pending_, params_.stop), utf8_incomplete(pending_));
  if (pending_.size() <= hold) return true;
  const bool go_on = on_text_(pending_.substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return go_on;
}

int32_t TokenStream::next(const float* logits, int n_past, int n_ctx) {
  if (done_) return -1;
  const int n_vocab = model_.info().n_vocab;
  work_.assign(logits, logits + n_vocab);
  if (params_.ignore_eos)
    for (int32_t t : eog_) work_[t] = -INFINITY;
  if (json_ && json_->mask(work_.data()) == 0) {
    stop("stop");  // no token can continue the JSON object
    return -1;
  }
  const int32_t tok = sampler_.sample(work_.data(), n_vocab);
  if (json_) json_->accept(tok);
  if (st_.n_gen == 0) {
    st_.ttft_ms = ms_since(t0_);
    t_first_ = Clock::now();
  }
  if (model_.is_eog(tok)) {
    stop("eog");
    return -1;
  }
  sampler_.accept(tok);
  st_.tokens.push_back(tok);
  ++st_.n_gen;
  st_.gen_ms = ms_since(t_first_);
  // Control tokens (<s>, </s>, <|im_end|>) add no text, as in llama.cpp's output: this is where every path
  // (CLI, APIs, streaming, C and Python) turns generated tokens into text.
  pending_ += model_.token_to_piece(tok, /*special=*/false);

  size_t cut = std::string::npos;
  for (const std::string& s : params_.stop)
    if (!s.empty()) cut = std::min(cut, pending_.find(s));
  if (cut != std::string::npos) {
    pending_.resize(cut);
    stop("stop");
    return -1;
  }
  if (on_logprob_ && params_.logprobs >= 0) on_logprob_(token_logprob(logits, n_vocab, tok, params_.logprobs, lp_work_));
  if (!emit()) {
    stop("cancelled");
    return -1;
  }
  if (n_past >= n_ctx) {
    stop("context");
    return -1;
  }
  if (params_.n_predict >= 0 && st_.n_gen >= params_.n_predict) {
    stop("length");
    return -1;
  }
  return tok;
}

GenerateStats TokenStream::finish() {
  if (!finished_) {
    finished_ = true;
    if (st_.stop_reason.empty()) st_.stop_reason = "length";
    if (!pending_.empty() && st_.stop_reason != "cancelled") on_text_(pending_);
    pending_.clear();
  }
  return st_;
}

}  // namespace hearth
