#include "tests/converter/layer_checks.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/digest/digest.h"
#include "core/io/reader.h"
#include "core/io/writer.h"
#include "core/seekable/format.h"
#include "core/seekable/reader.h"
#include "tests/testing/gzip_util.h"

namespace starlight::testing {

namespace {

using io::StringSink;

// Compares big strings without printing megabytes on failure.
::testing::AssertionResult SameBytes(std::string_view a, std::string_view b) {
  if (a == b) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size()
                                       << ", first difference at byte " << i;
}

}  // namespace

Want WantFile(std::string path, std::string content, uint32_t mode) {
  Want w;
  w.path = std::move(path);
  w.size = content.size();
  w.content = std::move(content);
  w.mode = mode;
  return w;
}

Want WantDir(std::string path, uint32_t mode) {
  Want w;
  w.path = std::move(path);
  w.type = tar::EntryType::kDirectory;
  w.typeflag = '5';
  w.mode = mode;
  return w;
}

Want WantSymlink(std::string path, std::string target) {
  Want w;
  w.path = std::move(path);
  w.type = tar::EntryType::kSymlink;
  w.typeflag = '2';
  w.mode = 0777;
  w.linkname = std::move(target);
  return w;
}

Want WantHardlink(std::string path, std::string target) {
  Want w;
  w.path = std::move(path);
  w.type = tar::EntryType::kHardlink;
  w.typeflag = '1';
  w.linkname = std::move(target);
  return w;
}

Conversion ConvertBytes(std::string_view input, seekable::WriterOptions options) {
  auto src = io::NewStringSource(input);
  StringSink sink;
  auto r = seekable::ConvertLayer(src.get(), &sink, options);
  if (!r.ok()) {
    ADD_FAILURE() << "conversion failed: " << r.status().ToString();
    return {};
  }
  return {std::move(r).value(), std::move(sink.data)};
}

std::string ExpandSparse(const std::vector<tar::SparseSpan>& map, std::string_view stored,
                         uint64_t size) {
  std::string out(size, '\0');
  uint64_t pos = 0;
  for (const auto& s : map) {
    if (s.offset + s.length > size || pos + s.length > stored.size()) {
      ADD_FAILURE() << "sparse map does not fit";
      return out;
    }
    std::copy_n(stored.data() + pos, s.length, out.data() + s.offset);
    pos += s.length;
  }
  EXPECT_EQ(pos, stored.size()) << "stored bytes not covered by the sparse map";
  return out;
}

void CheckMemberAlignment(const std::string& blob, const std::string& tar, const toc::Toc& toc) {
  std::vector<RawMember> members;
  try {
    members = ListMembers(blob);  // plain zlib, member by member
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  ASSERT_FALSE(members.empty());
  // The last member is the footer; the ToC members before it; all decompress to nothing.
  EXPECT_EQ(members.back().size, seekable::kFooterMemberSize);
  EXPECT_EQ(members.back().usize, 0u);
  size_t used = 0;  // members holding content
  for (const toc::Entry& e : toc.entries) {
    SCOPED_TRACE("entry '" + e.meta.path + "'");
    if (e.meta.type != tar::EntryType::kRegular) {
      EXPECT_TRUE(e.chunks.empty());
      continue;
    }
    std::string_view content = std::string_view(tar).substr(e.meta.data_offset, e.meta.data_size);
    ASSERT_EQ(content.size(), e.meta.data_size);
    EXPECT_EQ(e.digest, digest::Sha256Of(content));
    if (e.meta.data_size == 0) {
      EXPECT_TRUE(e.chunks.empty()) << "empty files have no content member";
      continue;
    }
    // The members that tile [data_offset, data_offset + data_size) exactly.
    auto it = std::find_if(members.begin(), members.end(), [&](const RawMember& m) {
      return m.uoffset == e.meta.data_offset && m.usize > 0;
    });
    ASSERT_NE(it, members.end()) << "content does not begin on a member boundary";
    uint64_t pos = e.meta.data_offset;
    ASSERT_FALSE(e.chunks.empty());
    for (const toc::Chunk& c : e.chunks) {
      ASSERT_NE(it, members.end());
      EXPECT_EQ(it->uoffset, pos);
      EXPECT_GT(it->usize, 0u);
      EXPECT_LE(it->usize, seekable::kChunkSize);
      EXPECT_EQ(c.compressed_offset, it->offset);
      EXPECT_EQ(c.compressed_size, it->size);
      EXPECT_EQ(c.file_offset, pos - e.meta.data_offset);
      EXPECT_EQ(c.size, it->usize);
      // The chunk alone is one complete gzip member holding exactly that part of the file.
      std::string inflated;
      ASSERT_TRUE(InflateOneMember(std::string_view(blob).substr(c.compressed_offset, c.compressed_size),
                                   &inflated));
      EXPECT_TRUE(SameBytes(inflated, content.substr(c.file_offset, c.size)));
      EXPECT_EQ(c.digest, digest::Sha256Of(inflated));
      pos += it->usize;
      ++it;
      ++used;
    }
    EXPECT_EQ(pos, e.meta.data_offset + e.meta.data_size)
        << "content does not end on a member boundary";
    // Files over kChunkSize are split at multiples of it.
    for (size_t i = 0; i + 1 < e.chunks.size(); ++i) EXPECT_EQ(e.chunks[i].size, seekable::kChunkSize);
  }
  // Every other member is metadata (no content in it) or belongs to the ToC/footer.
  size_t empty_tail = 0;
  for (auto m = members.rbegin(); m != members.rend() && m->usize == 0; ++m) ++empty_tail;
  EXPECT_GE(empty_tail, 2u) << "at least one ToC member and the footer";
}

void CheckWant(const std::string& tar, const toc::Toc& toc, const std::vector<Want>& want) {
  ASSERT_EQ(toc.entries.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const tar::Entry& m = toc.entries[i].meta;
    const Want& w = want[i];
    SCOPED_TRACE("entry " + std::to_string(i) + " '" + w.path + "'");
    EXPECT_EQ(m.path, w.path);
    EXPECT_EQ(m.type, w.type);
    EXPECT_EQ(m.typeflag, w.typeflag);
    EXPECT_EQ(m.mode, w.mode);
    EXPECT_EQ(m.uid, w.uid);
    EXPECT_EQ(m.gid, w.gid);
    EXPECT_EQ(m.uname, w.uname);
    EXPECT_EQ(m.gname, w.gname);
    EXPECT_EQ(m.mtime_sec, w.mtime);
    EXPECT_EQ(m.mtime_nsec, w.mtime_nsec);
    EXPECT_EQ(m.size, w.size);
    EXPECT_EQ(m.linkname, w.linkname);
    EXPECT_EQ(m.devmajor, w.devmajor);
    EXPECT_EQ(m.devminor, w.devminor);
    EXPECT_EQ(m.xattrs, w.xattrs);
    EXPECT_EQ(m.sparse, w.sparse);
    EXPECT_EQ(m.sparse_map, w.sparse_map);
    std::string_view stored = std::string_view(tar).substr(m.data_offset, m.data_size);
    EXPECT_TRUE(SameBytes(stored, w.content));
    if (w.type == tar::EntryType::kRegular) {
      EXPECT_EQ(toc.entries[i].digest, digest::Sha256Of(w.content));
    }
  }
}

void CheckLoose(const std::string& tar, const toc::Toc& toc, const Loose& loose) {
  std::set<std::string> paths;
  for (const toc::Entry& e : toc.entries) {
    const tar::Entry& m = e.meta;
    paths.insert(m.path);
    SCOPED_TRACE("entry '" + m.path + "'");
    std::string_view stored = std::string_view(tar).substr(m.data_offset, m.data_size);
    if (auto f = loose.files.find(m.path); f != loose.files.end()) {
      ASSERT_EQ(m.type, tar::EntryType::kRegular);
      std::string logical = m.sparse ? ExpandSparse(m.sparse_map, stored, m.size) : std::string(stored);
      EXPECT_EQ(m.size, f->second.size());
      EXPECT_TRUE(SameBytes(logical, f->second));
    }
    if (auto x = loose.xattrs.find(m.path); x != loose.xattrs.end()) {
      for (const auto& kv : x->second) {
        EXPECT_NE(std::find(m.xattrs.begin(), m.xattrs.end(), kv), m.xattrs.end()) << kv.first;
      }
    }
    if (loose.sparse.count(m.path)) {
      EXPECT_TRUE(m.sparse);
      EXPECT_GT(m.sparse_map.size(), 4u) << "want a map that needs GNU extension blocks";
      EXPECT_LT(m.data_size, m.size);
    }
  }
  EXPECT_EQ(paths, loose.paths);
}

std::string CheckConversion(const std::string& tar) {
  seekable::WriterOptions two;
  two.threads = 2;
  Conversion a = ConvertBytes(tar, two);
  if (a.blob.empty()) return {};
  const toc::Toc& toc = a.result.toc;

  // 1. The decompressed blob is the input, byte for byte (zlib, independent of core/gzip).
  std::string decompressed;
  try {
    decompressed = GunzipOrThrow(a.blob);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  EXPECT_TRUE(SameBytes(decompressed, tar));
  EXPECT_EQ(toc.tar_size, tar.size());
  EXPECT_EQ(toc.diff_id, digest::Sha256Of(tar));

  // 2. Each regular file's content is exactly a run of whole members.
  CheckMemberAlignment(a.blob, tar, toc);

  // 3. The embedded ToC equals the writer's and a scan of the blob.
  auto reader = io::NewStringReader(a.blob);
  auto embedded = seekable::ReadEmbeddedToc(*reader);
  EXPECT_TRUE(embedded.ok()) << embedded.status().ToString();
  if (embedded.ok()) {
    EXPECT_EQ(embedded->toc, toc);
  }
  auto verified = seekable::VerifyLayer(*reader);
  EXPECT_TRUE(verified.ok()) << verified.status().ToString();

  // 4. Deterministic, whatever the thread count.
  for (int threads : {1, 2}) {
    seekable::WriterOptions o;
    o.threads = threads;
    EXPECT_TRUE(SameBytes(ConvertBytes(tar, o).blob, a.blob)) << threads << " threads";
  }
  // 5. Converting the converted blob changes nothing.
  Conversion again = ConvertBytes(a.blob, two);
  EXPECT_TRUE(SameBytes(again.blob, a.blob)) << "reconverting is not idempotent";
  EXPECT_TRUE(again.result.input_gzip);
  // 6. tar.gz input (one member, other levels) and multi-member gzip input give the same blob.
  for (const std::string& gz :
       {GzipCompress(tar, 6), GzipMembers(tar, 1000, 1), GzipMembers(tar, 777777, 1)}) {
    Conversion g = ConvertBytes(gz, two);
    EXPECT_TRUE(SameBytes(g.blob, a.blob)) << "gzip input of " << gz.size() << " bytes";
    EXPECT_TRUE(g.result.input_gzip);
    EXPECT_EQ(g.result.input_bytes, gz.size());
  }
  return a.blob;
}

}  // namespace starlight::testing
