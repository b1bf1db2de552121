#include "core/status/status.h"

#include <cstring>

namespace starlight {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kCorruption: return "corruption";
    case Code::kIoError: return "io error";
    case Code::kUnavailable: return "unavailable";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kNotSupported: return "not supported";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

Status::Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

Status Status::FromErrno(std::string_view what, int err) {
  Code code = Code::kIoError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EEXIST) code = Code::kAlreadyExists;
  if (err == EACCES || err == EPERM) code = Code::kPermissionDenied;
  std::string m(what);
  m += ": ";
  m += std::strerror(err);
  return Status(code, std::move(m));
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

}  // namespace starlight
