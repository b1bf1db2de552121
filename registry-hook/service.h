// The registry hook as a service: accepts notification envelopes (format-spec/registry-hook.md),
// stores the events worth acting on in the directory DB's durable queue before acknowledging
// them, and ingests them on worker threads with retries and backoff.
//
// Ordering: events of one repository are processed one at a time, in the order they were
// accepted, so a tag never ends on an older push; different repositories proceed in parallel.
// Failures: registry trouble (Unavailable, IoError, auth) keeps the event queued and retries
// it with exponential backoff, forever (the event is never lost, also across restarts);
// permanent failures (manifest gone, malformed documents) drop the event with an error in the
// log and the failure counter. Each event is acknowledged in the same atomic write as its
// effects. Thread-safe; HTTP-agnostic (proxy/server.cc adapts it to httplib).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dirdb/dirdb.h"
#include "core/registry/client.h"
#include "core/status/status.h"
#include "registry-hook/events.h"
#include "registry-hook/ingest.h"

namespace starlight::hook {

struct ServiceOptions {
  std::string webhook_secret;  // REQUIRES: not empty
  int workers = 2;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  IngestOptions ingest;
  // Convert-on-push: when a non-seekable image is pushed under tag T (T not ending in the
  // suffix), `convert(repository, T, T + suffix)` writes a seekable copy; its own push event is
  // then ingested normally. Empty suffix: off.
  std::string convert_suffix;
  std::function<Status(const std::string& repository, const std::string& from_tag,
                       const std::string& to_tag)>
      convert;
};

struct Reply {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ManualResult {
  std::string repository, reference;
  Status status;
  IngestReport report;
};

class HookService {
 public:
  // `db` and `client` must outlive the service.
  HookService(dirdb::DirectoryDb* db, registry::RegistryClient* client, ServiceOptions options);
  ~HookService();
  HookService(const HookService&) = delete;
  HookService& operator=(const HookService&) = delete;

  // Loads the events left in the queue (by a previous run) and starts the workers.
  Status Start();
  // Stops taking work, waits for running ingestions to finish. Queued events stay queued.
  void Stop();

  // POST /v1/registry/events.
  Reply HandleEvents(std::string_view authorization, std::string_view content_type,
                     std::string_view body);

  // Manual ingestion (`starlight-proxy ingest` through the admin API): queues the references
  // durably like events and waits until each has been processed once or `timeout` passes. A
  // transient failure is reported and the event stays queued for retries.
  std::vector<ManualResult> IngestAndWait(
      const std::vector<std::pair<std::string, std::string>>& refs,
      std::chrono::milliseconds timeout);

  // Prometheus text exposition of the hook's counters.
  std::string Metrics();
  size_t queue_depth();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True if `authorization` is "Bearer <secret>" (constant-time comparison).
bool CheckBearer(std::string_view authorization, std::string_view secret);

}  // namespace starlight::hook
