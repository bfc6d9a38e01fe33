// Batch-or-speed merging of stored cells (see layer_merge.h).
#include "serve/layer_merge.h"

namespace vigil::serve {

Layer LayerMerge::SourceOf(Granularity g, int64_t bucket_ms) const {
  if (g == Granularity::kMinute) return Layer::kSpeed;
  return sealed_.count(BucketStart(bucket_ms, Granularity::kDay)) != 0 ? Layer::kBatch
                                                                       : Layer::kSpeed;
}

Status LayerMerge::Series(const aggregate::RollupKey& series, int64_t from_ms, int64_t to_ms,
                          size_t max_points, std::vector<MergedPoint>* out) {
  out->clear();
  const Granularity g = series.granularity;
  const int64_t width = BucketWidthMs(g);
  const int64_t from = BucketStart(from_ms, g);
  if (to_ms <= from) return Status::Ok();
  const uint64_t n = static_cast<uint64_t>((to_ms - from + width - 1) / width);
  if (n > max_points) {
    return Status::InvalidArgument("the range holds " + std::to_string(n) + " " +
                                   std::string(GranularityName(g)) +
                                   " buckets, over the limit of " + std::to_string(max_points) +
                                   "; ask for a shorter range or a coarser granularity");
  }
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    (*out)[i].bucket_ms = from + static_cast<int64_t>(i) * width;
    (*out)[i].source = SourceOf(g, (*out)[i].bucket_ms);
  }
  Status decode_error;
  for (Layer layer : {Layer::kBatch, Layer::kSpeed}) {
    if (layer == Layer::kBatch && g == Granularity::kMinute) continue;
    VIGIL_RETURN_IF_ERROR(
        store_->ScanSeries(layer, series, from, to_ms, [&](int64_t bucket, std::string_view bytes) {
          if (bucket < from || (bucket - from) % width != 0) return;
          MergedPoint& p = (*out)[static_cast<size_t>((bucket - from) / width)];
          if (p.source != layer) return;
          Status st = aggregate::RollupCell::Decode(bytes, &p.cell);
          if (!st.ok() && decode_error.ok()) decode_error = st;
        }));
  }
  return decode_error;
}

Status LayerMerge::Subjects(const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                            std::map<std::string, aggregate::RollupCell>* out) {
  return MergeNamed(&AggregateStore::ScanSubjects, key, from_ms, to_ms, out);
}

Status LayerMerge::Versions(const aggregate::RollupKey& key, int64_t from_ms, int64_t to_ms,
                            std::map<std::string, aggregate::RollupCell>* out) {
  return MergeNamed(&AggregateStore::ScanVersions, key, from_ms, to_ms, out);
}

Status LayerMerge::SubjectsOver(aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                                std::map<std::string, aggregate::RollupCell>* out) {
  return MergeOver(&AggregateStore::ScanSubjects, std::move(key), from_ms, to_ms, out);
}

Status LayerMerge::VersionsOver(aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                                std::map<std::string, aggregate::RollupCell>* out) {
  return MergeOver(&AggregateStore::ScanVersions, std::move(key), from_ms, to_ms, out);
}

Status LayerMerge::MergeOver(Scan scan, aggregate::RollupKey key, int64_t from_ms, int64_t to_ms,
                             std::map<std::string, aggregate::RollupCell>* out) {
  if (from_ms >= to_ms) return Status::Ok();
  const int64_t first_day = BucketStart(from_ms + kDayMs - 1, Granularity::kDay);
  const int64_t end_day = BucketStart(to_ms, Granularity::kDay);
  key.granularity = Granularity::kHour;
  if (first_day >= end_day) return MergeNamed(scan, key, from_ms, to_ms, out);
  if (from_ms < first_day) VIGIL_RETURN_IF_ERROR(MergeNamed(scan, key, from_ms, first_day, out));
  if (end_day < to_ms) VIGIL_RETURN_IF_ERROR(MergeNamed(scan, key, end_day, to_ms, out));
  key.granularity = Granularity::kDay;
  return MergeNamed(scan, key, first_day, end_day, out);
}

Status LayerMerge::MergeNamed(Scan scan, const aggregate::RollupKey& key, int64_t from_ms,
                              int64_t to_ms, std::map<std::string, aggregate::RollupCell>* out) {
  const Granularity g = key.granularity;
  const int64_t from = BucketStart(from_ms, g);
  if (g != Granularity::kMinute) {
    if (cache_ != nullptr && g == Granularity::kDay) {
      // Whole sealed days: merged once per batch generation.
      std::string cache_key(1, scan == &AggregateStore::ScanSubjects ? 's' : 'v');
      cache_key += counters_only_ ? 'c' : 'f';
      for (std::string_view part :
           {std::string_view(key.app), std::string_view(key.metric), std::string_view(key.subject),
            std::string_view(key.version), std::string_view(key.os)}) {
        cache_key.append(part).push_back('\0');
      }
      cache_key += std::to_string(from) + "-" + std::to_string(to_ms);
      std::shared_ptr<const MergedCellCache::Cells> cells = cache_->Find(cache_key, generation_);
      if (cells == nullptr) {
        auto fresh = std::make_shared<MergedCellCache::Cells>();
        VIGIL_RETURN_IF_ERROR(MergeLayer(scan, Layer::kBatch, key, from, to_ms, fresh.get()));
        cache_->Put(cache_key, generation_, fresh);
        cells = std::move(fresh);
      }
      for (const auto& [name, cell] : *cells) (*out)[name].Merge(cell);
    } else {
      VIGIL_RETURN_IF_ERROR(MergeLayer(scan, Layer::kBatch, key, from, to_ms, out));
    }
  }
  return MergeLayer(scan, Layer::kSpeed, key, from, to_ms, out);
}

Status LayerMerge::MergeLayer(Scan scan, Layer layer, const aggregate::RollupKey& key, int64_t from,
                              int64_t to_ms, std::map<std::string, aggregate::RollupCell>* out) {
  const Granularity g = key.granularity;
  Status decode_error;
  VIGIL_RETURN_IF_ERROR((store_->*scan)(
      layer, key, from, to_ms, [&](std::string_view name, int64_t bucket, std::string_view bytes) {
        if (SourceOf(g, bucket) != layer) return;
        aggregate::RollupCell cell;
        Status st = aggregate::RollupCell::Decode(bytes, &cell, counters_only_);
        if (!st.ok()) {
          if (decode_error.ok()) decode_error = st;
          return;
        }
        (*out)[std::string(name)].Merge(cell);
      }));
  return decode_error;
}

}  // namespace vigil::serve
