#include "registry-hook/service.h"

#include <openssl/crypto.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/digest/digest.h"
#include "core/log/log.h"
#include "registry-hook/events.h"

namespace starlight::hook {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string ErrorBody(std::string_view code, std::string_view message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

// Registry trouble and auth problems are worth retrying; everything else is a fact about the
// event or the image that a retry will not change.
bool Transient(const Status& s) {
  switch (s.code()) {
    case Code::kUnavailable:
    case Code::kIoError:
    case Code::kUnauthenticated:
    case Code::kPermissionDenied:
    case Code::kInternal:
      return true;
    default:
      return false;
  }
}

std::string Describe(const Event& e) {
  std::string s = e.action + " " + e.repository;
  if (!e.tag.empty()) s += ":" + e.tag;
  if (!e.digest.empty()) s += "@" + e.digest;
  return s;
}

constexpr int kTagRetries = 4;
// Event id of manual ingestions (IngestAndWait): no registry race to wait for.
constexpr char kManualEventId[] = "manual";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  IngestReport report;

  void Finish(Status s, IngestReport r) {
    std::lock_guard<std::mutex> lock(mu);
    if (done) return;
    done = true;
    status = std::move(s);
    report = std::move(r);
    cv.notify_all();
  }
};

struct Item {
  uint64_t seq = 0;
  Event event;
  int attempts = 0;
  Clock::time_point not_before{};
  bool running = false;
  std::shared_ptr<Waiter> waiter;
};

}  // namespace

bool CheckBearer(std::string_view authorization, std::string_view secret) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (secret.empty() || authorization.substr(0, kPrefix.size()) != kPrefix) return false;
  // Comparing digests keeps the time independent of the secret's length and content.
  digest::Digest given = digest::Sha256Of(authorization.substr(kPrefix.size()));
  digest::Digest want = digest::Sha256Of(secret);
  return CRYPTO_memcmp(given.bytes.data(), want.bytes.data(), want.bytes.size()) == 0;
}

struct HookService::Impl {
  dirdb::DirectoryDb* db;
  registry::RegistryClient* client;
  ServiceOptions options;
  Ingester ingester;

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Item> pending;  // GUARDED_BY(mu), by seq
  std::set<std::string> busy;        // GUARDED_BY(mu): repositories being processed
  bool stopping = false;             // GUARDED_BY(mu)
  std::vector<std::thread> threads;

  // Counters for /metrics.
  std::atomic<uint64_t> envelopes_ok{0}, envelopes_unauthorized{0}, envelopes_malformed{0},
      envelopes_error{0};
  std::atomic<uint64_t> events_queued{0}, events_ignored{0};
  std::atomic<uint64_t> ingest_ok{0}, ingest_retry{0}, ingest_failed{0};
  std::atomic<uint64_t> layers_indexed{0}, layers_not_seekable{0}, bytes_fetched{0};
  std::atomic<uint64_t> conversions_ok{0}, conversions_failed{0};

  Impl(dirdb::DirectoryDb* d, registry::RegistryClient* c, ServiceOptions o)
      : db(d), client(c), options(std::move(o)), ingester(c, d, options.ingest) {}

  // Queues events durably, then makes them visible to the workers.
  Result<std::vector<uint64_t>> Queue(const std::vector<Event>& events,
                                      const std::vector<std::shared_ptr<Waiter>>& waiters) {
    std::vector<std::string> bodies;
    for (const auto& e : events) bodies.push_back(EncodeQueuedEvent(e));
    SL_ASSIGN_OR_RETURN(std::vector<uint64_t> seqs, db->Enqueue(bodies));
    {
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < events.size(); ++i) {
        Item it;
        it.seq = seqs[i];
        it.event = events[i];
        if (i < waiters.size()) it.waiter = waiters[i];
        pending.emplace(it.seq, std::move(it));
      }
    }
    events_queued += events.size();
    cv.notify_all();
    return seqs;
  }

  // The first item in seq order whose repository is neither busy nor waiting behind an
  // earlier event, and whose backoff has passed. REQUIRES: mu held.
  Item* Pick(Clock::time_point now, Clock::time_point* wake) {
    std::set<std::string_view> blocked;
    for (auto& [seq, it] : pending) {
      const std::string& repo = it.event.repository;
      if (it.running || busy.count(repo) || blocked.count(repo)) {
        blocked.insert(repo);
        continue;
      }
      if (it.not_before > now) {
        blocked.insert(repo);
        *wake = std::min(*wake, it.not_before);
        continue;
      }
      return &it;
    }
    return nullptr;
  }

  void WorkerLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      auto wake = Clock::time_point::max();
      Item* it = Pick(Clock::now(), &wake);
      if (it == nullptr) {
        if (wake == Clock::time_point::max())
          cv.wait(lock);
        else
          cv.wait_until(lock, wake);
        continue;
      }
      it->running = true;
      busy.insert(it->event.repository);
      Item work = *it;  // a copy: the entry may be updated or erased while we work unlocked
      lock.unlock();
      IngestReport report;
      Status s = Process(work, &report);
      lock.lock();
      busy.erase(work.event.repository);
      auto found = pending.find(work.seq);
      if (s.ok() || !Transient(s)) {
        if (found != pending.end()) pending.erase(found);
      } else if (found != pending.end()) {
        Item& again = found->second;
        again.running = false;
        ++again.attempts;
        auto backoff = options.initial_backoff * (1LL << std::min(again.attempts - 1, 20));
        if (backoff > options.max_backoff) backoff = options.max_backoff;
        again.not_before = Clock::now() + backoff;
        log::Warn("hook: " + Describe(work.event) + ": attempt " + std::to_string(again.attempts) +
                  " failed, retrying in " + std::to_string(backoff.count() / 1000.0).substr(0, 5) +
                  " s: " + s.ToString());
      }
      if (work.waiter) work.waiter->Finish(s, report);
      cv.notify_all();
    }
  }

  // Ingests or untags one event and acknowledges it in the same commit.
  Status Process(const Item& item, IngestReport* report) {
    const Event& e = item.event;
    dirdb::WriteBatch batch;
    Status s = Apply(e, item.attempts, &batch, report);
    if (!s.ok()) {
      if (Transient(s)) {
        ++ingest_retry;
        return s;
      }
      ++ingest_failed;
      log::Error("hook: " + Describe(e) + ": giving up: " + s.ToString());
      dirdb::WriteBatch ack;
      ack.DeleteEvent(item.seq);
      Status c = db->Commit(ack);
      if (!c.ok())
        log::Error("hook: acknowledging event " + std::to_string(item.seq) + ": " + c.ToString());
      return s;
    }
    bool convert = NeedsConversion(e, *report);
    if (!convert) batch.DeleteEvent(item.seq);
    Status c = db->Commit(batch);
    if (!c.ok()) {
      ++ingest_retry;
      return c.WithContext("committing");
    }
    ++ingest_ok;
    layers_indexed += report->layers_new;
    layers_not_seekable += report->layers_not_seekable;
    bytes_fetched += report->bytes_fetched;
    if (!report->repository.empty()) log::Info("hook: ingested " + DescribeIngestReport(*report));
    if (!convert) return Status::Ok();

    // Convert-on-push: the event stays queued until the seekable copy is written, so a crash
    // during the conversion repeats it.
    std::string to = e.tag + options.convert_suffix;
    log::Info("hook: " + e.repository + ":" + e.tag + " is not seekable; converting to " +
              e.repository + ":" + to);
    Status cs = options.convert(e.repository, e.tag, to);
    if (!cs.ok() && Transient(cs)) return cs.WithContext("converting");
    if (cs.ok()) {
      ++conversions_ok;
      log::Info("hook: converted " + e.repository + ":" + e.tag + " -> " + e.repository + ":" + to);
    } else {
      ++conversions_failed;
      log::Error("hook: converting " + e.repository + ":" + e.tag + ": " + cs.ToString());
    }
    dirdb::WriteBatch ack;
    ack.DeleteEvent(item.seq);
    return db->Commit(ack);
  }

  bool NeedsConversion(const Event& e, const IngestReport& r) {
    if (options.convert_suffix.empty() || !options.convert || e.tag.empty() || r.tag != e.tag ||
        EndsWith(e.tag, options.convert_suffix) || r.repository.empty()) {
      return false;
    }
    return r.images_not_seekable > 0 || !ImageSeekable(r.digest, r.is_index);
  }

  // From the DB: is every platform image of `d` seekable? (Known images report no new layers.)
  bool ImageSeekable(const digest::Digest& d, bool is_index) {
    std::vector<digest::Digest> images;
    if (is_index) {
      auto idx = db->GetIndex(d);
      if (!idx.ok() || !*idx) return true;
      for (const auto& m : (*idx)->manifests) images.push_back(m.digest);
    } else {
      images.push_back(d);
    }
    for (const auto& i : images) {
      auto img = db->GetImage(i);
      if (img.ok() && *img && !(*img)->seekable) return false;
    }
    return true;
  }

  // `attempts`: earlier failed attempts of this event.
  Status Apply(const Event& e, int attempts, dirdb::WriteBatch* batch, IngestReport* report) {
    log::Debug("hook: applying " + Describe(e) + " tag=[" + e.tag + "]");
    if (e.action == "delete") {
      SL_ASSIGN_OR_RETURN(auto removed, ingester.Untag(e.repository, e.tag, e.digest, batch));
      for (const auto& t : removed) log::Info("hook: untagged " + e.repository + ":" + t);
      if (removed.empty()) log::Info("hook: " + Describe(e) + ": no tag to remove");
      return Status::Ok();
    }
    if (e.tag.empty()) {
      SL_ASSIGN_OR_RETURN(*report, ingester.Ingest(e.repository, e.digest, batch));
      return Status::Ok();
    }
    // Each attempt writes into a fresh batch, so a failed one leaves nothing behind.
    auto attempt = [&](dirdb::WriteBatch* b) { return ingester.Ingest(e.repository, e.tag, b); };
    dirdb::WriteBatch tagged;
    auto r = attempt(&tagged);
    // docker-registry announces a manifest push before it links the tag: right after the
    // event the tag may not be readable for a few milliseconds. Poll briefly here, then leave
    // it to the queue's retries before believing the tag gone.
    for (int i = 0; i < 20 && !r.ok() && r.status().code() == Code::kNotFound && attempts == 0 &&
                    e.id != kManualEventId;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      tagged = dirdb::WriteBatch();
      r = attempt(&tagged);
    }
    if (r.ok()) {
      *batch = std::move(tagged);  // REQUIRES (Process): `batch` was empty
      *report = std::move(*r);
      if (!e.digest.empty() && e.digest != report->digest.ToString()) {
        // The tag moved on since the event; the pushed manifest is still worth knowing.
        auto old = ingester.Ingest(e.repository, e.digest, batch);
        if (!old.ok() && old.status().code() != Code::kNotFound) return old.status();
      }
      return Status::Ok();
    }
    if (r.status().code() != Code::kNotFound) return r.status();
    if (attempts < kTagRetries && e.id != kManualEventId)
      return Status::Unavailable("tag not visible in the registry yet");
    log::Info("hook: " + Describe(e) + ": the registry no longer has the tag (" +
              r.status().ToString() + ")");
    // The tag is gone from the registry: forget it, keep the pushed manifest by digest.
    SL_ASSIGN_OR_RETURN(auto removed, ingester.Untag(e.repository, e.tag, "", batch));
    (void)removed;
    if (e.digest.empty()) return r.status();
    SL_ASSIGN_OR_RETURN(*report, ingester.Ingest(e.repository, e.digest, batch));
    report->tag_removed = true;
    return Status::Ok();
  }
};

HookService::HookService(dirdb::DirectoryDb* db, registry::RegistryClient* client,
                         ServiceOptions options)
    : impl_(std::make_unique<Impl>(db, client, std::move(options))) {}

HookService::~HookService() { Stop(); }

Status HookService::Start() {
  if (impl_->options.webhook_secret.empty())
    return Status::InvalidArgument("the webhook secret is empty");
  size_t loaded = 0, dropped = 0;
  std::vector<uint64_t> bad;
  SL_RETURN_IF_ERROR(impl_->db->ListEvents([&](const dirdb::QueuedEvent& q) {
    auto e = DecodeQueuedEvent(q.body);
    if (!e.ok()) {
      log::Error("hook: queued event " + std::to_string(q.seq) +
                 " is unreadable, dropping it: " + e.status().ToString());
      bad.push_back(q.seq);
      return true;
    }
    Item it;
    it.seq = q.seq;
    it.event = std::move(*e);
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->pending.emplace(it.seq, std::move(it));
    ++loaded;
    return true;
  }));
  if (!bad.empty()) {
    dirdb::WriteBatch b;
    for (uint64_t s : bad) b.DeleteEvent(s);
    SL_RETURN_IF_ERROR(impl_->db->Commit(b));
    dropped = bad.size();
  }
  if (loaded || dropped) {
    log::Info("hook: resuming " + std::to_string(loaded) +
              " queued event(s) from the previous run" +
              (dropped ? ", dropped " + std::to_string(dropped) + " unreadable" : ""));
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = false;
  }
  for (int i = 0; i < std::max(1, impl_->options.workers); ++i) {
    impl_->threads.emplace_back([this] { impl_->WorkerLoop(); });
  }
  return Status::Ok();
}

void HookService::Stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

Reply HookService::HandleEvents(std::string_view authorization, std::string_view content_type,
                                std::string_view body) {
  Reply r;
  if (!CheckBearer(authorization, impl_->options.webhook_secret)) {
    ++impl_->envelopes_unauthorized;
    log::Warn("hook: refused an envelope with a missing or wrong secret");
    r.status = 401;
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"starlight-proxy\"");
    r.body = ErrorBody("UNAUTHORIZED", "missing or wrong webhook secret");
    return r;
  }
  if (body.size() > kMaxEnvelopeBytes) {
    ++impl_->envelopes_malformed;
    r.status = 413;
    r.body = ErrorBody("TOO_LARGE",
                       "envelope larger than " + std::to_string(kMaxEnvelopeBytes) + " bytes");
    return r;
  }
  if (!IsEnvelopeContentType(content_type)) {
    ++impl_->envelopes_malformed;
    r.status = 415;
    r.body = ErrorBody("UNSUPPORTED_MEDIA_TYPE", "content type '" + std::string(content_type) +
                                                     "' is not " + std::string(kEnvelopeMediaType));
    return r;
  }
  auto events = ParseEnvelope(body, content_type);
  if (!events.ok()) {
    ++impl_->envelopes_malformed;
    log::Warn("hook: refused a malformed envelope: " + events.status().message());
    r.status = 400;
    r.body = ErrorBody("MALFORMED", events.status().message());
    return r;
  }
  std::vector<Event> keep;
  for (const auto& e : *events) {
    Classification c = Classify(e);
    if (c.disposition == Disposition::kIgnore) {
      ++impl_->events_ignored;
      log::Debug("hook: ignoring " + Describe(e) + " (" + c.why + ")");
      continue;
    }
    log::Info("hook: accepted " + Describe(e));
    keep.push_back(e);
  }
  if (!keep.empty()) {
    auto seqs = impl_->Queue(keep, {});
    if (!seqs.ok()) {
      ++impl_->envelopes_error;
      log::Error("hook: could not queue events: " + seqs.status().ToString());
      r.status = 503;
      r.body = ErrorBody("UNAVAILABLE", "could not store the events: " + seqs.status().message());
      return r;
    }
  }
  ++impl_->envelopes_ok;
  r.body = json{{"accepted", events->size()}, {"queued", keep.size()}}.dump();
  return r;
}

std::vector<ManualResult> HookService::IngestAndWait(
    const std::vector<std::pair<std::string, std::string>>& refs,
    std::chrono::milliseconds timeout) {
  std::vector<ManualResult> out;
  std::vector<Event> events;
  std::vector<std::shared_ptr<Waiter>> waiters;
  for (const auto& [repo, ref] : refs) {
    Event e;
    e.action = "push";
    e.repository = repo;
    (ref.rfind("sha256:", 0) == 0 ? e.digest : e.tag) = ref;
    e.id = kManualEventId;
    // What the queue cannot read back after a restart is refused now.
    Status valid = Status::Ok();
    if (!DecodeQueuedEvent(EncodeQueuedEvent(e)).ok()) {
      valid = Status::InvalidArgument("'" + repo + "' '" + ref + "' is not a valid reference");
    }
    events.push_back(e);
    waiters.push_back(std::make_shared<Waiter>());
    out.push_back({repo, ref, valid, {}});
  }
  for (const auto& r : out) {
    if (r.status.ok()) continue;
    for (auto& o : out) {
      if (o.status.ok())
        o.status = Status::FailedPrecondition("not queued: another reference is invalid");
    }
    return out;
  }
  auto queued = impl_->Queue(events, waiters);
  if (!queued.ok()) {
    for (auto& r : out) r.status = queued.status();
    return out;
  }
  auto deadline = Clock::now() + timeout;
  for (size_t i = 0; i < waiters.size(); ++i) {
    std::unique_lock<std::mutex> lock(waiters[i]->mu);
    if (!waiters[i]->cv.wait_until(lock, deadline, [&] { return waiters[i]->done; })) {
      out[i].status = Status::Unavailable("not ingested within the timeout; it stays queued");
      continue;
    }
    out[i].status = waiters[i]->status;
    out[i].report = waiters[i]->report;
  }
  return out;
}

size_t HookService::queue_depth() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending.size();
}

std::string HookService::Metrics() {
  auto& m = *impl_;
  std::string s;
  auto counter = [&](const char* name, const char* help,
                     std::initializer_list<std::pair<const char*, uint64_t>> v) {
    s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [labels, value] : v) {
      s += std::string(name) + (labels[0] ? std::string("{") + labels + "}" : "") + " " +
           std::to_string(value) + "\n";
    }
  };
  counter("starlight_hook_envelopes_total", "Notification envelopes received, by outcome.",
          {{"result=\"accepted\"", m.envelopes_ok.load()},
           {"result=\"unauthorized\"", m.envelopes_unauthorized.load()},
           {"result=\"malformed\"", m.envelopes_malformed.load()},
           {"result=\"error\"", m.envelopes_error.load()}});
  counter("starlight_hook_events_total", "Events in accepted envelopes, by disposition.",
          {{"disposition=\"queued\"", m.events_queued.load()},
           {"disposition=\"ignored\"", m.events_ignored.load()}});
  counter("starlight_hook_ingestions_total", "Queued events processed, by outcome.",
          {{"result=\"ok\"", m.ingest_ok.load()},
           {"result=\"retry\"", m.ingest_retry.load()},
           {"result=\"failed\"", m.ingest_failed.load()}});
  counter("starlight_hook_layers_indexed_total", "New layers recorded.",
          {{"", m.layers_indexed.load()}});
  counter("starlight_hook_layers_not_seekable_total", "New layers recorded as not seekable.",
          {{"", m.layers_not_seekable.load()}});
  counter("starlight_hook_layer_bytes_fetched_total",
          "Layer bytes read from the registry (footers and ToCs).", {{"", m.bytes_fetched.load()}});
  counter("starlight_hook_conversions_total", "Convert-on-push conversions, by outcome.",
          {{"result=\"ok\"", m.conversions_ok.load()},
           {"result=\"failed\"", m.conversions_failed.load()}});
  s += "# HELP starlight_hook_queue_depth Events queued and not yet processed.\n"
       "# TYPE starlight_hook_queue_depth gauge\nstarlight_hook_queue_depth " +
       std::to_string(queue_depth()) + "\n";
  return s;
}

}  // namespace starlight::hook
