// Fuzz target: an archive part file of arbitrary bytes must open and read with a Status, never
// crash or read out of bounds (checksums stop most inputs early; the fuzzer's comparisons get
// past them, and the decoders behind them are what this exercises).
#include <unistd.h>

#include <cstdint>
#include <string>

#include "archive/part_file.h"
#include "common/file_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/vigil-fuzz-part-" + std::to_string(::getpid());
  if (!vigil::WriteFile(path, std::string(reinterpret_cast<const char*>(data), size)).ok()) {
    return 0;
  }
  vigil::Result<vigil::archive::PartReader> reader = vigil::archive::PartReader::Open(path);
  if (reader.ok()) {
    using namespace vigil::archive;
    PartColumns columns;
    if (reader->Read(kAllColumns, &columns).ok()) {
      for (size_t i = 0; i < columns.rows(); ++i) {
        (void)columns.ts(i);
        (void)columns.type(i);
        (void)columns.str(kFields, i);
        (void)columns.str(kVersion, i);
        (void)columns.str(kSubject, i);
        (void)columns.flags(i);
        (void)columns.bytes(i);
        (void)columns.latency(i);
        (void)columns.id_hash(i);
      }
    }
    // The batch layer's read: id hashes, and users as hashes in the pass that parses them.
    constexpr HashedColumns kHashed = {.xxh3_64 = ColumnBit(kUser)};
    if (reader->Read(ColumnBit(kIdHash) | ColumnBit(kUser) | ColumnBit(kTs), &columns, kHashed)
            .ok()) {
      for (size_t i = 0; i < columns.rows(); ++i) {
        (void)columns.hash64(kUser, i);
        (void)columns.id_hash(i);
      }
    }
    // Ids as 64-bit hashes beside id_hash (an old part hashes both from the values).
    constexpr HashedColumns kIds64 = {.xxh3_64 = ColumnBit(kId)};
    if (reader->Read(ColumnBit(kId) | ColumnBit(kIdHash), &columns, kIds64).ok()) {
      for (size_t i = 0; i < columns.rows(); ++i) {
        (void)columns.hash64(kId, i);
        (void)columns.id_hash(i);
      }
    }
    // Ids as hashes (an old part's id_hash is made this way).
    constexpr HashedColumns kIds = {.xxh3_128 = ColumnBit(kId)};
    if (reader->Read(ColumnBit(kId), &columns, kIds).ok()) {
      for (size_t i = 0; i < columns.rows(); ++i) (void)columns.hash128(kId, i);
    }
  }
  return 0;
}
