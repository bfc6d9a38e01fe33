// The TOML and environment sources of `vigil serve`'s settings, and docs/configuration.md kept
// true: every key and variable it lists is read with the type it gives, the example in it loads,
// and anything it does not list is refused by name.
#include "cli/serve_config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "common/temp_dir.h"

namespace vigil::cli {
namespace {

class ServeConfigTest : public ::testing::Test {
 protected:
  // Writes `toml` to a file and applies it to `config`.
  Status Apply(const std::string& toml, ServeConfig* config) {
    const std::string path = dir_ + "/vigil.toml";
    std::ofstream(path) << toml;
    return ApplyTomlFile(path, config);
  }

  static std::string Doc() {
    std::ifstream in(std::string(VIGIL_SOURCE_DIR) + "/docs/configuration.md");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  TempDir temp_dir_;
  std::string dir_ = temp_dir_.path();
};

TEST_F(ServeConfigTest, AppRetentionTableOverridesPerApp) {
  ServeConfig config;
  ASSERT_TRUE(Apply("archive_retention_days = 90\n"
                    "[archive_app_retention_days]\n"
                    "app_1f3c2a = 400\n"
                    "app_b = 7\n",
                    &config)
                  .ok());
  EXPECT_EQ(config.archive_retention_days, 90);
  EXPECT_EQ(config.archive_app_retention_days,
            (std::map<std::string, int64_t>{{"app_1f3c2a", 400}, {"app_b", 7}}));

  ServeConfig bad;
  Status st = Apply("archive_app_retention_days = 5\n", &bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("archive_app_retention_days must be a table of app id = days"),
            std::string::npos)
      << st.ToString();
  st = Apply("[archive_app_retention_days]\napp_b = \"seven\"\n", &bad);
  EXPECT_NE(st.message().find("archive_app_retention_days.app_b must be an integer (days)"),
            std::string::npos)
      << st.ToString();
}

TEST_F(ServeConfigTest, WrongTypesUnknownKeysAndBrokenTomlAreNamed) {
  ServeConfig config;
  Status st = Apply("threads = \"two\"\n", &config);
  EXPECT_NE(st.message().find("threads must be an integer"), std::string::npos) << st.ToString();
  st = Apply("listen = 8080\n", &config);
  EXPECT_NE(st.message().find("listen must be a string"), std::string::npos) << st.ToString();
  st = Apply("thread = 2\n", &config);
  EXPECT_NE(st.message().find("unknown setting 'thread' (see docs/configuration.md)"),
            std::string::npos)
      << st.ToString();
  st = Apply("threads = = 2\n", &config);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("vigil.toml:1:"), std::string::npos) << st.ToString();
}

// The table rows of docs/configuration.md: | `key` | `VIGIL_X` | flag | default | meaning |.
std::vector<std::vector<std::string>> DocTable(const std::string& doc) {
  std::vector<std::vector<std::string>> table;
  std::istringstream lines(doc);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::istringstream parts(line.substr(1));
    for (std::string cell; std::getline(parts, cell, '|');) {
      const size_t b = cell.find_first_not_of(" `"), e = cell.find_last_not_of(" `");
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    if (cells.size() >= 4 && cells[1].rfind("VIGIL_", 0) == 0) table.push_back(cells);
  }
  return table;
}

// A row whose default is a number is an integer setting; any other, a string one.
bool IsIntegerRow(const std::vector<std::string>& cells) {
  return !cells[3].empty() && cells[3].find_first_not_of("0123456789") == std::string::npos;
}

TEST_F(ServeConfigTest, EveryDocumentedSettingIsReadFromTomlAndTheEnvironment) {
  const std::string doc = Doc();
  const std::vector<std::vector<std::string>> table = DocTable(doc);
  size_t rows = 0;
  for (const std::vector<std::string>& cells : table) {
    const std::string &key = cells[0], &env = cells[1];
    SCOPED_TRACE(key);
    ++rows;
    const bool integer = IsIntegerRow(cells);
    ServeConfig from_toml;
    ASSERT_TRUE(Apply(key + (integer ? " = 3\n" : " = \"x:1\"\n"), &from_toml).ok());
    // The same setting, by its variable, ends up in the same field.
    ServeConfig from_env;
    ASSERT_EQ(::setenv(env.c_str(), integer ? "3" : "x:1", 1), 0);
    Status st = ApplyEnvironment(&from_env);
    ::unsetenv(env.c_str());
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(from_env.data_dir, from_toml.data_dir);
    EXPECT_EQ(from_env.listen, from_toml.listen);
    EXPECT_EQ(from_env.api_listen, from_toml.api_listen);
    EXPECT_EQ(from_env.admin_token, from_toml.admin_token);
    EXPECT_EQ(from_env.threads, from_toml.threads);
    EXPECT_EQ(from_env.archive_retention_days, from_toml.archive_retention_days);
    EXPECT_EQ(from_env.batch_interval_minutes, from_toml.batch_interval_minutes);
    EXPECT_EQ(from_env.background_nice, from_toml.background_nice);
    EXPECT_EQ(from_env.pin_http_loops, from_toml.pin_http_loops);
    EXPECT_EQ(from_env.retention_hours, from_toml.retention_hours);
    EXPECT_EQ(from_env.min_free_disk_mb, from_toml.min_free_disk_mb);
    EXPECT_EQ(from_env.archive_flush_ms, from_toml.archive_flush_ms);
    // A value of the other type is refused, naming the key.
    ServeConfig wrong;
    st = Apply(key + (integer ? " = \"3\"\n" : " = 3\n"), &wrong);
    EXPECT_NE(st.message().find(key + " must be"), std::string::npos) << st.ToString();
    // And a variable that is not a number, for an integer setting.
    if (integer) {
      ASSERT_EQ(::setenv(env.c_str(), "3x", 1), 0);
      st = ApplyEnvironment(&wrong);
      ::unsetenv(env.c_str());
      EXPECT_NE(st.message().find(env + " must be an integer, not '3x'"), std::string::npos)
          << st.ToString();
    }
  }
  EXPECT_EQ(rows, 21u);  // every row of the table but [archive_app_retention_days]

  // The example at the end of the page loads as it is.
  const size_t start = doc.find("```toml\n");
  ASSERT_NE(start, std::string::npos);
  const size_t end = doc.find("```", start + 8);
  ServeConfig example;
  Status st = Apply(doc.substr(start + 8, end - start - 8), &example);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(example.listen, "0.0.0.0:8080");
  EXPECT_EQ(example.archive_app_retention_days.at("app_1f3c2a"), 400);
}

// Every integer row of docs/configuration.md opens its meaning with the range it takes ("A–B" or
// "0 or 1"): both ends are valid, one past either end stops the server.
TEST_F(ServeConfigTest, EveryDocumentedIntegerRangeHoldsAtBothEnds) {
  size_t checked = 0;
  for (const std::vector<std::string>& cells : DocTable(Doc())) {
    if (!IsIntegerRow(cells)) continue;
    const std::string& key = cells[0];
    SCOPED_TRACE(key);
    ASSERT_GE(cells.size(), 5u);
    const std::string& meaning = cells[4];
    int64_t lo = 0, hi = 0;
    if (meaning.rfind("0 or 1", 0) == 0) {
      hi = 1;
    } else {
      const size_t dash = meaning.find("\u2013");  // an en dash
      ASSERT_NE(dash, std::string::npos) << meaning;
      lo = std::stoll(meaning.substr(0, dash));
      hi = std::stoll(meaning.substr(dash + 3));
    }
    for (int64_t v : {lo, hi, lo - 1, hi + 1}) {
      ServeConfig config;
      ASSERT_TRUE(Apply(key + " = " + std::to_string(v) + "\n", &config).ok());
      Status st = ValidateServeConfig(config);
      if (v == lo || v == hi) {
        EXPECT_TRUE(st.ok()) << v << ": " << st.ToString();
      } else {
        EXPECT_NE(st.message().find(key + " must be "), std::string::npos) << v;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 17u);                               // the table's integer rows
  EXPECT_TRUE(ValidateServeConfig(ServeConfig{}).ok());  // and the defaults
}

TEST_F(ServeConfigTest, ApiListenMustBeAnAddressOtherThanListen) {
  ServeConfig config;
  config.listen = "127.0.0.1:8080";
  EXPECT_TRUE(ValidateServeConfig(config).ok());  // unset
  config.api_listen = "127.0.0.1:8081";
  EXPECT_TRUE(ValidateServeConfig(config).ok());
  config.api_listen = "127.0.0.1:8080";
  EXPECT_EQ(ValidateServeConfig(config).message(),
            "api_listen must differ from listen (127.0.0.1:8080): give the API a port of its own, "
            "or leave it unset");
  config.api_listen = "localhost:8080";  // the same address
  EXPECT_FALSE(ValidateServeConfig(config).ok());
  config.api_listen = "10.0.0.1:8080";  // another interface
  EXPECT_TRUE(ValidateServeConfig(config).ok());
  config.listen = "127.0.0.1:0";  // two ephemeral ports never collide
  config.api_listen = "127.0.0.1:0";
  EXPECT_TRUE(ValidateServeConfig(config).ok());
  config.api_listen = "8081";
  EXPECT_EQ(ValidateServeConfig(config).message(),
            "api_listen: listen address must be HOST:PORT, e.g. 127.0.0.1:8080 (or [::]:8080 for "
            "IPv6)");
  config.listen = "[::1]:8080";
  config.api_listen = "[::1]:8080";
  EXPECT_FALSE(ValidateServeConfig(config).ok());
  config.api_listen = "[::1]:8081";
  EXPECT_TRUE(ValidateServeConfig(config).ok());
  // A wildcard takes the port on every address: any other address there overlaps it.
  config.listen = "0.0.0.0:8080";
  for (const char* api : {"[::]:8080", "127.0.0.1:8080", "[::1]:8080"}) {
    config.api_listen = api;
    EXPECT_FALSE(ValidateServeConfig(config).ok()) << api;
  }
  config.listen = "[::]:8080";
  config.api_listen = "10.0.0.1:8080";
  EXPECT_FALSE(ValidateServeConfig(config).ok());
  config.api_listen = "10.0.0.1:8081";
  EXPECT_TRUE(ValidateServeConfig(config).ok());
}

TEST_F(ServeConfigTest, ListenTakesIpv4AndBracketedIpv6AndSaysWhatIsWrong) {
  std::string host;
  uint16_t port = 1;
  auto parse = [&](const std::string& listen) {
    host = "?";
    port = 1;
    return ParseListen(listen, &host, &port);
  };
  ASSERT_TRUE(parse("0.0.0.0:8080").ok());
  EXPECT_EQ((std::pair{host, port}), (std::pair<std::string, uint16_t>{"0.0.0.0", 8080}));
  ASSERT_TRUE(parse("localhost:0").ok());
  EXPECT_EQ((std::pair{host, port}), (std::pair<std::string, uint16_t>{"127.0.0.1", 0}));
  ASSERT_TRUE(parse("[::]:9000").ok());
  EXPECT_EQ((std::pair{host, port}), (std::pair<std::string, uint16_t>{"::", 9000}));
  ASSERT_TRUE(parse("[2001:db8::1:2]:65535").ok());
  EXPECT_EQ((std::pair{host, port}), (std::pair<std::string, uint16_t>{"2001:db8::1:2", 65535}));
  EXPECT_EQ(HttpUrlOf("::1", 8080), "http://[::1]:8080");
  EXPECT_EQ(HttpUrlOf("127.0.0.1", 80), "http://127.0.0.1:80");

  EXPECT_EQ(parse("::1:8080").message(), "an IPv6 listen address goes in brackets: [::1]:PORT");
  EXPECT_EQ(parse("[::1]8080").message(),
            "an IPv6 listen address is [ADDRESS]:PORT, e.g. [::]:8080");
  EXPECT_EQ(parse("[::1]").message(), "an IPv6 listen address is [ADDRESS]:PORT, e.g. [::]:8080");
  EXPECT_EQ(parse("[10.0.0.1]:80").message(), "'10.0.0.1' in listen is not an IPv6 address");
  EXPECT_EQ(parse("[fe80::1]:80").message(),
            "'fe80::1' is a link-local address, which Vigil cannot listen on: use [::] or a "
            "global address");
  EXPECT_EQ(parse("[fe80::1%eth0]:80").message(),
            "'fe80::1%eth0' in listen is not an IPv6 address");
  EXPECT_EQ(parse("example.com:80").message(),
            "listen host must be an IP address of this machine (127.0.0.1, 0.0.0.0 for every "
            "interface, or [::] for every interface over IPv6 and IPv4), not 'example.com'");
  EXPECT_EQ(parse("127.0.0.1:").message(),
            "listen port must be a number 0-65535 (0 picks a free one)");
  EXPECT_EQ(parse("[::]:65536").message(),
            "listen port must be a number 0-65535 (0 picks a free one)");
  EXPECT_EQ(parse(":80").message(),
            "listen address must be HOST:PORT, e.g. 127.0.0.1:8080 (or [::]:8080 for IPv6)");
}

TEST_F(ServeConfigTest, AnOutOfRangeSettingIsNamedWithItsRangeMeaningAndVariable) {
  ServeConfig config;
  config.segment_bytes = 0;
  EXPECT_EQ(ValidateServeConfig(config).message(),
            "segment_bytes must be 65536-68719476736 (the size at which a log segment rolls), not "
            "0: fix it in the config file or VIGIL_SEGMENT_BYTES");
  config = ServeConfig{};
  config.pin_http_loops = 2;
  EXPECT_EQ(ValidateServeConfig(config).message(),
            "pin_http_loops must be 0 or 1 (1 pins each HTTP loop to a CPU of its own when there "
            "is one loop per CPU), not 2: fix it in the config file or VIGIL_PIN_HTTP_LOOPS");
}

}  // namespace
}  // namespace vigil::cli
