// Errors the library reports: one line naming the problem, with context. The library never exits.
#pragma once
#include <stdexcept>
#include <string>

namespace hearth {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace hearth
