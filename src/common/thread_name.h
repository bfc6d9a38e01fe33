// Thread names, so `top -H`, `perf` and gdb show which stage burns the CPU.
#pragma once

#include <pthread.h>

#include <string>

namespace vigil {

// Linux keeps 15 bytes of a thread name; longer names are cut. Call from the thread itself.
inline void SetThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace vigil
