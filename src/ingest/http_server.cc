// h2o event loops, listeners, request dispatch and cross-thread replies.
#include "ingest/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/clock.h"
#include "common/json_writer.h"
#include "common/rate_limited_log.h"
#include "common/thread_name.h"
#include "common/wakeup_batch.h"

namespace vigil::ingest {

namespace {
thread_local h2o_multithread_receiver_t* current_receiver = nullptr;

// Replies completed inside this thread's WakeupBatch, one chain per loop, sent when it closes.
struct BatchedReplies {
  h2o_multithread_receiver_t* receiver;
  DeferredReply* head;
  DeferredReply* tail;
};
thread_local std::vector<BatchedReplies> batched_replies;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

struct Handler {
  h2o_handler_t super;  // first: h2o passes &super
  HttpServer* server;
};
}  // namespace

struct HttpServer::Loop {
  HttpServer* server = nullptr;
  h2o_evloop_t* evloop = nullptr;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  h2o_multithread_queue_t* queue = nullptr;
  h2o_multithread_receiver_t receiver;
  int listen_fd = -1;
  h2o_socket_t* listener = nullptr;
  int cpu = -1;  // the CPU the loop's thread is pinned to; -1: not pinned
  // Accepting paused (OnAccept): its timeout, and the entry whose callback resumes it.
  h2o_timeout_t accept_pause_timeout;
  struct AcceptPause {
    h2o_timeout_entry_t entry;  // first: the callback gets &entry
    Loop* loop;
  } accept_pause{};
  // The loop-lag probe (HttpServerOptions::observe_loop_lag): a timer due every kLoopLagProbeMs.
  h2o_timeout_t lag_probe_timeout;
  struct LagProbe {
    h2o_timeout_entry_t entry;  // first: the callback gets &entry
    Loop* loop;
    int64_t due_ns;  // monotonic
  } lag_probe{};
  RateLimitedLog accept_errors;
  std::thread thread;
};

namespace {
// The CPUs the process could run on before any loop was pinned (set once, by Start).
std::atomic<bool> loops_pinned{false};
cpu_set_t process_cpus;
}  // namespace

void UnpinFromLoop() {
  if (!loops_pinned.load(std::memory_order_acquire)) return;
  (void)::pthread_setaffinity_np(pthread_self(), sizeof(process_cpus), &process_cpus);
}

void SendJson(h2o_req_t* req, int status, std::string_view json, int retry_after_s) {
  req->res.status = status;
  req->res.reason = ReasonPhrase(status);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr,
                 H2O_STRLIT("application/json"));
  if (retry_after_s > 0) {
    h2o_iovec_t v = h2o_strdup(&req->pool, std::to_string(retry_after_s).c_str(), SIZE_MAX);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, nullptr, v.base, v.len);
  }
  h2o_iovec_t body = h2o_strdup(&req->pool, json.data(), json.size());
  req->res.content_length = body.len;  // without it HTTP/1.1 answers close the connection
  h2o_send_inline(req, body.base, body.len);
}

std::string ErrorJson(std::string_view message) {
  std::string body = "{\"error\":";
  AppendJsonString(&body, message);
  body += "}";
  return body;
}

void SendError(h2o_req_t* req, int status, std::string_view message, int retry_after_s) {
  SendJson(req, status, ErrorJson(message), retry_after_s);
}

std::string QueryParam(h2o_req_t* req, std::string_view key) {
  if (req->query_at == SIZE_MAX) return {};
  std::string_view q(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.substr(0, key.size()) == key && pair.size() > key.size() && pair[key.size()] == '=') {
      std::string out;
      std::string_view v = pair.substr(key.size() + 1);
      auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
          out.push_back(static_cast<char>(hex(v[i + 1]) * 16 + hex(v[i + 2])));
          i += 2;
        } else {
          out.push_back(v[i] == '+' ? ' ' : v[i]);
        }
      }
      return out;
    }
  }
  return {};
}

std::string_view RequestHeader(h2o_req_t* req, std::string_view lowercase_name) {
  ssize_t i =
      h2o_find_header_by_str(&req->headers, lowercase_name.data(), lowercase_name.size(), -1);
  if (i < 0) return {};
  const h2o_iovec_t& v = req->headers.entries[i].value;
  return std::string_view(v.base, v.len);
}

std::string_view RequestHeader(h2o_req_t* req, const h2o_token_t* token) {
  ssize_t i = h2o_find_header(&req->headers, token, -1);
  if (i < 0) return {};
  const h2o_iovec_t& v = req->headers.entries[i].value;
  return std::string_view(v.base, v.len);
}

namespace {
// The read callback of an HTTP/1 connection whose reply is deferred (see Defer): whatever comes
// (the client's next request sent early, or its closing) waits in the socket's input buffer, or
// in the socket, until h2o reads again after the reply.
void OnReadWhileDeferred(h2o_socket_t* sock, const char*) { h2o_socket_read_stop(sock); }
}  // namespace

DeferredReply* DeferredReply::Defer(h2o_req_t* req) {
  // h2o's HTTP/1 stops reading a connection while its request is processed, and starts again
  // after the reply: with a reply deferred past the loop's turn, that took the socket out of
  // epoll and put it back, two epoll_ctl calls per request, ~10 % of a loop's CPU at peak
  // ingest. Polled for reading meanwhile, nothing changes but the callback. Not for HTTP/2,
  // whose connection h2o reads throughout.
  if (req->version < 0x200 && req->conn->callbacks->get_socket != nullptr) {
    h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
    if (sock != nullptr && !h2o_socket_is_reading(sock)) {
      h2o_socket_read_start(sock, &OnReadWhileDeferred);
    }
  }
  auto* d = new DeferredReply();
  d->req_ = req;
  d->receiver_ = current_receiver;
  d->message_.reply = d;
  auto** slot = static_cast<DeferredReply**>(
      h2o_mem_alloc_shared(&req->pool, sizeof(DeferredReply*), &DeferredReply::OnDispose));
  *slot = d;
  return d;
}

void DeferredReply::OnDispose(void* slot) {
  DeferredReply* d = *static_cast<DeferredReply**>(slot);
  d->req_ = nullptr;
  d->Release();
}

void DeferredReply::Release() {
  if (--refs_ == 0) delete this;
}

void DeferredReply::Complete(int status, std::string body, int retry_after_s) {
  status_ = status;
  body_ = std::move(body);
  retry_after_s_ = retry_after_s;
  for (BatchedReplies& b : batched_replies) {
    if (b.receiver == receiver_) {  // the batch already holds this loop's wakeup
      b.tail->next_ = this;
      b.tail = this;
      return;
    }
  }
  if (WakeupBatch::Defer(receiver_, &DeferredReply::SendBatched)) {
    batched_replies.push_back({receiver_, this, this});
    return;
  }
  h2o_multithread_send_message(receiver_, &message_.super);
}

void DeferredReply::SendBatched(void* receiver) {
  for (size_t i = 0; i < batched_replies.size(); ++i) {
    if (batched_replies[i].receiver != receiver) continue;
    DeferredReply* head = batched_replies[i].head;
    batched_replies.erase(batched_replies.begin() + static_cast<ptrdiff_t>(i));
    h2o_multithread_send_message(static_cast<h2o_multithread_receiver_t*>(receiver),
                                 &head->message_.super);
    return;
  }
}

void HttpServer::OnMessages(h2o_multithread_receiver_t*, h2o_linklist_t* messages) {
  while (!h2o_linklist_is_empty(messages)) {
    auto* m = reinterpret_cast<DeferredReply::Message*>(messages->next);
    h2o_linklist_unlink(&m->super.link);
    for (DeferredReply* d = m->reply; d != nullptr;) {
      DeferredReply* next = d->next_;  // Release may delete d
      if (d->req_ != nullptr) SendJson(d->req_, d->status_, d->body_, d->retry_after_s_);
      d->Release();
      d = next;
    }
  }
}

HttpServer::HttpServer(HttpServerOptions options, RequestHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  h2o_config_init(&config_);
  config_.max_request_entity_size = options_.max_request_bytes;
  config_.server_name = h2o_iovec_init(H2O_STRLIT("vigil"));
  h2o_hostconf_t* host =
      h2o_config_register_host(&config_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  auto* h = reinterpret_cast<Handler*>(h2o_create_handler(path, sizeof(Handler)));
  h->server = this;
  h->super.on_req = &HttpServer::OnRequest;
  early_error_message_ = [this](std::string_view path, int status, std::string_view text) {
    std::string message = status == 413 ? "the request body is over this listener's limit of " +
                                              std::to_string(options_.max_request_bytes) + " bytes"
                                        : std::string(text);
    if (options_.on_early_error) {
      std::string hint = options_.on_early_error(path, status);
      if (!hint.empty()) message += "; " + hint;
    }
    return message;
  };
  InstallJsonErrorFilter(&host->fallback_path, &early_error_message_);
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::OnRequest(h2o_handler_t* self, h2o_req_t* req) {
  reinterpret_cast<Handler*>(self)->server->handler_(req);
  return 0;
}

void HttpServer::OnAccept(h2o_socket_t* listener, const char* err) {
  if (err != nullptr) return;
  auto* loop = static_cast<Loop*>(listener->data);
  h2o_socket_t* sock = h2o_evloop_socket_accept(listener);
  if (sock == nullptr) {
    const int err = errno;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      // The connection stays in the backlog and the listening socket readable: accepting again
      // at once spun the loop at 100 % of a CPU, starving its open connections. Pause instead,
      // as nginx does; the connection is accepted once a descriptor is free.
      h2o_socket_read_stop(listener);
      h2o_timeout_link(loop->evloop, &loop->accept_pause_timeout, &loop->accept_pause.entry);
      loop->server->accept_pauses_.fetch_add(1, std::memory_order_relaxed);
      loop->accept_errors.Print(
          std::string("vigil: cannot accept connections: ") + std::strerror(err) +
          (err == EMFILE ? "; raise the open-file limit of vigil (ulimit -n, or LimitNOFILE= in "
                           "its systemd unit)"
                         : "") +
          "; retrying every " + std::to_string(kAcceptPauseMs) + " ms");
    }
    return;
  }
  h2o_accept(&loop->accept_ctx, sock);
}

void HttpServer::OnAcceptPauseEnd(h2o_timeout_entry_t* entry) {
  Loop* loop = reinterpret_cast<Loop::AcceptPause*>(entry)->loop;
  if (loop->listener != nullptr) h2o_socket_read_start(loop->listener, &HttpServer::OnAccept);
}

// Binds a new socket to `host` (an IPv4 or IPv6 address literal, no brackets) and `port`.
// `share`: with SO_REUSEPORT, so that every loop's listener binds the same port.
static int Bind(const std::string& host, uint16_t port, bool share, int* fd_out) {
  sockaddr_storage addr{};
  socklen_t addr_len;
  if (host.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return EINVAL;
    addr_len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return EINVAL;
    addr_len = sizeof(sockaddr_in);
  }
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (share) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    int err = errno;
    ::close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

// A listener of one loop, sharing the port with the others (SO_REUSEPORT).
static int Listen(const std::string& host, uint16_t port, int* fd_out) {
  int fd;
  if (int err = Bind(host, port, /*share=*/true, &fd); err != 0) return err;
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  if (::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

// 0 if no server listens on `host`:`port` (or on a wildcard address covering it), else the
// bind error (EADDRINUSE). SO_REUSEPORT lets any process of the same user join a port its
// listeners share: a second vigil started on this port (another data directory) would take
// half of its connections, silently. A socket bound without it is refused by every listener
// there, ours or not (SO_REUSEADDR still lets it past connections closing in TIME_WAIT). Two
// servers starting in the same microseconds could both pass it; the data directory's lock does
// not cover that (another directory), and the window is the few syscalls to the first listen.
static int ProbePortFree(const std::string& host, uint16_t port) {
  int fd;
  if (int err = Bind(host, port, /*share=*/false, &fd); err != 0) return err;
  ::close(fd);
  return 0;
}

std::string HostPortText(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// What to do about a listen() that failed with `err`, for the error message; `flag` chose the
// address.
static std::string ListenHint(int err, const std::string& flag) {
  switch (err) {
    case EADDRINUSE:
      return " (another server uses that port: pick another with " + flag + ")";
    case EADDRNOTAVAIL:
      return " (no network interface of this machine has that address: use one it has, or "
             "0.0.0.0 / [::] for all)";
    case EACCES:
      return " (ports under 1024 need privileges: pick a higher one)";
    default:
      return "";
  }
}

Status HttpServer::Start() {
  signal(SIGPIPE, SIG_IGN);
  int threads = options_.threads > 0 ? options_.threads
                                     : static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  port_ = options_.port;
  auto cannot_listen = [this](int err) {
    return Status::IoError("cannot listen on " + HostPortText(options_.host, port_) + ": " +
                           std::strerror(err) + ListenHint(err, options_.listen_flag));
  };
  // Port 0 picks a free one; the loops then join the port the first one got.
  if (int err = port_ == 0 ? 0 : ProbePortFree(options_.host, port_); err != 0) {
    return cannot_listen(err);
  }
  for (int i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = this;
    int err = Listen(options_.host, port_, &loop->listen_fd);
    if (err != 0) {
      for (auto& l : loops_) ::close(l->listen_fd);
      loops_.clear();
      return cannot_listen(err);
    }
    if (port_ == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof(bound);
      ::getsockname(loop->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
      // The other loops join the same port.
      port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    loops_.push_back(std::move(loop));
  }
  if (options_.pin_loops) {
    std::vector<int> cpus;  // the CPUs this process may run on, in order
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
      }
    }
    if (cpus.size() == loops_.size()) {
      for (size_t i = 0; i < loops_.size(); ++i) loops_[i]->cpu = cpus[i];
      pinned_ = true;
      process_cpus = allowed;
      loops_pinned.store(true, std::memory_order_release);
    }
  }
  for (auto& l : loops_) {
    Loop* loop = l.get();
    loop->thread = std::thread([this, loop] { Run(loop); });
    if (loop->cpu >= 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(loop->cpu, &one);
      // Set here, so that it holds when Start returns. Best effort: a refusal (a sandbox)
      // leaves the loop where the kernel puts it.
      (void)::pthread_setaffinity_np(loop->thread.native_handle(), sizeof(one), &one);
    }
  }
  return Status::Ok();
}

void HttpServer::Run(Loop* loop) {
  SetThreadName("vigil-http");
  loop->evloop = h2o_evloop_create();
  h2o_context_init(&loop->ctx, loop->evloop, &config_);
  loop->accept_ctx = {};
  loop->accept_ctx.ctx = &loop->ctx;
  loop->accept_ctx.hosts = config_.hosts;
  loop->queue = h2o_multithread_create_queue(loop->evloop);
  h2o_multithread_register_receiver(loop->queue, &loop->receiver, &HttpServer::OnMessages);
  current_receiver = &loop->receiver;
  loop->listener =
      h2o_evloop_socket_create(loop->evloop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
  loop->listener->data = loop;
  h2o_timeout_init(loop->evloop, &loop->accept_pause_timeout, kAcceptPauseMs);
  loop->accept_pause.loop = loop;
  loop->accept_pause.entry.cb = &HttpServer::OnAcceptPauseEnd;
  h2o_socket_read_start(loop->listener, &HttpServer::OnAccept);
  if (options_.observe_loop_lag) {
    h2o_timeout_init(loop->evloop, &loop->lag_probe_timeout, kLoopLagProbeMs);
    loop->lag_probe.loop = loop;
    loop->lag_probe.entry.cb = &HttpServer::OnLagProbe;
    loop->lag_probe.due_ns =
        SystemClock()->MonotonicNs() + static_cast<int64_t>(kLoopLagProbeMs) * 1000000;
    h2o_timeout_link(loop->evloop, &loop->lag_probe_timeout, &loop->lag_probe.entry);
  }
  while (!stop_.load(std::memory_order_relaxed)) {
    h2o_evloop_run(loop->evloop, 50);
    if (stop_accepting_.load(std::memory_order_relaxed) && loop->listener != nullptr) {
      h2o_socket_read_stop(loop->listener);
      h2o_socket_close(loop->listener);  // closes listen_fd
      loop->listener = nullptr;
      if (h2o_timeout_is_linked(&loop->accept_pause.entry)) {
        h2o_timeout_unlink(&loop->accept_pause.entry);
      }
    }
  }
  // The process is ending: contexts, connections and the loop are reclaimed by the OS.
}

void HttpServer::OnLagProbe(h2o_timeout_entry_t* entry) {
  auto* probe = reinterpret_cast<Loop::LagProbe*>(entry);
  Loop* loop = probe->loop;
  int64_t now = SystemClock()->MonotonicNs();
  // h2o dates the link by the loop's cached clock, which may run behind: an early firing is 0.
  loop->server->options_.observe_loop_lag(std::max<int64_t>(0, now - probe->due_ns));
  probe->due_ns = now + static_cast<int64_t>(kLoopLagProbeMs) * 1000000;
  h2o_timeout_link(loop->evloop, &loop->lag_probe_timeout, &probe->entry);
}

void HttpServer::StopAccepting() { stop_accepting_ = true; }

void HttpServer::Stop() {
  stop_ = true;
  for (auto& l : loops_) {
    if (l->thread.joinable()) l->thread.join();
  }
}

}  // namespace vigil::ingest
