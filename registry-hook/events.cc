#include "registry-hook/events.h"

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

// Only the media-type constants (inline constexpr) are used: no link dependency on sl_registry.
#include "core/registry/client.h"

namespace starlight::hook {
namespace {

using nlohmann::json;

// Nesting depth of a real envelope is 4 ({"events":[{"target":{...}}]}); anything deeper than
// this is hostile and is refused before the JSON parser sees it.
constexpr int kMaxDepth = 16;
constexpr size_t kMaxRepositoryLength = 255;  // distribution's NameTotalLengthMax
constexpr size_t kMaxTagLength = 128;
constexpr size_t kMaxIdLength = 256;
constexpr size_t kMaxTimestampLength = 64;
constexpr size_t kMaxActionLength = 64;
constexpr size_t kMaxMediaTypeLength = 255;
constexpr size_t kMaxHostLength = 261;  // 253 (DNS name) + ":" + port, or a bracketed IPv6

constexpr std::string_view kSha256Prefix = "sha256:";
constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Printable ASCII without spaces: ids, timestamps and actions end up in logs and the queue.
bool IsToken(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// "sha256:" + 64 lowercase hex digits.
bool IsSha256Digest(std::string_view s) {
  if (s.size() != kSha256Prefix.size() + 64 || s.substr(0, kSha256Prefix.size()) != kSha256Prefix) {
    return false;
  }
  s.remove_prefix(kSha256Prefix.size());
  return std::all_of(s.begin(), s.end(), IsLowerHex);
}

// A digest docker-registry can put in an event: sha256 (manifests are always sha256), or the
// sha384/sha512 that go-digest also accepts for blobs. Refusing those would make the registry
// resend the envelope forever, so they parse, and Classify ignores them.
bool IsValidDigest(std::string_view s) {
  if (IsSha256Digest(s)) return true;
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view alg = s.substr(0, colon), hex = s.substr(colon + 1);
  if (!((alg == "sha384" && hex.size() == 96) || (alg == "sha512" && hex.size() == 128))) {
    return false;
  }
  return std::all_of(hex.begin(), hex.end(), IsLowerHex);
}

// Docker reference grammar, one path component:
//   [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
bool IsValidPathComponent(std::string_view c) {
  size_t i = 0;
  const size_t n = c.size();
  if (n == 0 || !IsLowerAlnum(c[0])) return false;
  while (i < n) {
    while (i < n && IsLowerAlnum(c[i])) ++i;
    if (i == n) return true;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < n && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < n && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (i == n || !IsLowerAlnum(c[i])) return false;  // a separator must be followed by alnum
  }
  return true;
}

// RFC 6838 restricted-name characters.
bool IsMediaTypeNameChar(char c) {
  return IsAlnum(c) || c == '!' || c == '#' || c == '$' || c == '&' || c == '-' || c == '^' ||
         c == '_' || c == '.' || c == '+';
}

// type "/" subtype, optionally followed by parameters (";" then printable ASCII).
bool IsValidMediaType(std::string_view s) {
  if (s.empty() || s.size() > kMaxMediaTypeLength) return false;
  size_t semi = s.find(';');
  std::string_view essence = Trim(s.substr(0, semi));
  size_t slash = essence.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == essence.size()) return false;
  for (size_t i = 0; i < essence.size(); ++i) {
    if (i != slash && !IsMediaTypeNameChar(essence[i])) return false;
  }
  if (semi == std::string_view::npos) return essence.size() == s.size();
  return std::all_of(s.begin() + semi, s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// The media type without parameters, for comparisons.
std::string_view Essence(std::string_view media_type) {
  return Trim(media_type.substr(0, media_type.find(';')));
}

// host, host:port, [ipv6] or [ipv6]:port; host is letters, digits, ".", "-" and "_".
bool IsValidHost(std::string_view s) {
  if (s.empty() || s.size() > kMaxHostLength) return false;
  std::string_view port;
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    std::string_view inner = s.substr(1, close - 1);
    if (!std::all_of(inner.begin(), inner.end(),
                     [](char c) { return IsLowerHex(Lower(c)) || c == ':' || c == '.'; })) {
      return false;
    }
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
  } else {
    size_t colon = s.find(':');
    std::string_view host = s.substr(0, colon);
    if (host.empty() || !IsAlnum(host.front())) return false;
    if (!std::all_of(host.begin(), host.end(),
                     [](char c) { return IsAlnum(c) || c == '.' || c == '-' || c == '_'; })) {
      return false;
    }
    if (colon == std::string_view::npos) return true;
    port = s.substr(colon + 1);
  }
  return !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), IsDigit);
}

// Maximum nesting of objects and arrays, outside strings. Linear, no recursion.
int NestingDepth(std::string_view body) {
  int depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max = std::max(max, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max;
}

Status Bad(const std::string& where, std::string_view what) {
  return Status::InvalidArgument(where + ": " + std::string(what));
}

// Reads an optional string member; absent leaves `out` untouched. Present means: a string that
// `valid` accepts.
template <typename Pred>
Status OptionalString(const json& obj, const char* key, const std::string& where, Pred valid,
                      std::string_view expected, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  if (!it->is_string()) return Bad(where + "." + key, "not a string");
  const std::string& v = it->get_ref<const std::string&>();
  if (!valid(v)) return Bad(where + "." + key, "invalid " + std::string(expected));
  *out = v;
  return Status::Ok();
}

template <typename Pred>
Status RequiredString(const json& obj, const char* key, const std::string& where, Pred valid,
                      std::string_view expected, std::string* out) {
  if (!obj.contains(key)) return Bad(where + "." + key, "missing");
  return OptionalString(obj, key, where, valid, expected, out);
}

Status ParseEvent(const json& j, size_t index, Event* e) {
  const std::string where = "events[" + std::to_string(index) + "]";
  if (!j.is_object()) return Bad(where, "not an object");
  auto token = [](size_t max) { return [max](std::string_view s) { return IsToken(s, max); }; };
  SL_RETURN_IF_ERROR(RequiredString(j, "id", where, token(kMaxIdLength), "id", &e->id));
  SL_RETURN_IF_ERROR(OptionalString(j, "timestamp", where, token(kMaxTimestampLength), "timestamp",
                                    &e->timestamp));
  SL_RETURN_IF_ERROR(
      RequiredString(j, "action", where, token(kMaxActionLength), "action", &e->action));

  auto target = j.find("target");
  if (target == j.end()) return Bad(where + ".target", "missing");
  if (!target->is_object()) return Bad(where + ".target", "not an object");
  const std::string tw = where + ".target";
  SL_RETURN_IF_ERROR(RequiredString(*target, "repository", tw, IsValidRepository, "repository name",
                                    &e->repository));
  SL_RETURN_IF_ERROR(
      OptionalString(*target, "mediaType", tw, IsValidMediaType, "media type", &e->media_type));
  SL_RETURN_IF_ERROR(OptionalString(*target, "digest", tw, IsValidDigest,
                                    "digest (want sha256: and 64 lowercase hex digits, or "
                                    "sha384:/sha512: and 96/128)",
                                    &e->digest));
  SL_RETURN_IF_ERROR(OptionalString(*target, "tag", tw, IsValidTag, "tag", &e->tag));
  if (auto size = target->find("size"); size != target->end()) {
    if (size->is_number_unsigned()) {
      e->size = size->get<uint64_t>();
    } else if (size->is_number_integer() && size->get<int64_t>() >= 0) {
      e->size = static_cast<uint64_t>(size->get<int64_t>());
    } else {
      return Bad(tw + ".size", "not a non-negative integer");
    }
  }

  // request.host is the Host header of the client's request, which the client chooses: a value
  // that is not a plain host[:port] is dropped, not refused (a refused envelope would be resent
  // by the registry forever, blocking its later events).
  if (auto request = j.find("request"); request != j.end()) {
    if (!request->is_object()) return Bad(where + ".request", "not an object");
    SL_RETURN_IF_ERROR(OptionalString(
        *request, "host", where + ".request", [](std::string_view) { return true; }, "host",
        &e->host));
    if (!IsValidHost(e->host)) e->host.clear();
  }

  // Known actions must carry what acting on them needs.
  if ((e->action == "push" || e->action == "pull" || e->action == "mount") && e->digest.empty()) {
    return Bad(tw + ".digest", "missing (required for " + e->action + ")");
  }
  if (e->action == "delete" && e->digest.empty() && e->tag.empty()) {
    return Bad(tw, "delete without digest or tag");
  }
  return Status::Ok();
}

const char* const kQueueKeys[] = {"action",     "digest", "host", "id",        "media_type",
                                  "repository", "size",   "tag",  "timestamp", "v"};

json ToQueueJson(const Event& e) {
  json j = json::object();
  j["v"] = 1;
  j["id"] = e.id;
  j["timestamp"] = e.timestamp;
  j["action"] = e.action;
  j["repository"] = e.repository;
  j["media_type"] = e.media_type;
  j["digest"] = e.digest;
  j["tag"] = e.tag;
  j["size"] = e.size;
  j["host"] = e.host;
  return j;
}

std::string Dump(const json& j) {
  // Replace rather than throw on invalid UTF-8 (a parsed event never holds any).
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status Corrupt(std::string_view what) {
  return Status::Corruption("queued event: " + std::string(what));
}

// Decodes one string field of a queued event; empty is allowed only when `may_be_empty`.
template <typename Pred>
Status QueuedString(const json& j, const char* key, bool may_be_empty, Pred valid,
                    std::string* out) {
  const json& v = j.at(key);
  if (!v.is_string()) return Corrupt(std::string(key) + " is not a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() ? !may_be_empty : !valid(s)) return Corrupt("invalid " + std::string(key));
  *out = s;
  return Status::Ok();
}

Result<Event> DecodeQueuedEventImpl(std::string_view body) {
  if (body.size() > 64 * 1024) return Corrupt("too large");
  if (NestingDepth(body) > 1) return Corrupt("not a flat JSON object");
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt("not JSON");
  if (!j.is_object()) return Corrupt("not an object");
  if (j.size() != std::size(kQueueKeys)) return Corrupt("wrong key set");
  for (const char* key : kQueueKeys) {
    if (!j.contains(key)) return Corrupt(std::string("missing ") + key);
  }
  const json& v = j.at("v");
  if (!v.is_number_unsigned() || v.get<uint64_t>() != 1) return Corrupt("unsupported version");
  Event e;
  auto token = [](size_t max) { return [max](std::string_view s) { return IsToken(s, max); }; };
  SL_RETURN_IF_ERROR(QueuedString(j, "id", false, token(kMaxIdLength), &e.id));
  SL_RETURN_IF_ERROR(QueuedString(j, "timestamp", true, token(kMaxTimestampLength), &e.timestamp));
  SL_RETURN_IF_ERROR(QueuedString(j, "action", false, token(kMaxActionLength), &e.action));
  SL_RETURN_IF_ERROR(QueuedString(j, "repository", false, IsValidRepository, &e.repository));
  SL_RETURN_IF_ERROR(QueuedString(j, "media_type", true, IsValidMediaType, &e.media_type));
  SL_RETURN_IF_ERROR(QueuedString(j, "digest", true, IsValidDigest, &e.digest));
  SL_RETURN_IF_ERROR(QueuedString(j, "tag", true, IsValidTag, &e.tag));
  SL_RETURN_IF_ERROR(QueuedString(j, "host", true, IsValidHost, &e.host));
  const json& size = j.at("size");
  if (!size.is_number_unsigned()) return Corrupt("size is not an unsigned integer");
  e.size = size.get<uint64_t>();
  // Byte-exact: whitespace, key order, escapes or number spellings other than Encode's are
  // rejected, so a queue record has exactly one form.
  if (Dump(ToQueueJson(e)) != body) return Corrupt("not in normalised form");
  return e;
}

}  // namespace

// Repository name: path components separated by "/", at most 255 characters. Rules out "..",
// leading or trailing or doubled slashes, upper case, "%", "?", "#" and control characters.
bool IsValidRepository(std::string_view s) {
  if (s.empty() || s.size() > kMaxRepositoryLength) return false;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    std::string_view comp =
        s.substr(start, slash == std::string_view::npos ? s.npos : slash - start);
    if (!IsValidPathComponent(comp)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
bool IsValidTag(std::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  if (!IsAlnum(s[0]) && s[0] != '_') return false;
  return std::all_of(s.begin() + 1, s.end(),
                     [](char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool IsEnvelopeContentType(std::string_view content_type) {
  size_t semi = content_type.find(';');
  std::string_view essence = Trim(content_type.substr(0, semi));
  if (!EqualsIgnoreCase(essence, kEnvelopeMediaType) &&
      !EqualsIgnoreCase(essence, "application/json")) {
    return false;
  }
  // Parameters: only a charset other than UTF-8 is refused.
  while (semi != std::string_view::npos) {
    content_type.remove_prefix(semi + 1);
    semi = content_type.find(';');
    std::string_view param = Trim(content_type.substr(0, semi));
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = Trim(param.substr(0, eq));
    std::string_view value = Trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (EqualsIgnoreCase(name, "charset") && !EqualsIgnoreCase(value, "utf-8") &&
        !EqualsIgnoreCase(value, "utf8")) {
      return false;
    }
  }
  return true;
}

Result<std::vector<Event>> ParseEnvelope(std::string_view body, std::string_view content_type) {
  if (!IsEnvelopeContentType(content_type)) {
    std::string shown(content_type.substr(0, 100));
    for (char& c : shown) {
      if (c < 0x20 || c >= 0x7f) c = '?';
    }
    return Status::InvalidArgument("unsupported content type \"" + shown + "\" (want " +
                                   std::string(kEnvelopeMediaType) + " or application/json)");
  }
  if (body.size() > kMaxEnvelopeBytes) {
    return Status::InvalidArgument("envelope of " + std::to_string(body.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxEnvelopeBytes));
  }
  if (NestingDepth(body) > kMaxDepth) {
    return Status::InvalidArgument("envelope nested deeper than " + std::to_string(kMaxDepth));
  }
  json root;
  try {
    root = json::parse(body.begin(), body.end());
  } catch (const json::exception& ex) {
    return Status::InvalidArgument(std::string("envelope is not JSON: ") + ex.what());
  }
  if (!root.is_object()) return Status::InvalidArgument("envelope is not a JSON object");
  auto events = root.find("events");
  if (events == root.end()) return Status::InvalidArgument("events: missing");
  if (!events->is_array()) return Status::InvalidArgument("events: not an array");
  if (events->size() > kMaxEnvelopeEvents) {
    return Status::InvalidArgument("events: " + std::to_string(events->size()) +
                                   " events exceed the limit of " +
                                   std::to_string(kMaxEnvelopeEvents));
  }
  std::vector<Event> out;
  out.reserve(events->size());
  try {
    for (size_t i = 0; i < events->size(); ++i) {
      Event e;
      SL_RETURN_IF_ERROR(ParseEvent((*events)[i], i, &e));
      out.push_back(std::move(e));
    }
  } catch (const json::exception& ex) {  // not expected: every access is type-checked first
    return Status::InvalidArgument(std::string("envelope: ") + ex.what());
  }
  return out;
}

Classification Classify(const Event& e) {
  if (e.action == "push") {
    if (e.media_type.empty()) return {Disposition::kIgnore, "push without media type"};
    std::string_view mt = Essence(e.media_type);
    const bool manifest = mt == registry::kOciManifest || mt == registry::kDockerManifest;
    const bool index = mt == registry::kOciIndex || mt == registry::kDockerManifestList;
    if ((manifest || index) && !IsSha256Digest(e.digest)) {
      return {Disposition::kIgnore, "non-sha256 digest"};
    }
    if (manifest) return {Disposition::kIngest, "manifest push"};
    if (index) return {Disposition::kIngest, "index push"};
    if (mt == "application/octet-stream") return {Disposition::kIgnore, "blob push"};
    if (mt == kDockerSchema1 || mt == kDockerSchema1Signed) {
      return {Disposition::kIgnore, "schema1 manifest push (not supported)"};
    }
    return {Disposition::kIgnore, "push of other media type"};
  }
  if (e.action == "delete") {
    if (!e.tag.empty()) return {Disposition::kUntag, "tag delete"};
    if (IsSha256Digest(e.digest)) return {Disposition::kUntag, "manifest or blob delete"};
    if (!e.digest.empty()) return {Disposition::kIgnore, "non-sha256 digest"};
    return {Disposition::kIgnore, "delete without digest or tag"};
  }
  if (e.action == "pull") return {Disposition::kIgnore, "pull"};
  if (e.action == "mount") return {Disposition::kIgnore, "blob mount"};
  return {Disposition::kIgnore, "unknown action"};
}

std::string EncodeQueuedEvent(const Event& e) { return Dump(ToQueueJson(e)); }

Result<Event> DecodeQueuedEvent(std::string_view body) {
  try {
    return DecodeQueuedEventImpl(body);
  } catch (const json::exception& ex) {  // not expected: every access is type-checked first
    return Corrupt(ex.what());
  }
}

}  // namespace starlight::hook
