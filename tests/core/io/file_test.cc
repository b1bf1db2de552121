#include <gtest/gtest.h>

#include <string>

#include "core/io/reader.h"
#include "core/io/writer.h"
#include "tests/testing/temp_dir.h"

namespace starlight::io {
namespace {

using starlight::testing::ListDir;
using starlight::testing::ReadFile;
using starlight::testing::TempDir;
using starlight::testing::WriteFile;

TEST(AtomicFileWriterTest, InvisibleUntilCommit) {
  TempDir dir;
  std::string path = dir.Join("out.bin");
  auto w = AtomicFileWriter::Create(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string big(3 << 20, 'b');  // larger than the write buffer
  ASSERT_TRUE((*w)->Append("head").ok());
  ASSERT_TRUE((*w)->Append(big).ok());
  EXPECT_EQ((*w)->BytesWritten(), 4 + big.size());
  // Only a hidden temporary file exists before Commit.
  auto names = ListDir(dir.path());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind(".out.bin.tmp-", 0), 0u) << names[0];
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ(ListDir(dir.path()), std::vector<std::string>{"out.bin"});
  EXPECT_EQ(ReadFile(path), "head" + big);
}

TEST(AtomicFileWriterTest, AbandonedWriterLeavesNothing) {
  TempDir dir;
  {
    auto w = AtomicFileWriter::Create(dir.Join("out.bin"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(std::string(5 << 20, 'x')).ok());
  }
  EXPECT_TRUE(ListDir(dir.path()).empty());
}

TEST(AtomicFileWriterTest, ReplacesExistingFileAndFailsInMissingDir) {
  TempDir dir;
  std::string path = dir.Join("f");
  WriteFile(path, "old");
  ASSERT_TRUE(WriteFileAtomic(path, "new").ok());
  EXPECT_EQ(ReadFile(path), "new");
  Status s = WriteFileAtomic(dir.Join("missing/f"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
}

TEST(FileReaderTest, ReadAtAndSources) {
  TempDir dir;
  std::string path = dir.Join("data");
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 7);
  WriteFile(path, data);
  auto r = OpenFileReader(path);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Size(), data.size());
  auto part = ReadAllAt(**r, 12345, 1000);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(*part, data.substr(12345, 1000));
  EXPECT_EQ(ReadAllAt(**r, data.size() - 10, 11).status().code(), Code::kCorruption);
  char c;
  auto past = (*r)->ReadAt(data.size() + 5, &c, 1);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(*past, 0u);

  auto all = ReadFileToString(path);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, data);
  EXPECT_EQ(OpenFileSource(dir.Join("nope")).status().code(), Code::kNotFound);
  EXPECT_EQ(OpenFileSource(dir.path()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OpenFileReader(dir.path()).status().code(), Code::kInvalidArgument);
}

TEST(SourceTest, StringPrefixedAndReadFull) {
  std::string rest = "world";
  auto src = NewPrefixedSource("hello ", NewStringSource(rest));
  char buf[32];
  ASSERT_TRUE(ReadFull(src.get(), buf, 11, "greeting").ok());
  EXPECT_EQ(std::string(buf, 11), "hello world");
  auto n = src->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);

  auto short_src = NewStringSource("abc");
  Status s = ReadFull(short_src.get(), buf, 5, "thing");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("unexpected end of thing (3 of 5 bytes)"), std::string::npos)
      << s.message();

  std::string d = "0123456789";
  auto r = NewStringReader(d);
  EXPECT_EQ(r->Size(), 10u);
  auto got = ReadAllAt(*r, 3, 4);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "3456");
}

}  // namespace
}  // namespace starlight::io
