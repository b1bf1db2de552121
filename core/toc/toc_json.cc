// JSON view of a ToC (`starlight-convert inspect --json`), kept out of toc.h so nlohmann/json
// stays out of public headers. Byte strings that are not valid UTF-8 (tar names are bytes) are
// emitted with U+FFFD replacements plus an exact "<field>_base64" twin; xattr values are always
// base64 because they are binary (e.g. security.capability).
#include <nlohmann/json.hpp>

#include "core/coding/base64.h"
#include "core/coding/coding.h"
#include "core/toc/toc.h"

namespace starlight::toc {

namespace {

using nlohmann::ordered_json;

void PutString(ordered_json& j, const char* key, const std::string& value) {
  j[key] = value;
  if (!coding::IsValidUtf8(value)) j[std::string(key) + "_base64"] = coding::Base64Encode(value);
}

}  // namespace

std::string TocToJson(const Toc& toc, const JsonOptions& options) {
  ordered_json root;
  root["tar_size"] = toc.tar_size;
  root["diff_id"] = toc.diff_id.ToString();
  ordered_json entries = ordered_json::array();
  for (const Entry& e : toc.entries) {
    const tar::Entry& m = e.meta;
    ordered_json j;
    PutString(j, "path", m.path);
    j["type"] = tar::EntryTypeName(m.type);
    j["size"] = m.size;
    if (m.type == tar::EntryType::kRegular) j["digest"] = e.digest.ToString();
    ordered_json chunks = ordered_json::array();
    for (const Chunk& c : e.chunks) {
      chunks.push_back({{"offset", c.compressed_offset},
                        {"length", c.compressed_size},
                        {"file_offset", c.file_offset},
                        {"size", c.size},
                        {"digest", c.digest.ToString()}});
    }
    j["chunks"] = std::move(chunks);
    j["mode"] = m.mode;
    j["uid"] = m.uid;
    j["gid"] = m.gid;
    if (!m.uname.empty()) PutString(j, "uname", m.uname);
    if (!m.gname.empty()) PutString(j, "gname", m.gname);
    j["mtime"] = m.mtime_sec;
    if (m.mtime_nsec) j["mtime_nsec"] = m.mtime_nsec;
    if (!m.linkname.empty()) PutString(j, "linkname", m.linkname);
    if (m.type == tar::EntryType::kCharDevice || m.type == tar::EntryType::kBlockDevice) {
      j["devmajor"] = m.devmajor;
      j["devminor"] = m.devminor;
    }
    if (m.type == tar::EntryType::kOther) j["typeflag"] = std::string(1, m.typeflag);
    if (!m.xattrs.empty()) {
      ordered_json x = ordered_json::object();
      for (const auto& [k, v] : m.xattrs) x[coding::IsValidUtf8(k) ? k : coding::Base64Encode(k)] = coding::Base64Encode(v);
      j["xattrs_base64"] = std::move(x);
    }
    if (m.sparse) {
      ordered_json sm = ordered_json::array();
      for (const auto& sp : m.sparse_map) sm.push_back({{"offset", sp.offset}, {"length", sp.length}});
      j["sparse_map"] = std::move(sm);
      j["stored_size"] = m.data_size;
    }
    j["header_offset"] = m.header_offset;
    if (m.type == tar::EntryType::kRegular) j["data_offset"] = m.data_offset;
    entries.push_back(std::move(j));
  }
  root["entries"] = std::move(entries);
  return root.dump(options.pretty ? 2 : -1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace starlight::toc
