// Reading the normative test vectors of format-spec/vectors/ (SL_VECTORS_DIR) in the spec
// tests: whole files (a missing one fails the test that asked) and hex dumps. Not thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace starlight::testing {

// The bytes of format-spec/vectors/<spec>/<name>; "" and a test failure when unreadable.
std::string ReadVectorFile(const std::string& spec, const std::string& name);
// Hex digits to bytes; trailing spaces and newlines are ignored.
std::string Unhex(std::string_view hex);
std::string Hex(std::string_view bytes);

}  // namespace starlight::testing
