// The logits rank 0 needs back from the last stage: for each sampled row, either the whole row or only the
// candidates its sampler can draw from (Sampler::candidate_limit and touched_tokens). The last stage sends those
// few values instead of n_vocab floats; rank 0 rebuilds a row with every other logit -inf and samples as from the
// whole row (the same token: the chain ranks with ties broken by id, and the rebuilt row holds everything ranked
// ahead of what the chain keeps).
#pragma once
#include <cstdint>
#include <vector>

#include "hearth/sampler.h"

namespace hearth::pipeline {

// Rank 0: appends a row's request to `spec`: kLogitsAll when the whole row is needed (want_whole_row: for
// log-probabilities, or JSON mode, which may mask any token; or a sampler that may draw any token), else
// {K, n, ids[n]}.
void append_logits_request(const Sampler& sampler, bool want_whole_row, std::vector<int32_t>& spec);

// The last stage: logits [n_rows, n_vocab] and the rows' requests -> the answer's ints and values.
void select_candidates(const float* logits, int n_rows, int n_vocab, const std::vector<int32_t>& spec,
                       std::vector<int32_t>& ints, std::vector<float>& values);

// Rank 0: the answer -> rows [n_rows, n_vocab] (-inf where no value came). Throws hearth::Error when malformed.
void expand_candidates(const std::vector<int32_t>& ints, const std::vector<float>& values, int n_rows, int n_vocab,
                       std::vector<float>& rows);

}  // namespace hearth::pipeline
