// A small HTTP/1.1 client over cpp-httplib that keeps httplib out of every other header.
//
// Connections are pooled per origin (scheme://host:port) and re-used; Send is thread-safe and
// concurrent requests use separate connections. Bodies of 2xx responses can be streamed to a
// callback, request bodies read from a RandomAccessReader (uploads of any size). Redirects are
// followed only when asked, and the Authorization header is never sent to another origin.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/io/reader.h"
#include "core/status/status.h"

namespace starlight::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup; empty when absent.
std::string FindHeader(const Headers& headers, std::string_view name);

struct Url {
  std::string scheme;  // http or https
  std::string host;    // without brackets
  int port = 0;
  std::string target;  // path and query, starting with '/'
  std::string Origin() const;  // scheme://host:port
};
Result<Url> ParseUrl(std::string_view url);
// Resolves a Location header (absolute, scheme-relative or path) against `base`.
Result<std::string> ResolveUrl(const Url& base, std::string_view location);
// Percent-encodes a query parameter value.
std::string QueryEscape(std::string_view s);

struct Request {
  std::string method = "GET";
  std::string url;  // absolute
  Headers headers;
  std::string body;
  // Alternatively the body is read from here: [body_offset, body_offset + body_length).
  const io::RandomAccessReader* body_reader = nullptr;
  uint64_t body_offset = 0;
  uint64_t body_length = 0;
  std::string content_type;
  // Receives the body of a 2xx response as it arrives (instead of Response::body); an error
  // aborts the transfer and is returned by Send.
  std::function<Status(std::string_view)> on_body;
  // GET only: called with each response's status and headers before its body arrives.
  std::function<void(int status, const Headers& headers)> on_response;
  bool follow_redirects = false;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;  // unless streamed to on_body; 2xx bodies over 256 MiB are an error, error
                     // bodies are cut at 1 MiB
  std::string url;   // after redirects
  std::string Header(std::string_view name) const { return FindHeader(headers, name); }
};

struct ClientOptions {
  std::string ca_cert_file;           // extra CA bundle; system CAs otherwise
  bool insecure_skip_tls_verify = false;
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 120;
  std::string user_agent = "starlight/0.1";
};

class Client {
 public:
  virtual ~Client() = default;
  // Fails (Unavailable) only when no HTTP response arrived; any status code is a Response.
  virtual Result<Response> Send(const Request& request) = 0;
};

std::unique_ptr<Client> NewClient(const ClientOptions& options);

}  // namespace starlight::http
