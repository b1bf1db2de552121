#include "tests/testing/bad_inputs.h"

#include "core/tar/tar.h"
#include "tests/testing/gzip_util.h"
#include "tests/testing/tar_builder.h"

namespace starlight::testing {

namespace {

std::string ValidTar() {
  TarBuilder b;
  b.Dir("dir/").File("dir/a", "hello, world\n").File("dir/big", std::string(3000, 'x')).End();
  return b.bytes();
}

}  // namespace

std::vector<BadInput> BadInputs() {
  std::vector<BadInput> v;
  const std::string tar = ValidTar();
  const std::string gz = GzipCompress(tar);
  const size_t n = gz.size();

  v.push_back({"truncated_gzip", gz.substr(0, n - 20), Code::kCorruption,
               "truncated gzip stream: member at compressed offset 0"});
  {
    std::string g = gz;
    g[n - 8] ^= 0x01;  // CRC-32
    v.push_back({"gzip_bad_crc", g, Code::kCorruption, "compressed offset 0: incorrect data check"});
  }
  {
    std::string g = gz;
    g[n - 4] ^= 0x01;  // ISIZE
    v.push_back({"gzip_bad_isize", g, Code::kCorruption,
                 "compressed offset 0: incorrect length check"});
  }
  {
    std::string g = gz;
    g[10] = 0x07;  // first deflate block: BFINAL=1, BTYPE=11 (reserved)
    v.push_back({"corrupt_deflate", g, Code::kCorruption, "compressed offset 0: invalid block type"});
  }
  v.push_back({"gzip_trailing_garbage", gz + "garbage!", Code::kCorruption,
               "data after the last gzip member at compressed offset " + std::to_string(n)});
  {
    // A second member after garbage-free members is fine; a damaged second member names its offset.
    std::string g = gz + gz;
    g[n + 10] = 0x07;
    v.push_back({"corrupt_second_member", g, Code::kCorruption,
                 "corrupt gzip member at compressed offset " + std::to_string(n)});
  }
  // Tar layout of ValidTar: dir/ header @0, dir/a header @512, data @1024, dir/big header @1536,
  // data @2048..5048, padding to 5120, end blocks.
  v.push_back({"tar_truncated_header", tar.substr(0, 1536 + 100), Code::kCorruption,
               "truncated tar: header at offset 1536"});
  v.push_back({"tar_truncated_header_gz", GzipCompress(tar.substr(0, 1536 + 100)),
               Code::kCorruption, "truncated tar: header at offset 1536"});
  v.push_back({"tar_truncated_content", tar.substr(0, 2048 + 1000), Code::kCorruption,
               "content of 'dir/big' ends at offset 3048 with 2000 bytes missing"});
  v.push_back({"tar_truncated_padding", tar.substr(0, 5100), Code::kCorruption,
               "truncated tar: padding at offset 5048"});
  {
    TarBuilder b;
    Header h;
    h.name = "bad";
    h.corrupt_checksum = true;
    b.File("ok", "fine").Add(h, "data").End();
    v.push_back({"tar_bad_checksum", b.bytes(), Code::kCorruption,
                 "bad header checksum at offset 1024"});
    v.push_back({"tar_bad_checksum_gz", GzipCompress(b.bytes()), Code::kCorruption,
                 "bad header checksum at offset 1024"});
  }
  {
    TarBuilder b;
    b.File("ok", "fine").File("a/../../etc/evil", "x").End();
    v.push_back({"path_dotdot", b.bytes(), Code::kInvalidArgument,
                 "tar entry 'a/../../etc/evil' at offset 1024"});
  }
  {
    TarBuilder b;
    b.File("/etc/passwd", "root::0:0::/:/bin/sh\n").End();
    v.push_back({"absolute_path", b.bytes(), Code::kInvalidArgument,
                 "tar entry '/etc/passwd' at offset 0: absolute path"});
  }
  {
    TarBuilder b;
    b.File("ok", "fine").Hardlink("link", "../../etc/shadow").End();
    v.push_back({"hardlink_escape", b.bytes(), Code::kInvalidArgument,
                 "tar entry 'link' at offset 1024: hard link target '../../etc/shadow'"});
  }
  {
    TarBuilder b;
    b.Pax("99 path=x\n").File("a", "b").End();
    v.push_back({"pax_malformed", b.bytes(), Code::kCorruption, "at offset 0: malformed PAX record"});
  }
  {
    TarBuilder b;
    b.Pax(PaxRecord("path", "xy") + "11 novalue\n").File("a", "b").End();
    v.push_back({"pax_record_without_equals", b.bytes(), Code::kCorruption,
                 "at offset 0: PAX record without '='"});
  }
  {
    TarBuilder b;
    Header h;
    h.name = "PaxHeader";
    h.typeflag = 'x';
    h.size = tar::kMaxMetadataRecord + 1;
    b.File("a", "b").Add(h, "", /*keep_size=*/true).End();
    v.push_back({"pax_too_large", b.bytes(), Code::kCorruption,
                 "PAX header of " + std::to_string(tar::kMaxMetadataRecord + 1) +
                     " bytes at offset"});
  }
  v.push_back({"zstd", std::string("\x28\xb5\x2f\xfd\x00\x58\x11\x00\x00", 9) + "data",
               Code::kNotSupported, "zstd"});
  v.push_back({"empty", "", Code::kInvalidArgument, "input is empty"});
  v.push_back({"empty_gzip_stream", GzipCompress(""), Code::kInvalidArgument,
               "decompresses to nothing"});
  return v;
}

}  // namespace starlight::testing
