// Prometheus text exposition helpers, shared by every stage that renders /metrics lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vigil {

// Appends "# HELP <name> <help>\n# TYPE <name> <type>\n".
inline void AppendMetricHeader(std::string* out, std::string_view name, std::string_view type,
                               std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out->append(name).append(" ").append(type).append("\n");
}

// Appends a metric without labels: header, then "<name> <value>\n".
inline void AppendMetric(std::string* out, std::string_view name, std::string_view type,
                         std::string_view help, uint64_t value) {
  AppendMetricHeader(out, name, type, help);
  out->append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace vigil
