// HttpClient: a minimal blocking HTTP/1.1 client that keeps one connection alive, for loadgen.
//
// A load generator must measure the server, not its own client: one TCP connection per worker,
// reused across requests (keep-alive), no TLS, no proxy, no redirects. It speaks just enough
// HTTP/1.1 for Vigil's own answers: a status line, headers, and a body framed by Content-Length,
// chunked encoding or the connection closing. When the server has closed an idle connection the
// request is sent again once on a new one; a failure after the answer began is reported as is.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vigil::loadgen {

// The parts of an `http://HOST[:PORT][/path]` URL.
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path;  // "" when the URL has none; otherwise starts with '/'
};

// InvalidArgument for anything but a plain http:// URL with a host (https is not supported).
Result<HttpUrl> ParseHttpUrl(std::string_view url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names lower-cased
  std::string body;

  // The value of header `name` (lower case), or "" if absent.
  std::string_view Header(std::string_view name) const;
};

// Not thread-safe: one client per thread. Copying is disabled (it owns a socket).
class HttpClient {
 public:
  // Connects lazily, on the first request. `timeout_ms` bounds each connect, send and receive.
  HttpClient(std::string host, uint16_t port, int timeout_ms);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a POST and reads the whole answer. Host, Content-Length and User-Agent are added.
  // IoError when the connection fails or times out; Corruption when the answer is not HTTP.
  // Any HTTP status, 4xx and 5xx included, is a successful Result.
  Result<HttpResponse> Post(std::string_view path, const HttpHeaders& headers,
                            std::string_view body);
  // Called while a request is sent: bytes of the request sent so far, and its total size.
  using Progress = std::function<void(size_t sent, size_t total)>;
  // Any method; the same contract as Post. `progress` (may be empty) is called per 256 KiB sent.
  Result<HttpResponse> Request(std::string_view method, std::string_view path,
                               const HttpHeaders& headers, std::string_view body,
                               const Progress& progress = {});

  // Opens the connection now rather than on the first request (to fail fast); IoError if the
  // server cannot be reached. No-op when already connected.
  Status Connect();

  // Closes the connection, if open; the next request opens a new one.
  void Close();

 private:
  Status SendAll(std::string_view data, const Progress& progress = {});
  // Reads more bytes into buffer_; IoError on timeout, error or a closed connection.
  Status ReadMore();
  Status ReadResponse(HttpResponse* response);
  Status ReadChunkedBody(size_t pos, HttpResponse* response);

  std::string host_;
  uint16_t port_;
  int timeout_ms_;
  int fd_ = -1;
  std::string buffer_;         // bytes received but not yet consumed
  bool received_any_ = false;  // whether the current answer has begun to arrive
};

}  // namespace vigil::loadgen
