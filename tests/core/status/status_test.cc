#include "core/status/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

namespace starlight {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  struct Case {
    Status s;
    Code code;
    const char* name;
  } cases[] = {
      {Status::NotFound("m"), Code::kNotFound, "not found"},
      {Status::AlreadyExists("m"), Code::kAlreadyExists, "already exists"},
      {Status::InvalidArgument("m"), Code::kInvalidArgument, "invalid argument"},
      {Status::Corruption("m"), Code::kCorruption, "corruption"},
      {Status::IoError("m"), Code::kIoError, "io error"},
      {Status::Unavailable("m"), Code::kUnavailable, "unavailable"},
      {Status::Unauthenticated("m"), Code::kUnauthenticated, "unauthenticated"},
      {Status::PermissionDenied("m"), Code::kPermissionDenied, "permission denied"},
      {Status::FailedPrecondition("m"), Code::kFailedPrecondition, "failed precondition"},
      {Status::NotSupported("m"), Code::kNotSupported, "not supported"},
      {Status::Internal("m"), Code::kInternal, "internal"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(c.s.ok());
    EXPECT_EQ(c.s.code(), c.code);
    EXPECT_EQ(c.s.message(), "m");
    EXPECT_EQ(CodeName(c.code), c.name);
    EXPECT_EQ(c.s.ToString(), std::string(c.name) + ": m");
  }
}

TEST(StatusTest, WithContextPrependsAndKeepsCode) {
  Status s = Status::Corruption("bad footer magic").WithContext("reading ToC").WithContext("layer x");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "layer x: reading ToC: bad footer magic");
  EXPECT_EQ(s.ToString(), "corruption: layer x: reading ToC: bad footer magic");
  EXPECT_TRUE(Status::Ok().WithContext("ignored").ok());
  EXPECT_EQ(Status::Ok().WithContext("ignored").message(), "");
}

TEST(StatusTest, FromErrnoMapsCommonErrors) {
  EXPECT_EQ(Status::FromErrno("open /x", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(Status::FromErrno("mkdir /x", EEXIST).code(), Code::kAlreadyExists);
  EXPECT_EQ(Status::FromErrno("open /x", EACCES).code(), Code::kPermissionDenied);
  EXPECT_EQ(Status::FromErrno("open /x", EPERM).code(), Code::kPermissionDenied);
  Status io = Status::FromErrno("write /x", EIO);
  EXPECT_EQ(io.code(), Code::kIoError);
  EXPECT_EQ(io.message().rfind("write /x: ", 0), 0u) << io.message();
  EXPECT_GT(io.message().size(), std::string("write /x: ").size());
}

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  SL_ASSIGN_OR_RETURN(int h, Half(x));
  SL_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  SL_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(ResultTest, ValueAndError) {
  Result<int> ok = Half(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 4);
  EXPECT_EQ(ok.value(), 4);
  EXPECT_TRUE(ok.status().ok());

  Result<int> bad = Half(3);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "3 is odd");
}

TEST(ResultTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(12), 3);
  Result<int> r = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(2).ok());
  EXPECT_EQ(CheckEven(1).code(), Code::kInvalidArgument);
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("x");
  ASSERT_TRUE(r.ok());
  std::unique_ptr<std::string> p = std::move(r).value();
  EXPECT_EQ(*p, "x");
  Result<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
}

}  // namespace
}  // namespace starlight
