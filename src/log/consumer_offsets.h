// Consumer offsets of LocalLog: one small file per (partition, consumer), replaced atomically.
//
//   <partition dir>/consumers/<consumer>.offset   containing   "vigil-offset 1 <next offset>\n"
//
// A missing file means the consumer never committed: it starts at the earliest retained record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace vigil::log {

// Consumer names are 1–64 characters of [A-Za-z0-9_.-].
bool IsValidConsumerName(std::string_view name);
Status WriteConsumerOffset(const std::string& partition_dir, std::string_view consumer,
                           uint64_t next_offset);
// nullopt if never committed; Corruption if the file is unreadable as an offset.
Result<std::optional<uint64_t>> ReadConsumerOffset(const std::string& partition_dir,
                                                   std::string_view consumer);
std::vector<std::string> ListConsumers(const std::string& partition_dir);

}  // namespace vigil::log
