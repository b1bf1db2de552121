// docker-registry notification envelopes (format-spec/registry-hook.md): parsing, what the
// hook does with each event, and the normalised form kept in the durable queue.
//
// Parsing is strict about structure (a malformed envelope is InvalidArgument naming the bad
// field and nothing of it is used) and lenient about unknown fields and actions. Pure
// functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status/status.h"

namespace starlight::hook {

inline constexpr std::string_view kEnvelopeMediaType =
    "application/vnd.docker.distribution.events.v1+json";

// Bounds on one envelope. The HTTP handler answers 413 for a body over kMaxEnvelopeBytes and
// 415 when !IsEnvelopeContentType(), before calling ParseEnvelope (which checks both again).
inline constexpr size_t kMaxEnvelopeBytes = size_t{4} << 20;
inline constexpr size_t kMaxEnvelopeEvents = 10000;
bool IsEnvelopeContentType(std::string_view content_type);

struct Event {
  std::string id;          // the registry's event id
  std::string timestamp;   // as sent (RFC 3339)
  std::string action;      // "push", "pull", "delete", "mount", ...
  std::string repository;  // target.repository
  std::string media_type;  // target.mediaType (may be empty, e.g. for deletes)
  std::string digest;      // target.digest ("sha256:..."; may be empty for tag deletes)
  std::string tag;         // target.tag (may be empty)
  uint64_t size = 0;       // target.size
  std::string host;        // request.host: the registry host the client talked to
  bool operator==(const Event&) const = default;
};

// The names the hook accepts (also for manual references): a repository is "/"-separated
// lowercase components (Docker grammar, at most 255 bytes); a tag is
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool IsValidRepository(std::string_view s);
bool IsValidTag(std::string_view s);

// `content_type` is the request's Content-Type (parameters allowed); the envelope media type
// and application/json are accepted.
Result<std::vector<Event>> ParseEnvelope(std::string_view body, std::string_view content_type);

enum class Disposition {
  kIngest,  // a manifest or index was pushed (by tag or by digest): ingest it
  kUntag,   // a manifest or tag was deleted: drop the tag(s)
  kIgnore,  // blob pushes, pulls, mounts, unknown actions or media types
};
struct Classification {
  Disposition disposition = Disposition::kIgnore;
  std::string why;  // short reason for logs, e.g. "pull", "blob push"
};
Classification Classify(const Event& e);

// Normalised JSON for the queue, and back: one line, no trailing newline, fixed key set with
// "v":1. Decode rejects (Corruption) anything Encode would not produce for a parsed event.
std::string EncodeQueuedEvent(const Event& e);
Result<Event> DecodeQueuedEvent(std::string_view body);

}  // namespace starlight::hook
