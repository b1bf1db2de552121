// Hostile and broken layer inputs shared by the library-level and the CLI tests of the
// converter: each with the Status code the converter must return and a piece of the one-line
// message that must name the entry or the offset.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/status/status.h"

namespace starlight::testing {

struct BadInput {
  std::string name;     // a valid file / test name
  std::string bytes;    // the input layer
  Code code;            // expected Status code
  std::string message;  // expected substring of the message
};

std::vector<BadInput> BadInputs();
// For gtest parameter names in failure messages.
inline void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

}  // namespace starlight::testing
