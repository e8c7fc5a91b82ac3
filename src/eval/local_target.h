// A target that is a model loaded in this process: hearth's own generate() on a Session.
#pragma once
#include <memory>
#include <string>

#include "eval/target.h"
#include "hearth/model.h"

namespace hearth::eval {

// Loads the model (throws hearth::Error when it cannot); n_ctx 0: the model's context, at most 4096.
std::unique_ptr<Target> make_local_target(const std::string& model_path, const LoadParams& params, int n_ctx = 0);

}  // namespace hearth::eval
