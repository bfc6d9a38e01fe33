// HttpServer: libh2o event loops, one per thread, each with its own SO_REUSEPORT listening socket.
//
// Every request goes to one RequestHandler, on the loop thread that accepted the connection. A
// handler answers at once with SendJson, or later — from any thread, e.g. the log's writer
// after an fsync — through a DeferredReply, which is delivered to the request's own loop via an
// h2o multithread queue. If the client went away meanwhile, the reply is dropped safely.
#pragma once

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "ingest/json_error_filter.h"

namespace vigil::ingest {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IPv4 or IPv6 address, without brackets
  uint16_t port = 8080;            // 0: an ephemeral port (see HttpServer::port)
  // The setting that chose host and port, named in the fix of a listen error.
  std::string listen_flag = "--listen";
  int threads = 0;  // 0: one per core
  // Pins loop i to the i-th CPU the process may run on, when there are exactly as many loops as
  // such CPUs (and pins nothing otherwise). Unpinned, the kernel now and then ran both loops of
  // a 2-core VM on one CPU, one waiting for the other: at half the peak ingest rate, p99
  // 5.2-7.4 ms unpinned against 3.1-5.5 ms pinned (6 pairs; peak unchanged).
  bool pin_loops = false;
  // Bodies larger than this are refused by h2o itself (413) before any handler runs; handlers
  // enforce their own, smaller caps with their own errors.
  size_t max_request_bytes = 8 << 20;
  // Called on the loop thread for each answer h2o gives by itself (such a 413; 400 for a broken
  // Content-Length or chunked body), with the request's path and the status; what it returns is
  // added to the error's text (e.g. where large files go instead). May be empty. Those answers
  // are JSON errors like every other (ingest/json_error_filter.h).
  std::function<std::string(std::string_view path, int status)> on_early_error;
  // Called on each loop's thread every kLoopLagProbeMs with how late that loop's probe timer
  // fired (ns, >= 0): the time the loop could not run, busy with one round of events or not
  // scheduled by the kernel. Every request arriving meanwhile waits that long. May be empty.
  std::function<void(int64_t late_ns)> observe_loop_lag;
};

// A thread started from a loop thread inherits its CPU pinning (HttpServerOptions::pin_loops);
// such a thread calls this first to run on every CPU the process could when the server started.
// A no-op where no loop is pinned.
void UnpinFromLoop();

// Loop thread only.
void SendJson(h2o_req_t* req, int status, std::string_view json, int retry_after_s = 0);
// The error body {"error": message}.
std::string ErrorJson(std::string_view message);
// Sends ErrorJson(message).
void SendError(h2o_req_t* req, int status, std::string_view message, int retry_after_s = 0);
// The value of a request header, or "" if absent.
std::string_view RequestHeader(h2o_req_t* req, const h2o_token_t* token);
// The same for a header that is not an h2o token, by its lowercase name.
std::string_view RequestHeader(h2o_req_t* req, std::string_view lowercase_name);
// The request's method ("GET", "POST", ...).
inline std::string_view RequestMethod(h2o_req_t* req) {
  return {req->method.base, req->method.len};
}
// The value of `key` in the query string, percent- and '+'-decoded; "" if absent.
std::string QueryParam(h2o_req_t* req, std::string_view key);
// "HOST:PORT" for a listen address, with an IPv6 address in brackets ("[::1]:8080").
std::string HostPortText(const std::string& host, uint16_t port);

// A reply to be sent later. Created on the loop thread with Defer(); Complete() must be called
// exactly once, from any thread; the object deletes itself. Inside a WakeupBatch
// (common/wakeup_batch.h), the replies completed for one loop wake it once, when the batch ends.
class DeferredReply {
 public:
  static DeferredReply* Defer(h2o_req_t* req);
  void Complete(int status, std::string body, int retry_after_s = 0);

 private:
  friend class HttpServer;
  struct Message {
    h2o_multithread_message_t super;  // first: h2o links messages through it
    DeferredReply* reply;
  };
  static void OnDispose(void* slot);
  // WakeupBatch flush: sends the replies this thread completed for one loop as one message.
  static void SendBatched(void* receiver);
  void Release();

  Message message_;
  h2o_req_t* req_ = nullptr;  // null once h2o freed the request (loop thread only)
  h2o_multithread_receiver_t* receiver_ = nullptr;
  DeferredReply* next_ = nullptr;  // the next reply sent in the same message
  int refs_ = 2;                   // the request's pool and the pending Complete
  int status_ = 500;
  int retry_after_s_ = 0;
  std::string body_;
};

class HttpServer {
 public:
  using RequestHandler = std::function<void(h2o_req_t* req)>;

  HttpServer(HttpServerOptions options, RequestHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the loops. IoError naming the address if it cannot bind.
  Status Start();
  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }
  int threads() const { return static_cast<int>(loops_.size()); }
  // Whether each loop runs pinned to a CPU of its own (HttpServerOptions::pin_loops).
  bool pinned() const { return pinned_; }
  // Closes the listening sockets; open connections keep being served until Stop.
  void StopAccepting();
  // Times a loop stopped accepting for kAcceptPauseMs because the process was out of file
  // descriptors (or the kernel of socket memory). Retrying at once would spin: the waiting
  // connection keeps the listening socket readable.
  uint64_t accept_pauses() const { return accept_pauses_.load(std::memory_order_relaxed); }
  static constexpr uint64_t kAcceptPauseMs = 100;
  static constexpr uint64_t kLoopLagProbeMs = 100;
  // Stops and joins the loops.
  void Stop();

 private:
  struct Loop;
  static void OnAccept(h2o_socket_t* listener, const char* err);
  static void OnAcceptPauseEnd(h2o_timeout_entry_t* entry);
  static void OnLagProbe(h2o_timeout_entry_t* entry);
  static int OnRequest(h2o_handler_t* self, h2o_req_t* req);
  static void OnMessages(h2o_multithread_receiver_t* receiver, h2o_linklist_t* messages);
  void Run(Loop* loop);

  HttpServerOptions options_;
  RequestHandler handler_;
  EarlyErrorMessage early_error_message_;  // for the JsonErrorFilter on config_
  h2o_globalconf_t config_;
  uint16_t port_ = 0;
  std::vector<std::unique_ptr<Loop>> loops_;
  bool pinned_ = false;
  std::atomic<bool> stop_accepting_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accept_pauses_{0};
};

}  // namespace vigil::ingest
