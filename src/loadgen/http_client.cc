// HttpClient over a blocking POSIX socket with SO_RCVTIMEO/SO_SNDTIMEO as the timeouts.
#include "loadgen/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace vigil::loadgen {

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

template <typename T>
bool ParseNumber(std::string_view s, T* out, int base = 10) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (Lower(url.substr(0, kScheme.size())) != kScheme) {
    return Status::InvalidArgument("'" + std::string(url) +
                                   "' is not an http:// URL (like http://127.0.0.1:8080)");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  HttpUrl parsed;
  if (slash != std::string_view::npos) {
    parsed.path = std::string(rest.substr(slash));
    if (parsed.path[0] == '?') parsed.path = "/" + parsed.path;
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {  // IPv6 literal
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("bad IPv6 address in URL '" + std::string(url) + "'");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return Status::InvalidArgument("bad URL '" + std::string(url) + "'");
      }
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    return Status::InvalidArgument("URL '" + std::string(url) + "' has no host");
  }
  parsed.host = std::string(host);
  if (!port.empty()) {
    uint32_t value = 0;
    if (!ParseNumber(port, &value) || value == 0 || value > 65535) {
      return Status::InvalidArgument("bad port '" + std::string(port) + "' in URL '" +
                                     std::string(url) + "'");
    }
    parsed.port = static_cast<uint16_t>(value);
  }
  return parsed;
}

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

HttpClient::HttpClient(std::string host, uint16_t port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

Status HttpClient::Connect() {
  if (fd_ >= 0) return Status::Ok();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addrs = nullptr;
  std::string port = std::to_string(port_);
  int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &addrs);
  if (rc != 0) {
    return Status::IoError("cannot resolve " + host_ + ": " + ::gai_strerror(rc));
  }
  timeval tv{};
  tv.tv_sec = timeout_ms_ / 1000;
  tv.tv_usec = (timeout_ms_ % 1000) * 1000;
  int last_errno = 0;
  for (addrinfo* a = addrs; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    // On Linux SO_SNDTIMEO bounds connect() too.
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ::freeaddrinfo(addrs);
      fd_ = fd;
      buffer_.clear();
      return Status::Ok();
    }
    last_errno = errno;
    ::close(fd);
  }
  ::freeaddrinfo(addrs);
  if (last_errno == EINPROGRESS || last_errno == EAGAIN) {
    return Status::IoError("connect to " + host_ + ":" + port + " timed out");
  }
  return Status::FromErrno("connect to " + host_ + ":" + port, last_errno);
}

Status HttpClient::SendAll(std::string_view data, const Progress& progress) {
  const size_t total = data.size();
  while (!data.empty()) {
    const size_t piece = progress ? std::min<size_t>(data.size(), 256 << 10) : data.size();
    ssize_t n = ::send(fd_, data.data(), piece, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::IoError("send to " + host_ + ":" + std::to_string(port_) + " timed out");
      }
      return Status::FromErrno("send to " + host_ + ":" + std::to_string(port_), errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    if (progress) progress(total - data.size(), total);
  }
  return Status::Ok();
}

Status HttpClient::ReadMore() {
  char chunk[64 * 1024];
  while (true) {
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      received_any_ = true;
      return Status::Ok();
    }
    if (n == 0) return Status::IoError("connection closed by " + host_);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Status::IoError("no answer from " + host_ + ":" + std::to_string(port_) + " within " +
                             std::to_string(timeout_ms_) + " ms");
    }
    return Status::FromErrno("receive from " + host_, errno);
  }
}

Result<HttpResponse> HttpClient::Post(std::string_view path, const HttpHeaders& headers,
                                      std::string_view body) {
  return Request("POST", path, headers, body);
}

Result<HttpResponse> HttpClient::Request(std::string_view method, std::string_view path,
                                         const HttpHeaders& headers, std::string_view body,
                                         const Progress& progress) {
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(host_);
  request.append(":").append(std::to_string(port_)).append("\r\n");
  request.append("User-Agent: vigil-loadgen\r\nContent-Length: ");
  request.append(std::to_string(body.size())).append("\r\n");
  for (const auto& [name, value] : headers) {
    request.append(name).append(": ").append(value).append("\r\n");
  }
  request.append("\r\n").append(body);

  // A kept-alive connection may have been closed by the server while idle; that shows up as a
  // failure before any byte of the answer, and then the request is sent once more on a new one.
  for (int attempt = 0;; ++attempt) {
    bool reused = fd_ >= 0;
    if (!reused) VIGIL_RETURN_IF_ERROR(Connect());
    received_any_ = false;
    Status status = SendAll(request, progress);
    HttpResponse response;
    if (status.ok()) status = ReadResponse(&response);
    if (status.ok()) {
      if (Lower(response.Header("connection")) == "close") Close();
      return response;
    }
    Close();
    if (!reused || received_any_ || attempt > 0) return status;
  }
}

Status HttpClient::ReadResponse(HttpResponse* response) {
  size_t header_end;
  while (true) {
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > kMaxHeaderBytes) {
        return Status::Corruption("answer headers from " + host_ + " exceed 64 KiB");
      }
      VIGIL_RETURN_IF_ERROR(ReadMore());
    }
    std::string_view head(buffer_.data(), header_end);
    size_t line_end = head.find("\r\n");
    std::string_view status_line = head.substr(0, line_end);
    if (status_line.substr(0, 7) != "HTTP/1." || status_line.size() < 12 ||
        !ParseNumber(status_line.substr(9, 3), &response->status)) {
      return Status::Corruption("not an HTTP answer from " + host_ + ": '" +
                                std::string(status_line.substr(0, 80)) + "'");
    }
    response->headers.clear();
    while (line_end != std::string_view::npos) {
      head.remove_prefix(line_end + 2);
      line_end = head.find("\r\n");
      std::string_view line = head.substr(0, line_end);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      response->headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                     std::string(Trim(line.substr(colon + 1))));
    }
    if (response->status >= 200) break;
    buffer_.erase(0, header_end + 4);  // an interim 1xx answer: the real one follows
  }

  size_t body_start = header_end + 4;
  if (Lower(response->Header("transfer-encoding")).find("chunked") != std::string::npos) {
    return ReadChunkedBody(body_start, response);
  }
  std::string_view length_text = response->Header("content-length");
  if (!length_text.empty()) {
    size_t length = 0;
    if (!ParseNumber(length_text, &length) || length > kMaxBodyBytes) {
      return Status::Corruption("bad Content-Length '" + std::string(length_text) + "' from " +
                                host_);
    }
    while (buffer_.size() < body_start + length) VIGIL_RETURN_IF_ERROR(ReadMore());
    response->body.assign(buffer_, body_start, length);
    buffer_.erase(0, body_start + length);
    return Status::Ok();
  }
  if (response->status == 204 || response->status == 304) {
    buffer_.erase(0, body_start);
    return Status::Ok();
  }
  // No framing: the body runs until the server closes the connection.
  while (true) {
    if (buffer_.size() > body_start + kMaxBodyBytes) {
      return Status::Corruption("answer body from " + host_ + " exceeds 64 MiB");
    }
    if (!ReadMore().ok()) break;
  }
  response->body.assign(buffer_, body_start);
  Close();
  return Status::Ok();
}

Status HttpClient::ReadChunkedBody(size_t pos, HttpResponse* response) {
  response->body.clear();
  while (true) {
    size_t line_end;
    while ((line_end = buffer_.find("\r\n", pos)) == std::string::npos) {
      if (buffer_.size() - pos > kMaxHeaderBytes) {
        return Status::Corruption("bad chunk header from " + host_);
      }
      VIGIL_RETURN_IF_ERROR(ReadMore());
    }
    std::string_view size_text(buffer_.data() + pos, line_end - pos);
    size_text = Trim(size_text.substr(0, size_text.find(';')));
    size_t size = 0;
    if (!ParseNumber(size_text, &size, 16) || size > kMaxBodyBytes ||
        response->body.size() + size > kMaxBodyBytes) {
      return Status::Corruption("bad chunk size '" + std::string(size_text) + "' from " + host_);
    }
    pos = line_end + 2;
    if (size == 0) break;
    while (buffer_.size() < pos + size + 2) VIGIL_RETURN_IF_ERROR(ReadMore());
    response->body.append(buffer_, pos, size);
    pos += size + 2;
  }
  // Trailer lines, if any, then the empty line that ends the message.
  while (true) {
    size_t line_end;
    while ((line_end = buffer_.find("\r\n", pos)) == std::string::npos) {
      if (buffer_.size() - pos > kMaxHeaderBytes) {
        return Status::Corruption("bad chunk trailer from " + host_);
      }
      VIGIL_RETURN_IF_ERROR(ReadMore());
    }
    bool empty = line_end == pos;
    pos = line_end + 2;
    if (empty) break;
  }
  buffer_.erase(0, pos);
  return Status::Ok();
}

}  // namespace vigil::loadgen
