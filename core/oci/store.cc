#include "core/oci/store.h"

#include <sys/stat.h>

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/io/writer.h"
#include "core/registry/reference.h"

namespace starlight::oci {

bool IsIndexMediaType(std::string_view m) {
  return m == registry::kOciIndex || m == registry::kDockerManifestList;
}
bool IsManifestMediaType(std::string_view m) {
  return m == registry::kOciManifest || m == registry::kDockerManifest;
}

namespace {

namespace fs = std::filesystem;

class RegistryStore : public ImageStore {
 public:
  RegistryStore(registry::Reference ref, std::unique_ptr<registry::RegistryClient> client)
      : reference_(std::move(ref)), ref_(reference_.Ref()), client_(std::move(client)) {}

  const std::string& ref() const override { return ref_; }
  std::string Describe() const override { return "docker://" + reference_.ToString(); }

  Result<registry::Manifest> GetManifest(const std::string& ref) override {
    return client_->GetManifest(reference_.repository, ref);
  }
  Result<std::optional<uint64_t>> StatBlob(const digest::Digest& d) override {
    return client_->StatBlob(reference_.repository, d);
  }
  Status FetchBlob(const digest::Digest& d, const std::function<Status(std::string_view)>& sink) override {
    return client_->FetchBlob(reference_.repository, d, sink);
  }
  Result<std::string> FetchBlobRange(const digest::Digest& d, uint64_t offset, uint64_t length) override {
    return client_->FetchBlobRange(reference_.repository, d, offset, length);
  }
  Status PushBlob(const digest::Digest& d, const io::RandomAccessReader& data) override {
    return client_->PushBlob(reference_.repository, d, data);
  }
  Status PushManifest(const std::string& tag, std::string_view media_type, std::string_view bytes) override {
    std::string ref = tag.empty() ? digest::Sha256Of(bytes).ToString() : tag;
    auto r = client_->PushManifest(reference_.repository, ref, media_type, bytes);
    return r.ok() ? Status::Ok() : r.status();
  }

 private:
  registry::Reference reference_;
  std::string ref_;
  std::unique_ptr<registry::RegistryClient> client_;
};

constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

// OCI image layout (image-spec layout.md): oci-layout, index.json, blobs/sha256/<hex>.
class LayoutStore : public ImageStore {
 public:
  LayoutStore(std::string dir, std::string tag) : dir_(std::move(dir)), ref_(std::move(tag)) {}

  const std::string& ref() const override { return ref_; }
  std::string Describe() const override { return "oci:" + dir_ + (ref_.empty() ? "" : ":" + ref_); }

  Status Init(bool create) {
    std::error_code ec;
    if (!fs::exists(dir_ + "/oci-layout", ec)) {
      if (!create) return Status::NotFound(Describe() + ": not an OCI image layout (no oci-layout file)");
      fs::create_directories(dir_ + "/blobs/sha256", ec);
      if (ec) return Status::IoError("creating " + dir_ + ": " + ec.message());
      SL_RETURN_IF_ERROR(io::WriteFileAtomic(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
      SL_RETURN_IF_ERROR(io::WriteFileAtomic(dir_ + "/index.json",
                                             R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})"));
    }
    fs::create_directories(dir_ + "/blobs/sha256", ec);
    return Status::Ok();
  }

  Result<registry::Manifest> GetManifest(const std::string& ref) override {
    digest::Digest d;
    if (ref.rfind("sha256:", 0) == 0) {
      SL_ASSIGN_OR_RETURN(d, digest::Digest::Parse(ref));
    } else {
      SL_ASSIGN_OR_RETURN(nlohmann::json index, ReadIndex());
      const nlohmann::json* found = nullptr;
      size_t n = 0;
      for (const auto& m : index["manifests"]) {
        ++n;
        std::string name = m.contains("annotations") ? m["annotations"].value(kRefNameAnnotation, "") : "";
        if ((!ref.empty() && name == ref) || (ref.empty() && index["manifests"].size() == 1)) found = &m;
      }
      if (found == nullptr) {
        return Status::NotFound(Describe() + ": no image " + (ref.empty() ? "(the layout holds " + std::to_string(n) + "; name a tag)" : "tagged '" + ref + "'"));
      }
      SL_ASSIGN_OR_RETURN(d, digest::Digest::Parse(found->value("digest", "")));
    }
    registry::Manifest m;
    SL_ASSIGN_OR_RETURN(m.bytes, io::ReadFileToString(BlobPath(d)));
    m.digest = digest::Sha256Of(m.bytes);
    if (m.digest != d) return Status::Corruption(Describe() + ": manifest blob " + d.ToString() + " has the wrong digest");
    try {
      auto j = nlohmann::json::parse(m.bytes);
      m.media_type = j.value("mediaType", "");
      if (m.media_type.empty()) {
        m.media_type = j.contains("manifests") ? std::string(registry::kOciIndex) : std::string(registry::kOciManifest);
      }
    } catch (const std::exception& e) {
      return Status::Corruption(Describe() + ": manifest is not JSON: " + e.what());
    }
    return m;
  }

  Result<std::optional<uint64_t>> StatBlob(const digest::Digest& d) override {
    struct stat st;
    if (::stat(BlobPath(d).c_str(), &st) != 0) return std::optional<uint64_t>();
    return std::optional<uint64_t>(static_cast<uint64_t>(st.st_size));
  }

  Status FetchBlob(const digest::Digest& d, const std::function<Status(std::string_view)>& sink) override {
    SL_ASSIGN_OR_RETURN(auto src, io::OpenFileSource(BlobPath(d)));
    digest::Sha256 h;
    std::string buf(1 << 20, '\0');
    for (;;) {
      SL_ASSIGN_OR_RETURN(size_t n, src->Read(buf.data(), buf.size()));
      if (n == 0) break;
      h.Update(buf.data(), n);
      SL_RETURN_IF_ERROR(sink(std::string_view(buf.data(), n)));
    }
    if (h.Finish() != d) return Status::Corruption(Describe() + ": blob " + d.ToString() + " has the wrong digest");
    return Status::Ok();
  }

  Result<std::string> FetchBlobRange(const digest::Digest& d, uint64_t offset, uint64_t length) override {
    SL_ASSIGN_OR_RETURN(auto r, io::OpenFileReader(BlobPath(d)));
    return io::ReadAllAt(*r, offset, static_cast<size_t>(length));
  }

  Status PushBlob(const digest::Digest& d, const io::RandomAccessReader& data) override {
    SL_ASSIGN_OR_RETURN(auto have, StatBlob(d));
    if (have.has_value()) return Status::Ok();
    SL_ASSIGN_OR_RETURN(auto w, io::AtomicFileWriter::Create(BlobPath(d)));
    digest::Sha256 h;
    std::string buf(1 << 20, '\0');
    for (uint64_t off = 0; off < data.Size();) {
      SL_ASSIGN_OR_RETURN(size_t n, data.ReadAt(off, buf.data(), buf.size()));
      if (n == 0) return Status::IoError("blob source ended early");
      h.Update(buf.data(), n);
      SL_RETURN_IF_ERROR(w->Append(std::string_view(buf.data(), n)));
      off += n;
    }
    if (h.Finish() != d) return Status::InvalidArgument("blob to store does not hash to " + d.ToString());
    return w->Commit();
  }

  Status PushManifest(const std::string& tag, std::string_view media_type, std::string_view bytes) override {
    digest::Digest d = digest::Sha256Of(bytes);
    auto reader = io::NewStringReader(bytes);
    SL_RETURN_IF_ERROR(PushBlob(d, *reader));
    if (tag.empty()) return Status::Ok();
    std::lock_guard<std::mutex> lock(mu_);
    SL_ASSIGN_OR_RETURN(nlohmann::json index, ReadIndex());
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& m : index["manifests"]) {
      std::string name = m.contains("annotations") ? m["annotations"].value(kRefNameAnnotation, "") : "";
      if (name != tag) kept.push_back(m);
    }
    kept.push_back({{"mediaType", std::string(media_type)},
                    {"digest", d.ToString()},
                    {"size", bytes.size()},
                    {"annotations", {{kRefNameAnnotation, tag}}}});
    index["manifests"] = kept;
    return io::WriteFileAtomic(dir_ + "/index.json", index.dump());
  }

 private:
  std::string BlobPath(const digest::Digest& d) const { return dir_ + "/blobs/sha256/" + d.Hex(); }

  Result<nlohmann::json> ReadIndex() {
    SL_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(dir_ + "/index.json"));
    try {
      auto j = nlohmann::json::parse(text);
      if (!j.is_object() || !j.contains("manifests") || !j["manifests"].is_array()) {
        return Status::Corruption(Describe() + ": index.json has no manifests array");
      }
      return j;
    } catch (const std::exception& e) {
      return Status::Corruption(Describe() + ": index.json: " + e.what());
    }
  }

  std::string dir_;
  std::string ref_;
  std::mutex mu_;  // serialises index.json updates
};

}  // namespace

Result<std::unique_ptr<ImageStore>> OpenImageStore(const std::string& reference, const StoreOptions& options,
                                                   bool create) {
  if (reference.rfind("docker://", 0) == 0) {
    SL_ASSIGN_OR_RETURN(registry::Reference ref, registry::ParseReference(reference.substr(9)));
    registry::ClientOptions co = options.registry;
    if (co.credentials.empty()) {
      SL_ASSIGN_OR_RETURN(co.credentials, registry::LoadDockerCredentials(ref.registry, options.authfile));
    }
    return std::unique_ptr<ImageStore>(new RegistryStore(ref, registry::NewRegistryClient(ref.registry, co)));
  }
  if (reference.rfind("oci:", 0) == 0) {
    std::string rest = reference.substr(4);
    std::string dir = rest, tag;
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
      dir = rest.substr(0, colon);
      tag = rest.substr(colon + 1);
    }
    if (dir.empty()) return Status::InvalidArgument("invalid reference '" + reference + "': no directory");
    auto store = std::make_unique<LayoutStore>(dir, tag);
    SL_RETURN_IF_ERROR(store->Init(create));
    return std::unique_ptr<ImageStore>(std::move(store));
  }
  return Status::InvalidArgument("unknown reference syntax '" + reference +
                                 "' (use docker://host/repo:tag or oci:DIR[:tag])");
}

}  // namespace starlight::oci
