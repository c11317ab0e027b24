// Unit tests for proxy/resp_codec.cpp: framing of RESP2 and RESP3 sessions
// (array and inline commands, nested replies, maps, pushes, attributes, nulls,
// big values) across every chunk boundary, the preset error lines as Redis
// 7.0 sends them, and the database faults carried out through the codec hooks
// (error and null replies in order, drop, delay, MULTI, SUBSCRIBE). Seeded,
// no sockets, no clock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faults/db.hpp"
#include "faults/rng.hpp"
#include "proxy/codec.hpp"
#include "proxy/resp_codec.hpp"

namespace {

namespace db = brownout::faults::db;
namespace resp = brownout::proxy::resp;
using brownout::faults::Duration;
using brownout::faults::Rng;
using brownout::proxy::Action;
using brownout::proxy::Actions;
using brownout::proxy::CodecHooks;
using namespace std::chrono_literals;

std::string esc(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---- RESP builders ------------------------------------------------------------

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
// A command in the array form clients send.
std::string cmd(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args) out += bulk(a);
  return out;
}
std::string cmdv(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) out += bulk(a);
  return out;
}
std::string simple(std::string_view s) {
  return "+" + std::string(s) + "\r\n";
}
std::string integer(std::int64_t i) {
  return ":" + std::to_string(i) + "\r\n";
}
std::string agg(char type, std::size_t n) {
  return std::string(1, type) + std::to_string(n) + "\r\n";
}
const std::string kNull2 = "$-1\r\n";
const std::string kNullArray2 = "*-1\r\n";
const std::string kNull3 = "_\r\n";
const std::string kBusy =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

std::string hello3_reply() {
  return agg('%', 7) + bulk("server") + bulk("redis") + bulk("version") + bulk("7.0.15") +
         bulk("proto") + integer(3) + bulk("id") + integer(5) + bulk("mode") + bulk("standalone") +
         bulk("role") + bulk("master") + bulk("modules") + agg('*', 0);
}

// A value with CR, LF, '*' and '$' inside, to catch a framer that scans bulk bodies.
std::string big_value(std::size_t n) {
  std::string v(n, 'x');
  for (std::size_t i = 0; i < n; ++i) v[i] = "ab\r\n*$:+-_%>|0"[i % 14];
  return v;
}

// ---- running a codec --------------------------------------------------------

struct Step {
  Action::Kind kind;
  std::string data;
  Duration delay{0};
  bool reset = false;
};

struct Trace {
  std::vector<Step> steps;
  std::string up;
  std::string down;
  bool closed = false;
  std::string after_close;
  int waits = 0;

  void take(const Actions& actions) {
    for (const auto& a : actions) {
      steps.push_back(Step{a.kind, std::string(a.data), a.delay, a.reset});
      switch (a.kind) {
        case Action::Kind::to_server:
          (closed ? after_close : up) += a.data;
          break;
        case Action::Kind::to_client:
          (closed ? after_close : down) += a.data;
          break;
        case Action::Kind::wait:
          ++waits;
          break;
        case Action::Kind::close:
          closed = true;
          break;
      }
    }
  }
};

struct Hooks {
  std::vector<db::FaultRef> faults;
  Rng rng{1};
  std::vector<std::pair<std::string, std::string>> decided;  // command, key
  std::vector<std::string> acted;

  CodecHooks make() {
    CodecHooks h;
    h.decide = [this](const db::Statement& s) {
      decided.emplace_back(std::string(s.command), std::string(s.key));
      return db::decide(faults, db::Protocol::redis, s, rng);
    };
    h.refuse = [] { return db::FaultRef{}; };
    h.acted = [this](const db::Fault& f, std::string_view what) {
      acted.push_back(f.name + ": " + std::string(what));
    };
    return h;
  }
};

db::Tree S(std::string s) {
  return db::Tree{std::move(s)};
}
db::Tree N(std::int64_t i) {
  return db::Tree{i};
}
db::Tree M(std::initializer_list<std::pair<const std::string, db::Tree>> items) {
  return db::Tree{db::TreeMap(items)};
}

db::FaultRef fault(std::string_view type, const db::Tree& attrs, double p = 1.0) {
  const db::TypeInfo* info = db::find_type(type);
  REQUIRE(info != nullptr);
  auto r = db::parse_settings(*info, attrs, p);
  REQUIRE_MESSAGE(r, r.error.message);
  auto f = std::make_shared<db::Fault>();
  f->name = std::string(type);
  f->settings = std::move(*r.value);
  return f;
}

// Chunks are copied into buffers scribbled over after each call, so a codec
// that keeps a view into an old chunk is caught.
struct Run {
  Hooks hooks;
  std::unique_ptr<resp::Codec> codec;
  Trace t;

  explicit Run(std::vector<db::FaultRef> faults = {}) {
    hooks.faults = std::move(faults);
    codec = std::make_unique<resp::Codec>(hooks.make());
  }
  void client(std::string_view chunk) {
    if (t.closed) return;
    std::string buf(chunk);
    t.take(codec->from_client(buf));
    buf.assign(buf.size(), '\xAA');
  }
  void server(std::string_view chunk) {
    if (t.closed) return;
    std::string buf(chunk);
    t.take(codec->from_server(buf));
    buf.assign(buf.size(), '\xAA');
  }
};

std::vector<std::string_view> chunks(std::string_view s, Rng& rng, std::size_t max_chunk = 48) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto cap = rng.chance(0.5) ? std::min<std::size_t>(6, max_chunk) : max_chunk;
    const auto n = std::min(
        s.size(), static_cast<std::size_t>(rng.range(1, static_cast<std::int64_t>(cap) + 1)));
    out.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return out;
}

using Exchange = std::pair<std::string, std::string>;

std::vector<Exchange> resp2_session() {
  std::vector<Exchange> ex;
  ex.emplace_back(cmd({"PING"}), simple("PONG"));
  ex.emplace_back("PING\r\n", simple("PONG"));  // inline, as redis-cli and telnet send
  ex.emplace_back(cmd({"SET", "a", "1"}), simple("OK"));
  ex.emplace_back("SET \"a b\" \"c d\"\r\n", simple("OK"));
  ex.emplace_back("get   a\r\n", bulk("1"));  // inline, lower case, several blanks
  ex.emplace_back("\r\n" + cmd({"GET", "a"}), bulk("1"));  // an empty line has no reply
  ex.emplace_back(cmd({"GET", "missing"}), kNull2);
  ex.emplace_back(cmd({"MGET", "a", "missing"}), agg('*', 2) + bulk("1") + kNull2);
  ex.emplace_back(cmd({"LRANGE", "l", "0", "-1"}), agg('*', 0));
  ex.emplace_back(cmd({"BLPOP", "q", "1"}), kNullArray2);
  ex.emplace_back(cmd({"XRANGE", "s", "-", "+"}),
                  agg('*', 1) + agg('*', 2) + bulk("1700000000000-0") + agg('*', 2) + bulk("f") +
                      bulk("v"));
  ex.emplace_back(cmd({"INCR", "n"}) + cmd({"DECRBY", "n", "5"}), integer(1) + integer(-4));
  ex.emplace_back(cmd({"HGETALL", "h"}), agg('*', 4) + bulk("f1") + bulk("v1") + bulk("f2") + bulk(""));
  ex.emplace_back(cmd({"LPUSH", "a", "x"}),
                  "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  ex.emplace_back(cmd({"SET", "e", ""}), simple("OK"));
  ex.emplace_back(cmd({"GET", "e"}), bulk(""));
  ex.emplace_back(cmd({"MULTI"}) + cmd({"SET", "a", "2"}) + cmd({"INCR", "n"}) + cmd({"EXEC"}),
                  simple("OK") + simple("QUEUED") + simple("QUEUED") + agg('*', 2) +
                      simple("OK") + integer(-3));
  ex.emplace_back(cmd({"INCR", "c"}) + cmd({"INCR", "c"}) + cmd({"INCR", "c"}),
                  integer(1) + integer(2) + integer(3));
  ex.emplace_back(cmd({"SCAN", "0"}), agg('*', 2) + bulk("0") + agg('*', 2) + bulk("a") + bulk("n"));
  return ex;
}

std::vector<Exchange> resp3_session() {
  std::vector<Exchange> ex;
  ex.emplace_back(cmd({"HELLO", "3"}), hello3_reply());
  ex.emplace_back(cmd({"HGETALL", "h"}), agg('%', 1) + bulk("f") + bulk("v"));
  ex.emplace_back(cmd({"SMEMBERS", "s"}), agg('~', 2) + bulk("a") + bulk("b"));
  ex.emplace_back(cmd({"ZSCORE", "z", "m"}), ",1.5\r\n");
  ex.emplace_back(cmd({"GET", "missing"}), kNull3);
  ex.emplace_back(cmd({"CLIENT", "TRACKING", "on"}), simple("OK"));
  // an invalidation push arrives before the reply: it is not the reply
  ex.emplace_back(cmd({"GET", "a"}),
                  agg('>', 2) + bulk("invalidate") + agg('*', 1) + bulk("a") + bulk("1"));
  // an attribute before the reply
  ex.emplace_back(cmd({"MGET", "a", "b"}), agg('|', 1) + simple("key-popularity") + agg('%', 2) +
                                               bulk("a") + ",0.1923\r\n" + bulk("b") +
                                               ",0.0012\r\n" + agg('*', 2) + integer(2039123) +
                                               integer(9543892));
  ex.emplace_back(cmd({"EXISTS", "a"}), "#t\r\n");
  ex.emplace_back(cmd({"DEBUG", "PROTOCOL", "bignum"}),
                  "(3492890328409238509324850943850943825024385\r\n");
  ex.emplace_back(cmd({"DEBUG", "PROTOCOL", "verbatim"}), "=15\r\ntxt:Some string\r\n");
  ex.emplace_back(cmd({"BAD", "x"}), "!21\r\nSYNTAX invalid syntax\r\n");
  ex.emplace_back(cmd({"ZSCORE", "z", "top"}), ",inf\r\n");
  ex.emplace_back(cmd({"XX", "nested"}), agg('*', 3) + agg('%', 1) + simple("a") + integer(1) +
                                             agg('~', 1) + "#f\r\n" + agg('*', 3) + integer(1) +
                                             kNull3 + kNull2);
  // an attribute in front of an element inside an aggregate
  ex.emplace_back(cmd({"XX", "attr"}), agg('*', 2) + agg('|', 1) + simple("ttl") + integer(3600) +
                                           integer(1) + integer(2));
  // a push with nothing asked: after the last reply
  ex.emplace_back(cmd({"PING"}),
                  simple("PONG") + agg('>', 2) + bulk("invalidate") + agg('*', 1) + bulk("b"));
  return ex;
}

std::string clients(const std::vector<Exchange>& ex) {
  std::string s;
  for (const auto& e : ex) s += e.first;
  return s;
}
std::string servers(const std::vector<Exchange>& ex) {
  std::string s;
  for (const auto& e : ex) s += e.second;
  return s;
}

bool decided(const Hooks& h, std::string_view command, std::string_view key) {
  for (const auto& [c, k] : h.decided)
    if (c == command && k == key) return true;
  return false;
}

// The PING that takes a replaced command's place, in either form.
bool is_ping(std::string_view s) {
  return s == cmd({"PING"}) || s == "PING\r\n" || s == cmd({"ping"}) || s == "ping\r\n";
}

// Checks the framing of one session in every way of cutting it.
void check_session(const std::vector<Exchange>& ex) {
  const auto client = clients(ex);
  const auto server = servers(ex);

  SUBCASE("in one chunk each way") {
    Run r;
    r.client(client);
    r.server(server);
    CHECK(esc(r.t.up) == esc(client));
    CHECK(esc(r.t.down) == esc(server));
    CHECK_FALSE(r.t.closed);
    CHECK(r.t.waits == 0);
    CHECK(r.codec->pending() == 0);
    CHECK_FALSE(r.codec->bytes_mode());
  }
  SUBCASE("exchange by exchange, nothing left pending after each") {
    Run r;
    std::string up, down;
    for (const auto& [c, s] : ex) {
      r.client(c);
      r.server(s);
      up += c;
      down += s;
      REQUIRE(esc(r.t.up) == esc(up));
      REQUIRE(esc(r.t.down) == esc(down));
      REQUIRE_MESSAGE(r.codec->pending() == 0, "after " << esc(c));
    }
  }
  SUBCASE("one byte at a time") {
    Run r;
    for (std::size_t i = 0; i < client.size(); ++i) r.client(std::string_view(client).substr(i, 1));
    for (std::size_t i = 0; i < server.size(); ++i) r.server(std::string_view(server).substr(i, 1));
    CHECK(esc(r.t.up) == esc(client));
    CHECK(esc(r.t.down) == esc(server));
    CHECK(r.codec->pending() == 0);
  }
  SUBCASE("split at every point of the client stream") {
    Run whole;
    whole.client(client);
    whole.server(server);
    for (std::size_t p = 0; p <= client.size(); ++p) {
      Run r;
      r.client(std::string_view(client).substr(0, p));
      r.client(std::string_view(client).substr(p));
      r.server(server);
      REQUIRE_MESSAGE(r.t.up == client, "split at " << p);
      REQUIRE_MESSAGE(r.t.down == server, "split at " << p);
      REQUIRE_MESSAGE(r.hooks.decided == whole.hooks.decided, "split at " << p);
      REQUIRE(r.codec->pending() == 0);
    }
  }
  SUBCASE("split at every point of the server stream") {
    for (std::size_t p = 0; p <= server.size(); ++p) {
      Run r;
      r.client(client);
      r.server(std::string_view(server).substr(0, p));
      r.server(std::string_view(server).substr(p));
      REQUIRE_MESSAGE(r.t.up == client, "split at " << p);
      REQUIRE_MESSAGE(r.t.down == server, "split at " << p);
      REQUIRE(r.codec->pending() == 0);
    }
  }
  SUBCASE("random chunks, exchanges interleaved, 300 seeds") {
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
      Rng rng(seed);
      Run r;
      for (const auto& [c, s] : ex) {
        for (auto piece : chunks(c, rng)) r.client(piece);
        for (auto piece : chunks(s, rng)) r.server(piece);
      }
      REQUIRE_MESSAGE(r.t.up == client, "seed " << seed);
      REQUIRE_MESSAGE(r.t.down == server, "seed " << seed);
      REQUIRE(r.codec->pending() == 0);
    }
  }
}

}  // namespace

// ---- error lines ------------------------------------------------------------------

TEST_CASE("resp codec: preset error lines are Redis 7.0's own text") {
  // From redis 7.0 server.c (shared.slowevalerr etc.), as redis-server 7.0.15 sends them.
  CHECK(resp::error_line("BUSY") == kBusy);
  CHECK(resp::error_line("LOADING") == "LOADING Redis is loading the dataset in memory");
  CHECK(resp::error_line("READONLY") == "READONLY You can't write against a read only replica.");
  CHECK(resp::error_line("OOM") == "OOM command not allowed when used memory > 'maxmemory'.");
  CHECK(resp::error_line("MASTERDOWN") ==
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
  CHECK(resp::error_line("TRYAGAIN") == "TRYAGAIN Multiple keys request during rehashing of slot");
  CHECK(resp::error_line("CLUSTERDOWN") == "CLUSTERDOWN The cluster is down");
  // Other text is used as given.
  CHECK(resp::error_line("ERR something failed") == "ERR something failed");
  CHECK(resp::error_line("MOVED 3999 127.0.0.1:6381") == "MOVED 3999 127.0.0.1:6381");
}

// ---- framing ------------------------------------------------------------------

TEST_CASE("resp codec: a RESP2 session passes byte for byte, whatever the chunking") {
  check_session(resp2_session());
}

TEST_CASE("resp codec: a RESP3 session (maps, sets, pushes, attributes, nulls) passes byte for byte") {
  check_session(resp3_session());
}

TEST_CASE("resp codec: the decide hook sees each command's name and key, in both forms") {
  Run r;
  const auto ex = resp2_session();
  r.client(clients(ex));
  CHECK(decided(r.hooks, "PING", ""));
  CHECK(decided(r.hooks, "SET", "a"));
  CHECK(decided(r.hooks, "SET", "a b"));  // inline, quoted
  CHECK(decided(r.hooks, "get", "a"));    // as sent
  CHECK(decided(r.hooks, "MGET", "a"));
  CHECK(decided(r.hooks, "LRANGE", "l"));
}

TEST_CASE("resp codec: big values stream through in any chunking") {
  const auto v = big_value(300000);
  const auto w = big_value(70000);
  const std::string client = cmd({"SET", "big", v}) + cmd({"GET", "big"}) +
                             cmd({"RPUSH", "l", w, w, "x"}) + cmd({"LRANGE", "l", "0", "-1"});
  const std::string server = simple("OK") + bulk(v) + integer(3) + agg('*', 3) + bulk(w) + bulk(w) +
                             bulk("x");
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Rng rng(seed);
    Run r;
    for (auto piece : chunks(client, rng, 50000)) r.client(piece);
    for (auto piece : chunks(server, rng, 50000)) r.server(piece);
    REQUIRE_MESSAGE(r.t.up == client, "seed " << seed);
    REQUIRE_MESSAGE(r.t.down == server, "seed " << seed);
    CHECK(r.codec->pending() == 0);
    CHECK(decided(r.hooks, "SET", "big"));
  }
}

// ---- faults ---------------------------------------------------------------------

TEST_CASE("resp codec: redis_error answers in order, with a PING upstream in the command's place") {
  const auto f = fault("redis_error", M({{"match", M({{"command", S("GET")}})}}));
  const auto set = cmd({"SET", "a", "1"});
  const auto get = cmd({"GET", "a"});
  const auto incr = cmd({"INCR", "n"});
  const auto client = set + get + incr;
  const auto server = simple("OK") + simple("PONG") + integer(1);
  const auto expected = simple("OK") + "-" + kBusy + "\r\n" + integer(1);

  SUBCASE("split anywhere on both sides") {
    for (std::size_t p = 0; p <= client.size(); ++p) {
      Run r({f});
      r.client(std::string_view(client).substr(0, p));
      r.client(std::string_view(client).substr(p));
      REQUIRE(r.t.up.size() > set.size() + incr.size());
      CHECK(r.t.up.starts_with(set));
      CHECK(r.t.up.ends_with(incr));
      const auto middle = std::string_view(r.t.up).substr(set.size(), r.t.up.size() - set.size() - incr.size());
      REQUIRE_MESSAGE(is_ping(middle), esc(middle));
      const auto q = (p * 7) % (server.size() + 1);
      r.server(std::string_view(server).substr(0, q));
      r.server(std::string_view(server).substr(q));
      REQUIRE_MESSAGE(esc(r.t.down) == esc(expected), "split at " << p);
      CHECK(r.codec->pending() == 0);
      CHECK_FALSE(r.t.closed);
    }
  }
  SUBCASE("the forged error waits for the replies before it") {
    Run r({f});
    r.client(client);
    r.server("+O");
    CHECK(r.t.down == "+O");
    r.server("K\r\n");
    CHECK(r.t.down == simple("OK"));  // not the error yet: PONG has not come
    r.server(simple("PONG"));
    CHECK(esc(r.t.down) == esc(simple("OK") + "-" + kBusy + "\r\n"));
    r.server(integer(1));
    CHECK(esc(r.t.down) == esc(expected));
    CHECK_FALSE(r.hooks.acted.empty());
  }
  SUBCASE("inline form too") {
    Run r({f});
    r.client("SET a 1\r\nGET a\r\nINCR n\r\n");
    CHECK(r.t.up.starts_with("SET a 1\r\n"));
    CHECK(r.t.up.ends_with("INCR n\r\n"));
    const auto middle = std::string_view(r.t.up).substr(9, r.t.up.size() - 9 - 8);
    CHECK_MESSAGE(is_ping(middle), esc(middle));
    r.server(server);
    CHECK(esc(r.t.down) == esc(expected));
  }
  SUBCASE("a given error line") {
    Run r({fault("redis_error", M({{"error", S("LOADING")}}))});
    r.client(get);
    r.server(simple("PONG"));
    CHECK(esc(r.t.down) == esc("-LOADING Redis is loading the dataset in memory\r\n"));
  }
}

TEST_CASE("resp codec: a replaced command with a big value sends none of it upstream") {
  const auto f = fault("redis_error", M({{"match", M({{"key", S("big*")}})}}));
  const auto v = big_value(200000);
  const auto client = cmd({"SET", "bigkey", v}) + cmd({"GET", "small"});
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    Rng rng(seed);
    Run r({f});
    for (auto piece : chunks(client, rng, 30000)) r.client(piece);
    REQUIRE(r.t.up.size() > cmd({"GET", "small"}).size());
    CHECK(r.t.up.ends_with(cmd({"GET", "small"})));
    CHECK_MESSAGE(is_ping(std::string_view(r.t.up).substr(0, r.t.up.size() - cmd({"GET", "small"}).size())),
                  "seed " << seed);
    r.server(simple("PONG") + bulk("s"));
    CHECK(esc(r.t.down) == esc("-" + kBusy + "\r\n" + bulk("s")));
  }
}

TEST_CASE("resp codec: redis_empty answers a null in the protocol the connection speaks") {
  const auto f = fault("redis_empty", M({{"match", M({{"key", S("user:*")}})}}));
  SUBCASE("RESP2: $-1") {
    Run r({f});
    r.client(cmd({"GET", "user:1"}) + cmd({"GET", "other"}));
    r.server(simple("PONG") + bulk("x"));
    CHECK(esc(r.t.down) == esc(kNull2 + bulk("x")));
  }
  SUBCASE("after HELLO 3: _") {
    Run r({f});
    r.client(cmd({"HELLO", "3"}));
    r.server(hello3_reply());
    r.client(cmd({"GET", "user:1"}));
    r.server(simple("PONG"));
    CHECK(esc(r.t.down) == esc(hello3_reply() + kNull3));
  }
  SUBCASE("HELLO 3 pipelined with the command") {
    Run r({f});
    r.client(cmd({"HELLO", "3"}) + cmd({"GET", "user:1"}));
    r.server(hello3_reply() + simple("PONG"));
    CHECK(esc(r.t.down) == esc(hello3_reply() + kNull3));
  }
  SUBCASE("by default only GET is answered empty") {
    Run r({f});
    r.client(cmd({"HGETALL", "user:1"}));
    CHECK(esc(r.t.up) == esc(cmd({"HGETALL", "user:1"})));
  }
}

TEST_CASE("resp codec: redis_drop close swallows the reply and closes") {
  const auto f = fault("redis_drop", M({{"match", M({{"command", S("GET")}})}}));
  const auto client = cmd({"SET", "a", "1"}) + cmd({"GET", "a"}) + cmd({"INCR", "n"});
  const auto server = simple("OK") + bulk("1") + integer(1);
  for (std::size_t p = 0; p <= server.size(); ++p) {
    Run r({f});
    r.client(client);
    // The command runs: it goes upstream as sent.
    REQUIRE(r.t.up.starts_with(cmd({"SET", "a", "1"}) + cmd({"GET", "a"})));
    r.server(std::string_view(server).substr(0, p));
    r.server(std::string_view(server).substr(p));
    REQUIRE_MESSAGE(esc(r.t.down) == esc(simple("OK")), "split at " << p);
    REQUIRE(r.t.closed);
    CHECK(r.t.after_close.empty());
  }
}

TEST_CASE("resp codec: redis_drop hang swallows the reply and every later one") {
  const auto f = fault("redis_drop", M({{"mode", S("hang")}, {"match", M({{"command", S("GET")}})}}));
  Run r({f});
  r.client(cmd({"SET", "a", "1"}) + cmd({"GET", "a"}) + cmd({"INCR", "n"}));
  r.server(simple("OK") + bulk("1") + integer(1));
  CHECK(esc(r.t.down) == esc(simple("OK")));
  CHECK_FALSE(r.t.closed);
  r.client(cmd({"PING"}));
  r.server(simple("PONG"));
  CHECK(esc(r.t.down) == esc(simple("OK")));

  SUBCASE("with a timeout: waits, then closes") {
    Run h({fault("redis_drop", M({{"mode", S("hang")}, {"timeout", N(300)}}))});
    h.client(cmd({"GET", "a"}));
    h.server(bulk("1"));
    CHECK(h.t.down.empty());
    bool waited = false;
    for (const auto& s : h.t.steps) {
      if (s.kind == Action::Kind::wait) {
        CHECK(s.delay == Duration(300ms));
        waited = true;
      }
      if (s.kind == Action::Kind::close) CHECK(waited);
    }
    CHECK(waited);
    CHECK(h.t.closed);
  }
}

TEST_CASE("resp codec: redis_delay holds the command, then forwards it unchanged") {
  const auto f = fault("redis_delay", M({{"delay", N(120)}, {"match", M({{"command", S("GET")}})}}));
  Run r({f});
  r.client(cmd({"GET", "a"}));
  CHECK(esc(r.t.up) == esc(cmd({"GET", "a"})));
  REQUIRE(r.t.steps.size() >= 2);
  CHECK(r.t.steps.front().kind == Action::Kind::wait);
  CHECK(r.t.steps.front().delay == Duration(120ms));
  r.server(bulk("1"));
  CHECK(esc(r.t.down) == esc(bulk("1")));
  r.t = Trace{};
  r.client(cmd({"SET", "a", "1"}));
  CHECK(r.t.waits == 0);
}

TEST_CASE("resp codec: nothing is injected between MULTI and EXEC") {
  const auto f = fault("redis_error", M({{"match", M({{"command", S("GET")}})}}));
  Run r({f});
  const auto tx = cmd({"MULTI"}) + cmd({"SET", "a", "1"}) + cmd({"GET", "a"}) + cmd({"EXEC"});
  r.client(tx);
  CHECK(esc(r.t.up) == esc(tx));
  const auto answer = simple("OK") + simple("QUEUED") + simple("QUEUED") + agg('*', 2) +
                      simple("OK") + bulk("1");
  r.server(answer);
  CHECK(esc(r.t.down) == esc(answer));
  // After EXEC the fault acts again.
  r.client(cmd({"GET", "a"}));
  CHECK(is_ping(std::string_view(r.t.up).substr(tx.size())));
  SUBCASE("DISCARD ends the transaction too") {
    Run d({f});
    const auto dtx = cmd({"MULTI"}) + cmd({"GET", "a"}) + cmd({"DISCARD"}) + cmd({"GET", "a"});
    d.client(dtx);
    const auto head = cmd({"MULTI"}) + cmd({"GET", "a"}) + cmd({"DISCARD"});
    CHECK(d.t.up.starts_with(head));
    CHECK(is_ping(std::string_view(d.t.up).substr(head.size())));
  }
}

TEST_CASE("resp codec: SUBSCRIBE turns the connection into bytes once earlier replies are through") {
  const auto f = fault("redis_error", M({{"match", M({{"command", S("GET")}})}}));
  Run r({f});
  const auto get = cmd({"GET", "a"});
  const auto sub = cmd({"SUBSCRIBE", "ch1", "ch2"});
  r.client(get + sub);
  CHECK(r.t.up.ends_with(sub));
  CHECK(is_ping(std::string_view(r.t.up).substr(0, r.t.up.size() - sub.size())));
  const auto confirmations = agg('*', 3) + bulk("subscribe") + bulk("ch1") + integer(1) +
                             agg('*', 3) + bulk("subscribe") + bulk("ch2") + integer(2);
  const auto message = agg('*', 3) + bulk("message") + bulk("ch1") + bulk("hello");
  r.server(simple("PONG") + confirmations + message);
  CHECK(esc(r.t.down) == esc("-" + kBusy + "\r\n" + confirmations + message));
  CHECK(r.codec->bytes_mode());
  // In bytes mode nothing is decided any more: a GET goes up as sent.
  const auto before = r.t.up;
  r.client(get + cmd({"PING"}));
  CHECK(esc(r.t.up) == esc(before + get + cmd({"PING"})));
  r.server(agg('*', 2) + bulk("pong") + bulk(""));
  CHECK(r.t.down.ends_with(agg('*', 2) + bulk("pong") + bulk("")));

  SUBCASE("commands pipelined behind SUBSCRIBE in the same chunk go up too") {
    Run p({f});
    p.client(sub + cmd({"PING"}) + cmd({"UNSUBSCRIBE"}));
    CHECK(esc(p.t.up) == esc(sub + cmd({"PING"}) + cmd({"UNSUBSCRIBE"})));
  }
  SUBCASE("MONITOR and CLIENT REPLY do the same") {
    for (const auto& c : {cmd({"MONITOR"}), cmd({"CLIENT", "REPLY", "OFF"}), std::string("monitor\r\n")}) {
      CAPTURE(esc(c));
      Run m({f});
      m.client(c);
      m.server(simple("OK"));
      m.client(get);
      CHECK(esc(m.t.up) == esc(c + get));
      m.server("+1700000000.000000 [0 127.0.0.1:5555] \"GET\" \"a\"\r\n");
      CHECK(m.codec->bytes_mode());
    }
  }
}

// ---- pipelines with faults, against a small fake server -------------------------

namespace {

// Parses commands (array or inline) the way Redis does, for the fake server.
struct CommandReader {
  std::string in;
  std::size_t at = 0;
  // The next whole command's arguments; false when more bytes are needed.
  bool next(std::vector<std::string>& args) {
    args.clear();
    std::size_t p = at;
    const auto line = [&](std::string& out) {
      const auto e = in.find("\r\n", p);
      if (e == std::string::npos) return false;
      out = in.substr(p, e - p);
      p = e + 2;
      return true;
    };
    std::string l;
    if (p >= in.size()) return false;
    if (in[p] != '*') {
      if (!line(l)) return false;
      std::size_t i = 0;
      while (i < l.size()) {
        while (i < l.size() && l[i] == ' ') ++i;
        if (i >= l.size()) break;
        std::size_t j = i;
        while (j < l.size() && l[j] != ' ') ++j;
        args.push_back(l.substr(i, j - i));
        i = j;
      }
      at = p;
      if (args.empty()) return next(args);
      return true;
    }
    if (!line(l)) return false;
    const auto n = std::stoll(l.substr(1));
    for (std::int64_t k = 0; k < n; ++k) {
      if (!line(l)) return false;
      const auto len = static_cast<std::size_t>(std::stoll(l.substr(1)));
      if (in.size() < p + len + 2) return false;
      args.push_back(in.substr(p, len));
      p += len + 2;
    }
    at = p;
    return true;
  }
};

std::string fake_reply(const std::vector<std::string>& args) {
  const auto& c = args.at(0);
  if (c == "PING") return simple("PONG");
  if (c == "GET") return args.at(1).starts_with("m") ? kNull2 : bulk("val:" + args.at(1));
  if (c == "SET") return simple("OK");
  if (c == "INCR") return integer(static_cast<std::int64_t>(args.at(1).size()));
  if (c == "HGETALL") return agg('*', 2) + agg('*', 1) + bulk(args.at(1)) + integer(7);
  return "-ERR unknown command '" + c + "'\r\n";
}

}  // namespace

TEST_CASE("resp codec: pipelined commands stay paired across random splits with faults acting") {
  const std::string forged_error = "-" + kBusy + "\r\n";
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    Rng rng(seed);
    Run r({fault("redis_delay", M({{"delay", N(3)}, {"match", M({{"key", S("d*")}})}})),
           fault("redis_error", M({{"match", M({{"key", S("e*")}})}})),
           fault("redis_empty", M({{"match", M({{"key", S("n*")}})}}))});
    std::string client;
    std::string expected_down;
    std::vector<bool> replaced;
    const int commands = static_cast<int>(rng.range(1, 25));
    for (int i = 0; i < commands; ++i) {
      static const char* prefixes[] = {"d", "e", "n", "k", "m"};
      const std::string key = prefixes[rng.range(0, 5)] + std::to_string(i);
      std::vector<std::string> args;
      switch (rng.range(0, 5)) {
        case 0:
          args = {"GET", key};
          break;
        case 1:
          args = {"SET", key, rng.chance(0.2) ? big_value(5000) : "v" + std::to_string(i)};
          break;
        case 2:
          args = {"INCR", key};
          break;
        case 3:
          args = {"HGETALL", key};
          break;
        default:
          args = {"PING"};
          break;
      }
      const bool inline_form = rng.chance(0.25) && args.size() < 3;
      if (inline_form) {
        client += args[0] + (args.size() > 1 ? " " + args[1] : "") + "\r\n";
      } else {
        client += cmdv(args);
      }
      const bool error = args.size() > 1 && key[0] == 'e';
      const bool empty = args[0] == "GET" && key[0] == 'n';
      replaced.push_back(error || empty);
      expected_down += error ? forged_error : empty ? kNull2 : fake_reply(args);
    }
    for (auto piece : chunks(client, rng, 700)) r.client(piece);

    // Upstream: the same commands, a PING in place of each replaced one.
    CommandReader sent;
    sent.in = r.t.up;
    CommandReader asked;
    asked.in = client;
    std::vector<std::string> a, b;
    std::string answers;
    std::size_t n = 0;
    while (asked.next(a)) {
      REQUIRE(sent.next(b));
      if (replaced.at(n))
        CHECK(b == std::vector<std::string>{"PING"});
      else
        CHECK(b == a);
      answers += fake_reply(b);
      ++n;
    }
    CHECK(n == replaced.size());
    CHECK_FALSE(sent.next(b));

    for (auto piece : chunks(answers, rng, 700)) r.server(piece);
    CHECK(esc(r.t.down) == esc(expected_down));
    CHECK(r.codec->pending() == 0);
    CHECK_FALSE(r.t.closed);
  }
}

TEST_CASE("resp codec: an attribute inside an aggregate is not one of its elements") {
  // RESP3: "Attributes can appear anywhere before a valid part of the protocol
  // identifying a given type" (the spec's example is an attribute before the
  // third element of an array). The element count does not include it.
  const auto f = fault("redis_error", M({{"match", M({{"command", S("GET")}})}}));
  Run r({f});
  r.client(cmd({"HELLO", "3"}));
  r.server(hello3_reply());
  r.client(cmd({"LRANGE", "l", "0", "-1"}) + cmd({"GET", "a"}));
  const auto reply = agg('*', 3) + integer(1) + integer(2) + agg('|', 1) + simple("ttl") +
                     integer(3600) + integer(3);
  r.server(reply + simple("PONG"));
  CHECK(esc(r.t.down) == esc(hello3_reply() + reply + "-" + kBusy + "\r\n"));
  CHECK(r.codec->pending() == 0);
}

TEST_CASE("resp codec: absurd lengths do not overflow") {
  for (const std::string& c : {std::string("*1\r\n$9223372036854775807\r\nabc"),
                               std::string("*9223372036854775807\r\n$3\r\nGET\r\n"),
                               std::string("*1\r\n$-9223372036854775808\r\n"),
                               std::string("$9223372036854775806\r\n")}) {
    CAPTURE(esc(c));
    Run r;
    r.client(c);
    r.client("rest\r\n");
    CHECK(r.t.up == c + "rest\r\n");
  }
  for (const std::string& s : {std::string("$9223372036854775807\r\nabc"),
                               std::string("%9223372036854775807\r\n+a\r\n"),
                               std::string("|4611686018427387904\r\n+a\r\n"),
                               std::string("*-9223372036854775808\r\n")}) {
    CAPTURE(esc(s));
    Run r;
    r.client(cmd({"GET", "a"}));
    r.server(s);
    r.server("tail\r\n");
    CHECK(r.t.down == s + "tail\r\n");
  }
}
