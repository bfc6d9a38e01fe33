// JobThread: one thread running queued jobs in order, for work that must stay off event loops
// (symbol conversions, writes of uploaded chunks).
//
// Post from any thread. The destructor runs every job already queued, then joins, so a job
// that owes a client an answer always gives it.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace vigil {

class JobThread {
 public:
  // Starts the thread, named `name` (15 bytes are kept).
  explicit JobThread(std::string name);
  ~JobThread();
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  void Post(std::function<void()> job);

 private:
  void Run(const std::string& name);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace vigil
