// Event facts: the one reader of event bodies on the aggregation path.
#include "aggregate/event_facts.h"

#include "aggregate/aggregator.h"
#include "aggregate/endpoint.h"

namespace vigil::aggregate {

namespace {

uint64_t NonNegative(const BinaryValue& v) {
  int64_t i = v.AsInt();
  return i > 0 ? static_cast<uint64_t>(i) : 0;
}

}  // namespace

void FactsOf(const EventView& event, EventFacts* out) {
  out->subject.clear();
  out->error = false;
  out->bytes = 0;
  out->has_latency = false;
  out->latency = 0;
  switch (event.type) {
    case EventType::kSessionStart:
      return;
    case EventType::kCrash:
    case EventType::kHandledException:
      out->subject = CrashGroupOf(event);
      return;
    case EventType::kNetwork: {
      BinaryValue n = event.fields.Get("network");
      BinaryValue method, url, status_v, error, sent, received, duration_v;
      n.GetAll({{"method", &method},
                {"url", &url},
                {"status", &status_v},
                {"error", &error},
                {"bytes_sent", &sent},
                {"bytes_received", &received},
                {"duration_ms", &duration_v}});
      int64_t status = status_v.AsInt();
      out->error = status >= 400 || status == 0 || error.is_string();
      out->bytes = NonNegative(sent) + NonNegative(received);
      out->has_latency = true;
      out->latency = duration_v.AsDouble();
      out->subject.assign(method.AsString());
      out->subject += ' ';
      AppendEndpointTemplate(url.AsString(), &out->subject);
      return;
    }
    case EventType::kUserFlow: {
      BinaryValue f = event.fields.Get("flow");
      BinaryValue name, outcome_v, d;
      f.GetAll({{"name", &name}, {"outcome", &outcome_v}, {"duration_ms", &d}});
      std::string_view outcome = outcome_v.AsString();
      out->subject.assign(name.AsString());
      out->subject += kFlowSeparator;
      out->subject += outcome;
      out->error = outcome != "success";
      out->has_latency = d.is_number();
      if (out->has_latency) out->latency = d.AsDouble();
      return;
    }
    case EventType::kCustom:
      out->subject.assign(event.fields.Get("name").AsString());
      return;
  }
}

}  // namespace vigil::aggregate
