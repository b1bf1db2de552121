#include "tests/format-spec/vector_files.h"

#include <gtest/gtest.h>

#include "core/io/writer.h"

namespace starlight::testing {

std::string ReadVectorFile(const std::string& spec, const std::string& name) {
  std::string path = std::string(SL_VECTORS_DIR) + "/" + spec + "/" + name;
  auto r = io::ReadFileToString(path);
  EXPECT_TRUE(r.ok()) << path << ": " << r.status().ToString();
  return r.ok() ? *r : std::string();
}

std::string Unhex(std::string_view hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.remove_suffix(1);
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(k[c >> 4]);
    out.push_back(k[c & 15]);
  }
  return out;
}

}  // namespace starlight::testing
