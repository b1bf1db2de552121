#include "core/seekable/writer.h"

#include <libdeflate.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "core/concurrency/ordered_pool.h"
#include "core/gzip/gzip.h"
#include "core/seekable/format.h"
#include "core/tar/tar.h"

namespace starlight::seekable {

namespace {

// Counts and hashes the decompressed tar stream (its sha256 is the diffID) and enforces the
// size limit that bounds work on a gzip bomb.
class TarStreamSource : public io::ByteSource {
 public:
  TarStreamSource(io::ByteSource* in, uint64_t limit) : in_(in), limit_(limit) {}
  Result<size_t> Read(char* buf, size_t n) override {
    SL_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    bytes_ += got;
    if (limit_ != 0 && bytes_ > limit_) {
      return Status::InvalidArgument("decompressed layer exceeds the limit of " +
                                     std::to_string(limit_) + " bytes (gzip bomb?)");
    }
    hash_.Update(buf, got);
    return got;
  }
  uint64_t bytes() const { return bytes_; }
  digest::Digest Finish() { return hash_.Finish(); }

 private:
  io::ByteSource* in_;
  uint64_t limit_;
  uint64_t bytes_ = 0;
  digest::Sha256 hash_;
};

// Counts compressed bytes read from the input.
class CountingSource : public io::ByteSource {
 public:
  explicit CountingSource(io::ByteSource* in) : in_(in) {}
  Result<size_t> Read(char* buf, size_t n) override {
    SL_ASSIGN_OR_RETURN(size_t got, in_->Read(buf, n));
    bytes_ += got;
    return got;
  }
  uint64_t bytes() const { return bytes_; }

 private:
  io::ByteSource* in_;
  uint64_t bytes_ = 0;
};

std::string CompressMember(int level, const std::string& data) {
  // One compressor per worker thread (libdeflate compressors are not thread-safe and costly
  // to allocate at high levels).
  thread_local std::unique_ptr<gzip::MemberCompressor> compressor;
  thread_local int compressor_level = -1;
  if (!compressor || compressor_level != level) {
    compressor = std::make_unique<gzip::MemberCompressor>(level);
    compressor_level = level;
  }
  std::string out;
  compressor->Compress(data, &out);
  return out;
}

struct MemberPos {
  uint64_t offset;
  uint64_t size;
};

struct PendingChunk {
  size_t entry;
  size_t chunk;
  uint64_t seq;
};

Result<std::string> DeflateRaw(std::string_view data, int level) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  if (c == nullptr) return Status::Internal("libdeflate_alloc_compressor failed");
  std::string out(libdeflate_deflate_compress_bound(c, data.size()), '\0');
  size_t n = libdeflate_deflate_compress(c, data.data(), data.size(), out.data(), out.size());
  libdeflate_free_compressor(c);
  if (n == 0) return Status::Internal("deflate of the ToC failed");
  out.resize(n);
  return out;
}

}  // namespace

int LevelFor(int level, uint64_t member_size) {
  if (level != kAutoLevel) return level;
  return member_size < kAutoSmallMember ? kAutoSmallLevel : kAutoLargeLevel;
}

Result<ConvertResult> ConvertLayer(io::ByteSource* input, io::ByteSink* out,
                                   const WriterOptions& options) {
  if (options.level < kAutoLevel || options.level > gzip::kMaxLevel) {
    return Status::InvalidArgument("compression level must be auto or 0..12");
  }
  ConvertResult result;
  CountingSource counted(input);

  // Sniff the input format.
  std::string prefix(6, '\0');
  size_t got = 0;
  while (got < prefix.size()) {
    SL_ASSIGN_OR_RETURN(size_t n, counted.Read(prefix.data() + got, prefix.size() - got));
    if (n == 0) break;
    got += n;
  }
  prefix.resize(got);
  if (prefix.empty()) return Status::InvalidArgument("input is empty (not a tar or tar.gz)");
  auto starts = [&](std::string_view magic) { return prefix.compare(0, magic.size(), magic) == 0; };
  if (starts("\x28\xb5\x2f\xfd")) return Status::NotSupported("zstd-compressed layers are not supported");
  if (starts("\xfd" "7zXZ")) return Status::NotSupported("xz-compressed layers are not supported");
  if (starts("BZh")) return Status::NotSupported("bzip2-compressed layers are not supported");
  result.input_gzip = gzip::LooksLikeGzip(prefix);
  // The sniffed bytes are pushed back in front of the rest (a non-owning counting view).
  auto raw = io::NewPrefixedSource(std::move(prefix), std::make_unique<CountingSource>(&counted));
  std::unique_ptr<gzip::GzipDecoder> gz;
  io::ByteSource* tar_bytes = raw.get();
  if (result.input_gzip) {
    gz = std::make_unique<gzip::GzipDecoder>(raw.get());
    tar_bytes = gz.get();
  }
  TarStreamSource stream(tar_bytes, options.max_tar_size);

  // Ordered output: members are written in submission order by the pool's consumer thread.
  std::vector<MemberPos> members;  // index = sequence number; consumer thread only until Finish
  std::atomic<uint64_t> written{0};
  digest::Sha256 blob_hash;  // consumer thread only until Finish
  int threads = options.threads > 0 ? options.threads : concurrency::OrderedPool::HardwareThreads();
  // Memory bound: input bytes in flight (their compressed output is smaller or about equal).
  uint64_t budget = std::max<uint64_t>(32ull << 20, 4ull * threads * kChunkSize);
  concurrency::OrderedPool pool(threads, budget,
                                [&](uint64_t, std::string&& member) -> Status {
                                  members.push_back({written.load(), member.size()});
                                  blob_hash.Update(member);
                                  SL_RETURN_IF_ERROR(out->Append(member));
                                  written += member.size();
                                  return Status::Ok();
                                });
  const int level = options.level;
  auto submit = [&](std::string data, uint64_t* seq) -> Status {
    int lv = LevelFor(level, data.size());
    uint64_t cost = data.size();
    return pool.Submit([lv, d = std::move(data)] { return CompressMember(lv, d); }, cost, seq);
  };

  std::string meta;
  Status meta_status;
  auto flush_meta = [&]() -> Status {
    if (meta.empty()) return Status::Ok();
    std::string m;
    m.swap(meta);
    return submit(std::move(m), nullptr);
  };
  tar::Reader reader(&stream, [&](std::string_view b) -> Status {
    while (!b.empty()) {
      size_t k = std::min<size_t>(b.size(), kMaxMetadataMember - meta.size());
      meta.append(b.substr(0, k));
      b.remove_prefix(k);
      if (meta.size() == kMaxMetadataMember) SL_RETURN_IF_ERROR(flush_meta());
    }
    return Status::Ok();
  });

  std::vector<PendingChunk> pending;
  uint64_t last_progress = 0;
  auto report = [&] {
    if (options.progress && stream.bytes() - last_progress >= (8u << 20)) {
      last_progress = stream.bytes();
      options.progress(Progress{stream.bytes(), written.load()});
    }
  };
  Status st;
  for (;;) {
    toc::Entry e;
    auto more = reader.Next(&e.meta);
    if (!more.ok()) {
      st = more.status();
      break;
    }
    if (!*more) break;
    if (e.meta.type == tar::EntryType::kRegular) {
      digest::Sha256 file_hash, chunk_hash;
      uint64_t remaining = e.meta.data_size, file_offset = 0;
      if (remaining > 0) st = flush_meta();
      while (st.ok() && remaining > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining, kChunkSize));
        std::string data(n, '\0');
        size_t filled = 0;
        while (filled < n) {
          auto r = reader.ReadData(data.data() + filled, n - filled);
          if (!r.ok()) {
            st = r.status();
            break;
          }
          filled += *r;
        }
        if (!st.ok()) break;
        file_hash.Update(data);
        toc::Chunk c;
        c.file_offset = file_offset;
        c.size = n;
        if (e.meta.data_size > kChunkSize) {  // a single chunk's digest is the file's
          chunk_hash.Update(data);
          c.digest = chunk_hash.Finish();
        }
        uint64_t seq = 0;
        st = submit(std::move(data), &seq);
        pending.push_back({result.toc.entries.size(), e.chunks.size(), seq});
        e.chunks.push_back(c);
        file_offset += n;
        remaining -= n;
        report();
      }
      e.digest = file_hash.Finish();
      if (e.chunks.size() == 1) e.chunks[0].digest = e.digest;
    }
    if (!st.ok()) break;
    result.toc.entries.push_back(std::move(e));
    report();
  }
  if (st.ok()) st = flush_meta();
  Status pool_status = pool.Finish();
  if (!st.ok()) return st;
  if (!pool_status.ok()) return pool_status;

  for (const PendingChunk& p : pending) {
    toc::Chunk& c = result.toc.entries[p.entry].chunks[p.chunk];
    c.compressed_offset = members[p.seq].offset;
    c.compressed_size = members[p.seq].size;
  }
  result.toc.tar_size = stream.bytes();
  result.toc.diff_id = stream.Finish();
  if (result.toc.tar_size == 0) return Status::InvalidArgument("input decompresses to nothing");
  result.encoded_toc = toc::EncodeToc(result.toc);

  // Embedded ToC and footer.
  uint64_t data_end = written.load();
  SL_ASSIGN_OR_RETURN(std::string deflated, DeflateRaw(result.encoded_toc, kTocLevel));
  std::string tail;
  std::string_view rest = deflated;
  uint64_t toc_members = 0;
  while (!rest.empty()) {
    size_t k = std::min(rest.size(), gzip::kMaxExtraPayload);
    tail += gzip::ExtraMember(kTocSubfield[0], kTocSubfield[1], rest.substr(0, k));
    rest.remove_prefix(k);
    ++toc_members;
  }
  Footer f;
  f.toc_offset = data_end;
  f.toc_members_size = tail.size();
  f.toc_compressed_size = deflated.size();
  f.toc_size = result.encoded_toc.size();
  f.toc_digest = digest::Sha256Of(result.encoded_toc);
  tail += EncodeFooterMember(f);
  blob_hash.Update(tail);
  SL_RETURN_IF_ERROR(out->Append(tail));

  result.input_bytes = counted.bytes();
  result.output_bytes = data_end + tail.size();
  result.toc_bytes = tail.size();
  result.members = members.size() + toc_members + 1;
  result.blob_digest = blob_hash.Finish();
  if (options.progress) options.progress(Progress{stream.bytes(), result.output_bytes});
  return result;
}

}  // namespace starlight::seekable
