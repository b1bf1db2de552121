// Byte readers that compose: a streaming ByteSource and a pread-style RandomAccessReader.
//
// The seekable reader, the scanner and (later) the bundle builder and the FS read path stack on
// these, with file, HTTP-range and cache implementations behind the same interface.
// Implementations are not thread-safe unless they say so; FileReader::ReadAt is (pread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status/status.h"

namespace starlight::io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes into buf; returns 0 only at end of stream.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

class RandomAccessReader {
 public:
  virtual ~RandomAccessReader() = default;
  // Reads up to n bytes at offset; fewer only at end of data. Thread-safe.
  virtual Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const = 0;
  virtual uint64_t Size() const = 0;
};

// Reads exactly n bytes or fails with Corruption("unexpected end of ...").
Status ReadFull(ByteSource* src, char* buf, size_t n, std::string_view what);
Status ReadFullAt(const RandomAccessReader& r, uint64_t offset, char* buf, size_t n);
Result<std::string> ReadAllAt(const RandomAccessReader& r, uint64_t offset, size_t n);

// path "-" is standard input.
Result<std::unique_ptr<ByteSource>> OpenFileSource(const std::string& path);
Result<std::unique_ptr<RandomAccessReader>> OpenFileReader(const std::string& path);
// A source over bytes owned by the caller (kept alive while the source is used).
std::unique_ptr<ByteSource> NewStringSource(std::string_view data);
std::unique_ptr<RandomAccessReader> NewStringReader(std::string_view data);
// Reads from `first` until it is exhausted, then from `rest` (used to push back sniffed bytes).
std::unique_ptr<ByteSource> NewPrefixedSource(std::string prefix, std::unique_ptr<ByteSource> rest);

}  // namespace starlight::io
