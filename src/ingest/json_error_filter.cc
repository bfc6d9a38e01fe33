// An h2o output filter that swaps the text/plain body of h2o's own errors for an error JSON.
#include "ingest/json_error_filter.h"

#include "ingest/http_server.h"

namespace vigil::ingest {

namespace {

struct Filter {
  h2o_filter_t super;
  const EarlyErrorMessage* message;
};

struct Stream {
  h2o_ostream_t super;
  const EarlyErrorMessage* message;
  bool replaced;
};

void OnSend(h2o_ostream_t* self, h2o_req_t* req, h2o_iovec_t* bufs, size_t count,
            h2o_send_state_t state) {
  auto* stream = reinterpret_cast<Stream*>(self);
  if (stream->replaced) {  // the whole body went already
    h2o_ostream_send_next(self, req, nullptr, 0, state);
    return;
  }
  std::string text;  // empty for HEAD, whose answer has headers only
  for (size_t i = 0; i < count; ++i) text.append(bufs[i].base, bufs[i].len);
  std::string_view path(req->input.path.base, req->input.path.len);
  path = path.substr(0, path.find('?'));
  const std::string json = ErrorJson((*stream->message)(path, req->res.status, text));
  h2o_iovec_t body = h2o_strdup(&req->pool, json.data(), json.size());
  // The headers go out with the first bytes of the body, after this.
  req->res.content_length = body.len;
  h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                 H2O_STRLIT("application/json"), 1);
  stream->replaced = true;
  h2o_ostream_send_next(self, req, &body, count == 0 ? 0 : 1, state);
}

void OnSetupOstream(h2o_filter_t* self, h2o_req_t* req, h2o_ostream_t** slot) {
  if (req->res.status >= 400) {
    auto* stream = reinterpret_cast<Stream*>(h2o_add_ostream(req, sizeof(Stream), slot));
    stream->super.do_send = &OnSend;
    stream->message = reinterpret_cast<Filter*>(self)->message;
    stream->replaced = false;
    slot = &stream->super.next;
  }
  h2o_setup_next_ostream(req, slot);
}

}  // namespace

void InstallJsonErrorFilter(h2o_pathconf_t* fallback, const EarlyErrorMessage* message) {
  auto* filter = reinterpret_cast<Filter*>(h2o_create_filter(fallback, sizeof(Filter)));
  filter->super.on_setup_ostream = &OnSetupOstream;
  filter->message = message;
}

}  // namespace vigil::ingest
