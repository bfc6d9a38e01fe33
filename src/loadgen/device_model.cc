// The tables and distributions behind the synthetic fleet (see device_model.h for the why).
//
// A batch is made in two passes: first the device's session state machine decides the kind of
// each event and the gap before it (so timestamps can be laid out backwards from the send time,
// newest last), then the events are written with their type's fields.
#include "loadgen/device_model.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string_view>

#include "common/json_writer.h"
#include "common/status.h"

namespace vigil::loadgen {

namespace {

using Rng = std::mt19937_64;

constexpr int64_t kDayMs = 24LL * 60 * 60 * 1000;
constexpr double kCrashesPerSession = 0.01;
constexpr double kOfflineDeviceShare = 0.05;
constexpr double kSkewedClockShare = 0.02;
constexpr double kIosShare = 0.4;

// ---- Random helpers -------------------------------------------------------------------------

double Uniform(Rng& rng) { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

int64_t UniformInt(Rng& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

bool Chance(Rng& rng, double p) { return Uniform(rng) < p; }

// Log-normal with the given median; `sigma` is the spread of the underlying normal.
double LogNormal(Rng& rng, double median, double sigma) {
  return median * std::exp(sigma * std::normal_distribution<double>(0.0, 1.0)(rng));
}

int64_t Exponential(Rng& rng, double mean) {
  return static_cast<int64_t>(std::exponential_distribution<double>(1.0 / mean)(rng));
}

std::string Hex(uint64_t v, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) out[i] = kDigits[v & 0xF];
  return out;
}

// A UUID (version 4 in form) made from a hash of `name`: random-looking as an SDK's, yet unique
// per name and the same for the same seed.
std::string UuidFor(std::string_view name) {
  XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
  std::string hex = Hex((h.high64 & ~0xF000ull) | 0x4000ull, 16) +
                    Hex((h.low64 & ~(3ull << 62)) | (2ull << 62), 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

// Index in [0, n) with probability proportional to 1 / (i + 1)^s: a few popular values and a
// long tail, as real version and device populations look. `n` is small (tables below).
size_t Zipf(Rng& rng, size_t n, double s = 1.1) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += 1.0 / std::pow(static_cast<double>(i + 1), s);
  double x = Uniform(rng) * total;
  for (size_t i = 0; i < n; ++i) {
    x -= 1.0 / std::pow(static_cast<double>(i + 1), s);
    if (x < 0) return i;
  }
  return n - 1;
}

template <typename T, size_t N>
const T& ZipfPick(Rng& rng, const T (&table)[N], double s = 1.1) {
  return table[Zipf(rng, N, s)];
}

template <typename T, size_t N>
const T& UniformPick(Rng& rng, const T (&table)[N]) {
  return table[UniformInt(rng, 0, N - 1)];
}

// Replaces "{n}" with a small number, "{id}" with an object id, "{hex}" with an address and
// "{tok}" with 16 random hex digits, so messages and URLs vary the way real ones do (and grouping
// has to see through it).
std::string FillTemplate(Rng& rng, std::string_view tmpl) {
  std::string out;
  out.reserve(tmpl.size() + 16);
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl.substr(i, 3) == "{n}") {
      out += std::to_string(UniformInt(rng, 0, 40));
      i += 3;
    } else if (tmpl.substr(i, 4) == "{id}") {
      out += std::to_string(UniformInt(rng, 1, 500000));
      i += 4;
    } else if (tmpl.substr(i, 5) == "{tok}") {
      out += Hex(rng(), 16);
      i += 5;
    } else if (tmpl.substr(i, 5) == "{hex}") {
      out += "0x" + Hex(rng() & 0xFFFFFFFFFFull, 10);
      i += 5;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

// ---- Fleet tables (most popular first) ------------------------------------------------------

struct AppVersion {
  const char* version;
  const char* build;
  double crash_multiplier;  // the newest release is a little crashier, as new releases are
};
constexpr AppVersion kAppVersions[] = {
    {"2.4.0", "2400", 1.5}, {"2.3.1", "2310", 1.0}, {"2.3.0", "2300", 1.1}, {"2.2.4", "2240", 0.9},
    {"2.2.1", "2210", 1.0}, {"2.1.0", "2100", 1.2}, {"2.0.3", "2030", 1.0}, {"1.9.8", "1980", 1.4},
};
struct Model {
  const char* name;
  const char* manufacturer;
  const char* screen;  // pixels, portrait
  int memory_mb;
};
constexpr Model kAndroidModels[] = {
    {"SM-S918B", "samsung", "1440x3088", 12288}, {"Pixel 8", "Google", "1080x2400", 8192},
    {"SM-A546B", "samsung", "1080x2340", 6144},  {"Redmi Note 12", "Xiaomi", "1080x2400", 4096},
    {"Pixel 7a", "Google", "1080x2400", 8192},   {"SM-G991B", "samsung", "1080x2400", 8192},
    {"moto g54", "motorola", "1080x2400", 8192}, {"OnePlus 11", "OnePlus", "1440x3216", 16384},
    {"SM-A135F", "samsung", "1080x2408", 4096},  {"Pixel 6", "Google", "1080x2400", 8192},
};
constexpr const char* kAndroidVersions[] = {"14", "13", "12", "11", "10", "9"};
constexpr Model kIosModels[] = {
    {"iPhone15,2", "Apple", "1179x2556", 6144}, {"iPhone16,1", "Apple", "1179x2556", 8192},
    {"iPhone14,5", "Apple", "1170x2532", 4096}, {"iPhone14,7", "Apple", "1170x2532", 6144},
    {"iPhone15,4", "Apple", "1179x2556", 6144}, {"iPhone13,2", "Apple", "1170x2532", 4096},
    {"iPhone12,1", "Apple", "828x1792", 4096},  {"iPad13,1", "Apple", "1640x2360", 4096},
};
constexpr const char* kIosVersions[] = {"17.4.1", "17.3.1", "16.7.5", "17.2", "16.6", "15.8.2"};
struct Locale {
  const char* name;
  const char* timezone;
  const char* carriers[2];
};
constexpr Locale kLocales[] = {
    {"en_US", "America/New_York", {"T-Mobile", "Verizon"}},
    {"en_GB", "Europe/London", {"EE", "Vodafone UK"}},
    {"de_DE", "Europe/Berlin", {"Telekom.de", "Vodafone.de"}},
    {"pt_BR", "America/Sao_Paulo", {"VIVO", "Claro BR"}},
    {"fr_FR", "Europe/Paris", {"Orange F", "SFR"}},
    {"es_ES", "Europe/Madrid", {"Movistar", "Orange"}},
    {"ja_JP", "Asia/Tokyo", {"NTT DOCOMO", "SoftBank"}},
    {"hi_IN", "Asia/Kolkata", {"Jio 4G", "Airtel"}},
    {"ko_KR", "Asia/Seoul", {"SKTelecom", "olleh"}},
    {"it_IT", "Europe/Rome", {"TIM", "Vodafone IT"}},
    {"nl_NL", "Europe/Amsterdam", {"KPN", "Odido"}},
    {"tr_TR", "Europe/Istanbul", {"Turkcell", "Vodafone TR"}},
};

// ---- Errors ---------------------------------------------------------------------------------

enum class Releases { kAll, kNewestOnly, kNotNewest };

struct ErrorSignature {
  bool ios;
  const char* type;
  const char* reason;     // template, see FillTemplate; may be empty
  const char* frames[6];  // Java frames, innermost first; nullptr-terminated; none on iOS
  Releases releases;      // which app versions can hit it
};

constexpr ErrorSignature kCrashes[] = {
    {false,
     "java.lang.IllegalStateException",
     "Fragment ProfileFragment{{hex}} not attached to a context.",
     {"androidx.fragment.app.Fragment.requireContext(Fragment.java:972)",
      "com.example.app.profile.ProfileFragment.loadAvatar(ProfileFragment.java:141)",
      "com.example.app.profile.ProfileFragment.onResume(ProfileFragment.java:88)",
      "androidx.fragment.app.Fragment.performResume(Fragment.java:3180)", nullptr},
     Releases::kAll},
    {false,
     "java.lang.NullPointerException",
     "Attempt to invoke virtual method 'java.lang.String com.example.app.model.User.getName()' on "
     "a null object reference",
     {"com.example.app.feed.FeedAdapter.onBindViewHolder(FeedAdapter.java:57)",
      "androidx.recyclerview.widget.RecyclerView$Adapter.bindViewHolder(RecyclerView.java:7254)",
      "androidx.recyclerview.widget.RecyclerView$Recycler.tryBindViewHolderByDeadline("
      "RecyclerView.java:6226)",
      nullptr},
     Releases::kAll},
    {false,
     "java.lang.IndexOutOfBoundsException",
     "Index: {n}, Size: {n}",
     {"java.util.ArrayList.get(ArrayList.java:437)",
      "com.example.app.cart.CartViewModel.removeItem(CartViewModel.kt:64)",
      "com.example.app.cart.CartFragment$onSwipe$1.invoke(CartFragment.kt:112)",
      "com.example.app.ui.SwipeHelper.onSwiped(SwipeHelper.kt:40)", nullptr},
     Releases::kAll},
    {false,
     "kotlin.UninitializedPropertyAccessException",
     "lateinit property session has not been initialized",
     {"com.example.app.auth.LoginViewModel.getSession(LoginViewModel.kt:31)",
      "com.example.app.auth.LoginFragment.onViewCreated(LoginFragment.kt:77)",
      "androidx.fragment.app.Fragment.performViewCreated(Fragment.java:3128)", nullptr},
     Releases::kNewestOnly},
    {false,
     "java.lang.OutOfMemoryError",
     "Failed to allocate a {id} byte allocation with 4194304 free bytes and 12MB until OOM",
     {"android.graphics.BitmapFactory.nativeDecodeStream(Native Method)",
      "android.graphics.BitmapFactory.decodeStream(BitmapFactory.java:790)",
      "com.example.app.media.ImageLoader.decode(ImageLoader.java:203)",
      "com.example.app.media.ImageLoader$1.run(ImageLoader.java:88)", nullptr},
     Releases::kAll},
    {false,
     "java.lang.IllegalArgumentException",
     "Unknown payment method: pm_{id}",
     {"a.b.c.a(SourceFile:42)", "a.b.d.b(SourceFile:17)", "a.b.d.onClick(SourceFile:5)",
      "android.view.View.performClick(View.java:7448)", nullptr},
     Releases::kAll},
    {false,
     "java.util.ConcurrentModificationException",
     "",
     {"java.util.ArrayList$Itr.next(ArrayList.java:860)",
      "com.example.app.sync.SyncQueue.flush(SyncQueue.java:99)",
      "com.example.app.sync.SyncWorker.doWork(SyncWorker.java:35)", nullptr},
     Releases::kNotNewest},
    {true,
     "NSInvalidArgumentException",
     "-[__NSCFNumber length]: unrecognized selector sent to instance {hex}",
     {nullptr},
     Releases::kAll},
    {true,
     "NSRangeException",
     "*** -[__NSArrayM objectAtIndex:]: index {n} beyond bounds [0 .. {n}]",
     {nullptr},
     Releases::kAll},
    {true, "EXC_BAD_ACCESS", "KERN_INVALID_ADDRESS at {hex}", {nullptr}, Releases::kAll},
    {true,
     "EXC_BREAKPOINT",
     "Swift runtime failure: Unexpectedly found nil while unwrapping an Optional value",
     {nullptr},
     Releases::kNewestOnly},
    {true,
     "NSInternalInconsistencyException",
     "Invalid update: invalid number of rows in section 0",
     {nullptr},
     Releases::kNotNewest},
};

constexpr ErrorSignature kHandledExceptions[] = {
    {false,
     "java.net.SocketTimeoutException",
     "timeout",
     {"okhttp3.internal.http2.Http2Stream$StreamTimeout.newTimeoutException(Http2Stream.kt:675)",
      "com.example.app.net.ApiClient.execute(ApiClient.kt:92)", nullptr},
     Releases::kAll},
    {false,
     "com.google.gson.JsonSyntaxException",
     "Expected BEGIN_OBJECT but was STRING at line 1 column 1 path $",
     {"com.google.gson.Gson.fromJson(Gson.java:1226)",
      "com.example.app.net.ApiClient.parse(ApiClient.kt:120)", nullptr},
     Releases::kAll},
    {false,
     "java.lang.NumberFormatException",
     "For input string: \"{hex}\"",
     {"java.lang.Integer.parseInt(Integer.java:747)",
      "com.example.app.deeplink.DeepLinkRouter.route(DeepLinkRouter.kt:51)", nullptr},
     Releases::kAll},
    {false,
     "javax.net.ssl.SSLHandshakeException",
     "Chain validation failed",
     {"com.android.org.conscrypt.SSLUtils.toSSLHandshakeException(SSLUtils.java:356)",
      "com.example.app.net.ApiClient.execute(ApiClient.kt:92)", nullptr},
     Releases::kAll},
    {true, "NSURLErrorDomain", "The request timed out. (-1001)", {nullptr}, Releases::kAll},
    {true,
     "NSCocoaErrorDomain",
     "The data couldn't be read because it isn't in the correct format. (3840)",
     {nullptr},
     Releases::kAll},
    {true,
     "DecodingError.keyNotFound",
     "No value associated with key CodingKeys(stringValue: \"avatar_url\")",
     {nullptr},
     Releases::kAll},
};

bool Applies(const ErrorSignature& e, const Device& d) {
  if (e.ios != d.ios) return false;
  switch (e.releases) {
    case Releases::kAll:
      return true;
    case Releases::kNewestOnly:
      return d.app_version == 0;
    case Releases::kNotNewest:
      return d.app_version != 0;
  }
  return true;
}

// A signature for this device's platform and release, popular ones more often.
const ErrorSignature& PickError(Rng& rng, std::span<const ErrorSignature> table, const Device& d) {
  std::vector<const ErrorSignature*> candidates;
  for (const ErrorSignature& e : table) {
    if (Applies(e, d)) candidates.push_back(&e);
  }
  VIGIL_CHECK(!candidates.empty());
  return *candidates[Zipf(rng, candidates.size(), 0.9)];
}

// ---- Network, flows, custom events, breadcrumbs ---------------------------------------------

struct Endpoint {
  const char* method;
  const char* url;  // template, see FillTemplate
  double median_ms;
  double request_bytes;   // median body + headers
  double response_bytes;  // median
};
constexpr Endpoint kEndpoints[] = {
    {"GET", "https://api.example.com/v1/users/{id}/feed?cursor={tok}&limit=20", 180, 420, 12000},
    {"GET", "https://cdn.example.com/images/{tok}{tok}.jpg?w=640", 45, 380, 80000},
    {"GET", "https://api.example.com/v1/items/{id}?ref=feed", 70, 400, 2500},
    {"GET", "https://api.example.com/v1/users/{id}/profile", 90, 400, 1500},
    {"POST", "https://api.example.com/v1/cart/items", 120, 700, 600},
    {"GET", "https://api.example.com/v1/search?q=item{n}&page={n}", 250, 410, 9000},
    {"POST", "https://auth.example.com/oauth/token", 300, 650, 900},
    {"PUT", "https://api.example.com/v1/users/{id}/settings", 110, 800, 300},
    {"DELETE", "https://api.example.com/v1/cart/items/{id}", 95, 380, 120},
    {"POST", "https://api.example.com/v1/checkout", 450, 1500, 1100},
};

struct Flow {
  const char* name;
  double median_ms;
  double fail_rate;
};
constexpr Flow kFlows[] = {
    {"login", 8000, 0.06},         {"search", 12000, 0.03},       {"add_to_cart", 4000, 0.02},
    {"checkout", 45000, 0.08},     {"onboarding", 60000, 0.15},   {"share", 6000, 0.04},
    {"upload_photo", 20000, 0.09}, {"edit_profile", 30000, 0.05},
};

constexpr const char* kScreens[] = {"home", "feed",    "product",  "search",
                                    "cart", "profile", "settings", "checkout"};
constexpr const char* kButtons[] = {"buy",         "like",   "share", "follow",
                                    "add_to_cart", "filter", "back",  "menu"};
constexpr const char* kCurrencies[] = {"USD", "EUR", "GBP", "BRL", "JPY", "INR"};
constexpr const char* kAdNetworks[] = {"admob", "applovin", "unity", "ironsource"};
constexpr const char* kSettings[] = {"dark_mode", "notifications", "autoplay", "data_saver"};

enum class Kind {
  kSessionStart,
  kCrash,
  kHandledException,
  kNetwork,
  kUserFlow,
  kFlowCrash,
  kCustom
};

void WriteBreadcrumbs(Rng& rng, int64_t event_ts, JsonWriter& w) {
  int count = static_cast<int>(UniformInt(rng, 3, 8));
  std::vector<int64_t> ts(count);
  int64_t t = event_ts;
  for (int i = count - 1; i >= 0; --i) {
    t -= UniformInt(rng, 200, 8000);
    ts[i] = t;
  }
  w.Key("breadcrumbs").BeginArray();
  for (int i = 0; i < count; ++i) {
    std::string category;
    std::string message;
    switch (UniformInt(rng, 0, 4)) {
      case 0:
        category = "navigation";
        message = std::string("opened ") + UniformPick(rng, kScreens) + " screen";
        break;
      case 1:
        category = "ui";
        message = std::string("tap: ") + UniformPick(rng, kButtons);
        break;
      case 2: {
        const Endpoint& e = ZipfPick(rng, kEndpoints);
        category = "network";
        message = std::string(e.method) + " " + FillTemplate(rng, e.url) + " -> 200";
        break;
      }
      case 3:
        category = "log";
        message = "cache miss for key feed_v" + std::to_string(UniformInt(rng, 1, 3));
        break;
      default:
        category = "lifecycle";
        message = Chance(rng, 0.5) ? "app entered foreground" : "activity resumed";
        break;
    }
    w.BeginObject().Key("ts").Int(ts[i]).Key("category").String(category);
    w.Key("message").String(message).EndObject();
  }
  w.EndArray();
}

void WriteError(Rng& rng, const ErrorSignature& sig, bool crash, JsonWriter& w) {
  std::string reason = FillTemplate(rng, sig.reason);
  w.Key("error").BeginObject();
  // Android crashes usually come with the Java trace; handled exceptions less often.
  if (sig.frames[0] != nullptr && Chance(rng, crash ? 0.7 : 0.4)) {
    std::string text = sig.type;
    if (!reason.empty()) text += ": " + reason;
    for (int i = 0; i < 6 && sig.frames[i] != nullptr; ++i) {
      text += "\n\tat ";
      text += sig.frames[i];
    }
    w.Key("format").String("java").Key("text").String(text);
  }
  w.Key("type").String(sig.type).Key("reason").String(reason);
  w.EndObject();
}

void WriteNetwork(Rng& rng, JsonWriter& w) {
  const Endpoint& e = ZipfPick(rng, kEndpoints, 0.9);
  std::string_view method = e.method;
  int status;
  const char* error = nullptr;
  double duration_ms = std::max(1.0, LogNormal(rng, e.median_ms, 0.7));
  double failure = Uniform(rng);
  if (failure < 0.012) {
    status = 0;
    error = "timeout";
    duration_ms = Chance(rng, 0.5) ? 10000 : 30000;
  } else if (failure < 0.018) {
    status = 0;
    error = "no_connection";
    duration_ms = std::max(1.0, LogNormal(rng, 5, 0.5));
  } else if (failure < 0.033) {
    status = 404;
  } else if (failure < 0.040) {
    status = 500;
  } else if (failure < 0.043) {
    status = 503;
  } else if (failure < 0.046) {
    status = 429;
  } else if (failure < 0.051) {
    status = 401;
  } else if (method == "POST") {
    status = Chance(rng, 0.5) ? 201 : 200;
  } else if (method == "GET" && Chance(rng, 0.08)) {
    status = 304;
  } else {
    status = 200;
  }
  int64_t bytes_sent = static_cast<int64_t>(LogNormal(rng, e.request_bytes, 0.3));
  int64_t bytes_received = 0;
  if (status == 304) {
    bytes_received = UniformInt(rng, 150, 300);
  } else if (status != 0) {
    bytes_received = static_cast<int64_t>(LogNormal(rng, e.response_bytes, 0.9));
  }
  w.Key("network").BeginObject();
  w.Key("method").String(method).Key("url").String(FillTemplate(rng, e.url));
  w.Key("status").Int(status).Key("duration_ms").Int(static_cast<int64_t>(duration_ms));
  w.Key("bytes_sent").Int(bytes_sent).Key("bytes_received").Int(bytes_received);
  if (error != nullptr) w.Key("error").String(error);
  // Most calls go through the app's traced HTTP client, which sends a W3C traceparent header.
  if (Chance(rng, 0.8)) w.Key("trace_id").String(Hex(rng(), 16) + Hex(rng(), 16));
  w.EndObject();
}

void WriteFlow(Rng& rng, const Flow& flow, std::string_view outcome, JsonWriter& w) {
  w.Key("flow").BeginObject().Key("name").String(flow.name).Key("outcome").String(outcome);
  w.Key("duration_ms").Int(static_cast<int64_t>(LogNormal(rng, flow.median_ms, 0.6)));
  w.EndObject();
}

void WriteCustom(Rng& rng, JsonWriter& w) {
  switch (Zipf(rng, 6, 1.0)) {
    case 0:
      w.Key("name").String("screen_view").Key("attrs").BeginObject();
      w.Key("screen").String(ZipfPick(rng, kScreens));
      w.Key("previous_screen").String(UniformPick(rng, kScreens));
      w.Key("load_ms").Int(static_cast<int64_t>(LogNormal(rng, 350, 0.6)));
      break;
    case 1:
      w.Key("name").String("button_tap").Key("attrs").BeginObject();
      w.Key("button").String(ZipfPick(rng, kButtons)).Key("screen").String(ZipfPick(rng, kScreens));
      break;
    case 2:
      w.Key("name").String("ad_impression").Key("attrs").BeginObject();
      w.Key("network").String(ZipfPick(rng, kAdNetworks));
      w.Key("placement").String(Chance(rng, 0.7) ? "banner_home" : "interstitial");
      w.Key("ecpm_micros").Int(static_cast<int64_t>(LogNormal(rng, 1500000, 0.8)));
      w.Key("creative_id").String("cr_" + Hex(rng(), 12));
      break;
    case 3:
      w.Key("name").String("purchase").Key("attrs").BeginObject();
      w.Key("order_id").String("ord_" + Hex(rng(), 16));
      w.Key("sku").String("sku-" + std::to_string(Zipf(rng, 50, 1.0) + 1000));
      w.Key("price_cents").Int(static_cast<int64_t>(LogNormal(rng, 1999, 0.9)));
      w.Key("currency").String(ZipfPick(rng, kCurrencies));
      w.Key("quantity").Int(Zipf(rng, 4, 2.0) + 1);
      break;
    case 4:
      w.Key("name").String("settings_changed").Key("attrs").BeginObject();
      w.Key("key").String(UniformPick(rng, kSettings));
      w.Key("value").String(Chance(rng, 0.5) ? "on" : "off");
      break;
    default:
      w.Key("name").String("level_complete").Key("attrs").BeginObject();
      w.Key("level").Int(UniformInt(rng, 1, 120)).Key("score").Int(UniformInt(rng, 100, 99999));
      w.Key("stars").Int(UniformInt(rng, 1, 3));
      w.Key("duration_s").Int(static_cast<int64_t>(LogNormal(rng, 90, 0.7)));
      break;
  }
  w.EndObject();
}

// Starts a new session on `d`: its length in events and whether it ends in a crash.
void StartSession(Rng& rng, Device& d) {
  d.session_events_left = 3 + std::geometric_distribution<int>(1.0 / 25)(rng);
  d.session_crashes =
      Chance(rng, kCrashesPerSession * kAppVersions[d.app_version].crash_multiplier);
}

// The kind of the device's next event, advancing its session.
Kind NextKind(Rng& rng, Device& d) {
  if (d.session_events_left <= 0) {
    StartSession(rng, d);
    --d.session_events_left;
    return Kind::kSessionStart;
  }
  --d.session_events_left;
  if (d.session_crashes) {
    if (d.session_events_left == 0) return Kind::kCrash;
    // Half the crashes interrupt a user flow, which then ends with outcome "crash".
    if (d.session_events_left == 1 && Chance(rng, 0.5)) return Kind::kFlowCrash;
  }
  double x = Uniform(rng);
  if (x < 0.55) return Kind::kNetwork;
  if (x < 0.77) return Kind::kCustom;
  if (x < 0.95) return Kind::kUserFlow;
  if (x < 0.97) return Kind::kHandledException;
  return Kind::kNetwork;
}

std::string_view TypeName(Kind kind) {
  switch (kind) {
    case Kind::kSessionStart:
      return "session_start";
    case Kind::kCrash:
      return "crash";
    case Kind::kHandledException:
      return "handled_exception";
    case Kind::kNetwork:
      return "network";
    case Kind::kUserFlow:
    case Kind::kFlowCrash:
      return "user_flow";
    case Kind::kCustom:
      return "custom";
  }
  return "custom";
}

}  // namespace

std::vector<Device> MakeDevices(uint64_t seed, int count) {
  Rng rng(seed);
  std::vector<Device> devices;
  devices.reserve(count);
  for (int i = 0; i < count; ++i) {
    Device d;
    d.id = "d" + Hex(rng(), 16);
    d.ios = Chance(rng, kIosShare);
    const Model& model = d.ios ? ZipfPick(rng, kIosModels) : ZipfPick(rng, kAndroidModels);
    d.os_version = d.ios ? ZipfPick(rng, kIosVersions, 1.3) : ZipfPick(rng, kAndroidVersions, 1.3);
    d.model = model.name;
    d.manufacturer = model.manufacturer;
    d.screen = model.screen;
    d.memory_mb = model.memory_mb;
    d.storage_gb = 64 << UniformInt(rng, 0, 3);
    const Locale& locale = ZipfPick(rng, kLocales, 1.2);
    d.locale = locale.name;
    d.timezone = locale.timezone;
    d.carrier = UniformPick(rng, locale.carriers);
    d.app_version = static_cast<int>(Zipf(rng, std::size(kAppVersions), 1.2));
    d.user_id = "u" + Hex(rng(), 12);
    d.sessions_per_day = static_cast<int>(UniformInt(rng, 1, 5));
    if (Chance(rng, kOfflineDeviceShare)) d.offline_lag_ms = UniformInt(rng, kDayMs, 7 * kDayMs);
    if (Chance(rng, kSkewedClockShare)) {
      d.clock_skew_ms =
          UniformInt(rng, 2 * 60 * 1000, 3 * 60 * 60 * 1000) * (Chance(rng, 0.5) ? 1 : -1);
    }
    devices.push_back(std::move(d));
  }
  return devices;
}

BatchGenerator::BatchGenerator(std::vector<Device> devices, const GeneratorOptions& options)
    : rng_(options.seed), devices_(std::move(devices)), options_(options) {
  VIGIL_CHECK(!devices_.empty());
  VIGIL_CHECK(options_.run_id.size() <= kMaxRunIdBytes);
  std::vector<double> weights;
  weights.reserve(devices_.size());
  for (const Device& d : devices_) weights.push_back(d.sessions_per_day);
  pick_device_ = std::discrete_distribution<size_t>(weights.begin(), weights.end());
}

GeneratedBatch BatchGenerator::Next(int64_t now_ms) {
  Device& d = devices_[pick_device_(rng_)];
  now_ms += d.clock_skew_ms;  // from here on, the device's clock
  const int n = std::max(1, options_.events_per_batch);
  std::string id_prefix = d.id + "-";
  if (!options_.run_id.empty()) id_prefix += options_.run_id + "-";

  // Pass 1: kinds and the gap before each event; the last event happened just before sending.
  std::vector<Kind> kinds(n);
  std::vector<int64_t> ts(n);
  std::vector<int64_t> gap_before(n);
  std::vector<uint64_t> session(n);
  for (int i = 0; i < n; ++i) {
    kinds[i] = NextKind(rng_, d);
    if (kinds[i] == Kind::kSessionStart) ++d.sessions_made;
    session[i] = d.sessions_made;
    if (kinds[i] == Kind::kSessionStart) {
      // The previous session ended hours ago; its tail is what the SDK sends at this launch.
      gap_before[i] = static_cast<int64_t>(kDayMs / d.sessions_per_day * (0.5 + Uniform(rng_)));
    } else if (kinds[i] == Kind::kCrash && i > 0 && kinds[i - 1] == Kind::kFlowCrash) {
      gap_before[i] = UniformInt(rng_, 0, 50);
    } else {
      gap_before[i] = 50 + Exponential(rng_, 4000);
    }
  }
  ts[n - 1] = now_ms - d.offline_lag_ms - UniformInt(rng_, 0, 3000);
  for (int i = n - 2; i >= 0; --i) ts[i] = ts[i + 1] - gap_before[i + 1];

  // Pass 2: the body.
  GeneratedBatch batch;
  batch.batch_id = id_prefix + "b" + std::to_string(d.batches_made++);
  batch.event_count = n;
  batch.body.reserve(1024 + 400 * n);
  JsonWriter w(&batch.body);
  w.BeginObject();
  w.Key("batch_id").String(batch.batch_id).Key("sent_at").Int(now_ms);
  w.Key("device").BeginObject().Key("id").String(d.id).Key("model").String(d.model);
  w.Key("manufacturer").String(d.manufacturer);
  w.Key("os").String(d.ios ? "ios" : "android").Key("os_version").String(d.os_version);
  w.Key("locale").String(d.locale).Key("timezone").String(d.timezone);
  w.Key("screen")
      .String(d.screen)
      .Key("orientation")
      .String(Chance(rng_, 0.9) ? "portrait" : "landscape");
  w.Key("memory_mb").Int(d.memory_mb);
  w.Key("free_memory_mb").Int(UniformInt(rng_, d.memory_mb / 20, d.memory_mb / 3));
  w.Key("storage_gb").Int(d.storage_gb);
  w.Key("free_storage_mb").Int(UniformInt(rng_, 500, d.storage_gb * 1024 / 2));
  w.Key("battery_percent").Int(UniformInt(rng_, 3, 100)).Key("charging").Bool(Chance(rng_, 0.2));
  bool wifi = Chance(rng_, 0.65);
  w.Key("network").String(wifi ? "wifi" : "cellular");
  if (!wifi) w.Key("carrier").String(d.carrier);
  w.Key(d.ios ? "jailbroken" : "rooted").Bool(false).EndObject();
  const AppVersion& app = kAppVersions[d.app_version];
  w.Key("app").BeginObject().Key("version").String(app.version).Key("build").String(app.build);
  w.EndObject();
  w.Key("user").BeginObject().Key("id").String(d.user_id).EndObject();
  w.Key("sdk").BeginObject().Key("name").String(d.ios ? "vigil-cocoa" : "vigil-android");
  w.Key("version").String("3.4.1").EndObject();
  w.Key("events").BeginArray();
  for (int i = 0; i < n; ++i) {
    w.BeginObject();
    w.Key("id").String(UuidFor(id_prefix + std::to_string(d.events_made++)));
    w.Key("type").String(TypeName(kinds[i])).Key("ts").Int(ts[i]);
    w.Key("session_id").String(UuidFor(id_prefix + "s" + std::to_string(session[i])));
    switch (kinds[i]) {
      case Kind::kSessionStart:
        break;
      case Kind::kCrash:
      case Kind::kHandledException: {
        bool crash = kinds[i] == Kind::kCrash;
        std::span<const ErrorSignature> table = kHandledExceptions;
        if (crash) table = kCrashes;
        WriteError(rng_, PickError(rng_, table, d), crash, w);
        WriteBreadcrumbs(rng_, ts[i], w);
        break;
      }
      case Kind::kNetwork:
        WriteNetwork(rng_, w);
        break;
      case Kind::kUserFlow: {
        const Flow& flow = ZipfPick(rng_, kFlows, 0.8);
        WriteFlow(rng_, flow, Chance(rng_, flow.fail_rate) ? "fail" : "success", w);
        break;
      }
      case Kind::kFlowCrash:
        WriteFlow(rng_, ZipfPick(rng_, kFlows, 0.8), "crash", w);
        break;
      case Kind::kCustom:
        WriteCustom(rng_, w);
        break;
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return batch;
}

}  // namespace vigil::loadgen
