// Ingestion of one pushed image into the directory DB: manifest (or index and each of its
// platform manifests), config, and for each layer the DB does not know yet its embedded ToC,
// read with two range requests (footer, then ToC members) — never the whole blob. Layers that
// are not seekable (other media type, no footer, damaged ToC, ToC contradicting the config's
// diffID) are recorded as such with the reason, and their images get no merged tree.
//
// The caller owns the batch: it adds its own writes (e.g. the queue acknowledgement) and
// commits, so an image appears in the DB completely or not at all. Tags follow the registry:
// a tag is set to the digest the registry serves for it at ingestion time, so replaying an old
// event never moves a tag backwards. Thread-safe if the client and the DB are (they are).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/digest/digest.h"
#include "core/dirdb/dirdb.h"
#include "core/registry/client.h"
#include "core/status/status.h"

namespace starlight::hook {

struct IngestOptions {
  int parallel_layers = 4;  // ToC fetches in flight per image
};

struct IngestReport {
  std::string repository;
  std::string tag;        // tag set (or removed) by this ingestion; "" for digest-only
  digest::Digest digest;  // of the top-level manifest or index
  bool is_index = false;
  bool tag_removed = false;  // the registry no longer has the tag
  int manifests = 0;         // platform manifests stored now
  int manifests_known = 0;   // already in the DB
  int layers_new = 0;        // layer records stored now
  int layers_known = 0;      // already in the DB (or earlier in this ingestion)
  int layers_not_seekable = 0;
  int images_not_seekable = 0;  // platform images stored now without a merged tree
  uint64_t bytes_fetched = 0;    // layer bytes read from the registry (footers + ToCs)
  uint64_t new_layer_bytes = 0;  // total size of the new layers' blobs
  uint64_t files = 0;            // nodes in the merged trees stored now
  double seconds = 0;
};
std::string DescribeIngestReport(const IngestReport& r);

class Ingester {
 public:
  // `client` talks to the registry the events come from; both must outlive the ingester.
  Ingester(registry::RegistryClient* client, dirdb::DirectoryDb* db, IngestOptions options = {});

  // Ingests repository:reference (a tag or "sha256:..."), adding its writes to `batch`.
  // Errors keep their code: Unavailable/IoError (registry down) are worth retrying,
  // NotFound/InvalidArgument/Corruption are not.
  Result<IngestReport> Ingest(const std::string& repository, const std::string& reference,
                              dirdb::WriteBatch* batch);

  // A manifest or tag was deleted in the registry: removes the tag, or every tag of the
  // repository that points at `digest`, unless the registry still serves it (a replayed
  // delete never removes a tag that was pushed again). Returns the tags removed.
  Result<std::vector<std::string>> Untag(const std::string& repository, const std::string& tag,
                                         const std::string& digest, dirdb::WriteBatch* batch);

 private:
  registry::RegistryClient* client_;
  dirdb::DirectoryDb* db_;
  IngestOptions options_;
};

}  // namespace starlight::hook
