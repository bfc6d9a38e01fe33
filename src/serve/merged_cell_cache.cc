// Merged sealed-day cells shared across queries (see merged_cell_cache.h).
#include "serve/merged_cell_cache.h"

#include "common/prometheus_text.h"

namespace vigil::serve {

std::shared_ptr<const MergedCellCache::Cells> MergedCellCache::Find(const std::string& key,
                                                                    uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation == generation_) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return nullptr;
}

void MergedCellCache::Put(const std::string& key, uint64_t generation,
                          std::shared_ptr<const Cells> cells) {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation < generation_) return;  // merged before the batch layer's latest write
  if (generation > generation_ || cells_ + cells->size() > max_cells_) {
    entries_.clear();
    cells_ = 0;
    generation_ = generation;
  }
  if (cells->size() > max_cells_) return;
  auto [it, inserted] = entries_.emplace(key, std::move(cells));
  if (inserted) cells_ += it->second->size();
}

void MergedCellCache::RenderMetrics(std::string* out) const {
  AppendMetric(out, "vigil_query_cache_hits_total", "counter",
               "Queries that reused merged batch cells of sealed days.", hits_.load());
  AppendMetric(out, "vigil_query_cache_misses_total", "counter",
               "Queries that merged batch cells of sealed days from the store.", misses_.load());
  size_t cells;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cells = cells_;
  }
  AppendMetric(out, "vigil_query_cache_cells", "gauge", "Merged cells the query cache holds.",
               cells);
}

}  // namespace vigil::serve
