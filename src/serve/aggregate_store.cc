// Store key encoding and WriteSet (see aggregate_store.h), shared by every store backend.
#include "serve/aggregate_store.h"

namespace vigil::serve {

std::string CellStoreKey(Layer layer, const aggregate::RollupKey& key) {
  std::string out(1, static_cast<char>(layer));
  out += aggregate::EncodeRollupKey(key);
  return out;
}

std::string MetaStoreKey(std::string_view name) {
  std::string out(1, 'm');
  out += name;
  return out;
}

void WriteSet::PutCell(Layer layer, const aggregate::RollupKey& key,
                       const aggregate::RollupCell& cell) {
  Op op;
  op.key = CellStoreKey(layer, key);
  cell.AppendTo(&op.value);
  ops_.push_back(std::move(op));
}

void WriteSet::DeleteCell(Layer layer, const aggregate::RollupKey& key) {
  Op op;
  op.put = false;
  op.key = CellStoreKey(layer, key);
  ops_.push_back(std::move(op));
}

void WriteSet::PutMeta(std::string_view key, std::string_view value) {
  ops_.push_back(Op{true, MetaStoreKey(key), std::string(value)});
}

void WriteSet::DeleteMeta(std::string_view key) {
  ops_.push_back(Op{false, MetaStoreKey(key), std::string()});
}

}  // namespace vigil::serve
