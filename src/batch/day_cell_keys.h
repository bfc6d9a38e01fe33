// DayCellKeys: the keys of the cells one batch run wrote for an (app, day), kept in the store
// next to the day's signature so that the next run of that day can delete what it no longer
// writes.
//
// A rerun overwrites the cells it writes, but a cell it does not write would keep its old counts
// for ever, and a sealed day answers from batch: a crash group whose crashes all moved to their
// real group once symbols arrived (reprocessing archives them again under the same event ids),
// or the first context of an event whose later delivery carried another. Deleting the keys of
// the previous list that the new one lacks makes a rerun's cells exactly the new computation.
//
// Encoding, front-coded as LevelDB's blocks are (keys sorted, each stored as the length of the
// prefix it shares with the key before it and the rest):
//   'K' version(1) varint n, then n × (varint shared, varint rest size, rest bytes)
// A day of an app with a million users has tens of thousands of cells; sharing the (app, metric,
// subject, version, os) prefixes keeps the list a few bytes per cell.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::batch {

// `keys` sorted and unique (encoded rollup keys).
std::string EncodeDayCellKeys(const std::vector<std::string>& keys);

// The keys of one encoded list, in order. Corruption if `bytes` is not exactly one well-formed
// list of this version with keys strictly increasing (the store may be damaged: every byte is
// checked, nothing is allocated beyond what `bytes` can hold).
Status DecodeDayCellKeys(std::string_view bytes, std::vector<std::string>* keys);

}  // namespace vigil::batch
