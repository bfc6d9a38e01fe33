// The queue and loop of JobThread.
#include "common/job_thread.h"

#include "common/thread_name.h"

namespace vigil {

JobThread::JobThread(std::string name) {
  thread_ = std::thread([this, name = std::move(name)] { Run(name); });
}

JobThread::~JobThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void JobThread::Post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void JobThread::Run(const std::string& name) {
  SetThreadName(name);
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace vigil
