#include "core/registry/reference.h"

#include "core/digest/digest.h"

namespace starlight::registry {

namespace {
bool ValidRepoComponent(std::string_view c) {
  // [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
  if (c.empty()) return false;
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(c.front()) || !alnum(c.back())) return false;
  for (char ch : c) {
    if (!alnum(ch) && ch != '.' && ch != '_' && ch != '-') return false;
  }
  return true;
}
bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  for (char ch : t) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-';
    if (!ok) return false;
  }
  return true;
}
}  // namespace

std::string Reference::ToString() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<Reference> ParseReference(std::string_view s) {
  auto bad = [&](std::string why) {
    return Status::InvalidArgument("invalid image reference '" + std::string(s) + "': " + why);
  };
  if (s.empty()) return bad("empty");
  Reference r;
  std::string_view rest = s;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    if (!digest::Digest::Parse(r.digest).ok()) return bad("bad digest");
    rest = rest.substr(0, at);
  }
  size_t slash = rest.find('/');
  std::string_view first = rest.substr(0, slash);
  if (slash != std::string_view::npos &&
      (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
       first == "localhost")) {
    r.registry = std::string(first);
    rest.remove_prefix(slash + 1);
  } else {
    r.registry = "docker.io";
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos) {
    r.tag = std::string(rest.substr(colon + 1));
    if (!ValidTag(r.tag)) return bad("bad tag '" + r.tag + "'");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("no repository");
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    if (!ValidRepoComponent(rest.substr(start, end - start))) {
      return bad("bad repository name (lowercase letters, digits, '.', '_', '-' and '/')");
    }
    start = end + 1;
  }
  r.repository = std::string(rest);
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) {
    r.repository = "library/" + r.repository;
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace starlight::registry
