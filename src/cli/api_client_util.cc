// URL encoding and token-to-app lookup for the API-calling commands.
#include "cli/api_client_util.h"

#include <cctype>

namespace vigil::cli {

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<std::string> AppForToken(loadgen::HttpClient* client, const std::string& base_path,
                                const std::string& token) {
  Result<loadgen::HttpResponse> me =
      client->Request("GET", base_path + "/v1/app", {{"Authorization", "Bearer " + token}}, {});
  if (!me.ok()) return Status::IoError("cannot reach the server: " + me.status().message());
  if (me->status != 200) {
    return Status::InvalidArgument("cannot tell which app the token is for: HTTP " +
                                   std::to_string(me->status) + " " + me->body);
  }
  size_t at = me->body.find("\"id\":\"");
  if (at == std::string::npos) {
    return Status::Corruption("unexpected answer from /v1/app: " + me->body);
  }
  return me->body.substr(at + 6, me->body.find('"', at + 6) - at - 6);
}

}  // namespace vigil::cli
