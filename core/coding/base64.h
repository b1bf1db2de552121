// Standard base64 (RFC 4648, with padding), as Docker's config.json and HTTP basic auth use it.
// Stateless functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status/status.h"

namespace starlight::coding {

std::string Base64Encode(std::string_view data);
// InvalidArgument on malformed input.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace starlight::coding
