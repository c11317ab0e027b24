// Unit tests for proxy/pg_codec.cpp: framing of captured-shape PostgreSQL
// sessions across every chunk boundary, the forged messages byte for byte,
// and the database faults carried out through the codec hooks (ERROR raised
// by the server itself, FATAL, cut, refuse, delay, SSL refusal). Seeded, no
// sockets, no clock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faults/db.hpp"
#include "faults/rng.hpp"
#include "proxy/codec.hpp"
#include "proxy/pg_codec.hpp"

namespace {

namespace db = brownout::faults::db;
namespace pg = brownout::proxy::pg;
using brownout::faults::Duration;
using brownout::faults::Rng;
using brownout::proxy::Action;
using brownout::proxy::Actions;
using brownout::proxy::CodecHooks;
using namespace std::chrono_literals;

// ---- bytes ------------------------------------------------------------------

// Readable bytes for failure messages: NULs and binary as \xNN.
std::string esc(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string be16(std::uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}
std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
std::string cstr(std::string_view s) {
  std::string out(s);
  out += '\0';
  return out;
}
// A regular message: type byte, Int32 length counting itself, body.
std::string msg(char type, std::string_view body) {
  return std::string(1, type) + be32(static_cast<std::uint32_t>(body.size() + 4)) +
         std::string(body);
}

// ---- client messages --------------------------------------------------------

std::string startup_message(std::string_view user = "app", std::string_view database = "shop") {
  const std::string body = be32(196608) + cstr("user") + cstr(user) + cstr("database") +
                           cstr(database) + cstr("application_name") + cstr("psql") +
                           std::string(1, '\0');
  return be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}
std::string code_packet(std::uint32_t code) {
  return be32(8) + be32(code);
}
std::string cancel_request(std::uint32_t pid, std::uint32_t secret) {
  return be32(16) + be32(pg::kCancelRequest) + be32(pid) + be32(secret);
}
std::string Q(std::string_view sql) {
  return msg('Q', cstr(sql));
}
std::string Parse(std::string_view name, std::string_view sql, std::vector<std::uint32_t> oids = {}) {
  std::string body = cstr(name) + cstr(sql) + be16(static_cast<std::uint16_t>(oids.size()));
  for (auto o : oids) body += be32(o);
  return msg('P', body);
}
std::string Bind(std::string_view portal, std::string_view statement,
                 std::vector<std::string> params = {}) {
  std::string body = cstr(portal) + cstr(statement) + be16(0) +
                     be16(static_cast<std::uint16_t>(params.size()));
  for (const auto& p : params) body += be32(static_cast<std::uint32_t>(p.size())) + p;
  body += be16(0);
  return msg('B', body);
}
std::string Describe(char what, std::string_view name) {
  return msg('D', std::string(1, what) + cstr(name));
}
std::string Execute(std::string_view portal = "", std::uint32_t max_rows = 0) {
  return msg('E', cstr(portal) + be32(max_rows));
}
std::string Close(char what, std::string_view name) {
  return msg('C', std::string(1, what) + cstr(name));
}
std::string Sync() {
  return msg('S', "");
}
std::string Flush() {
  return msg('H', "");
}
std::string CopyData(std::string_view d) {
  return msg('d', d);
}
std::string CopyDone() {
  return msg('c', "");
}
std::string Terminate() {
  return msg('X', "");
}
// The unit a driver sends for one prepared-and-run statement (libpq's
// PQexecParams, pgjdbc before prepareThreshold).
std::string extended(std::string_view sql, std::vector<std::string> params = {}) {
  std::vector<std::uint32_t> oids(params.size(), 23);
  return Parse("", sql, oids) + Bind("", "", params) + Describe('P', "") + Execute() + Sync();
}

// ---- server messages --------------------------------------------------------

std::string auth_ok() {
  return msg('R', be32(0));
}
std::string param_status(std::string_view name, std::string_view value) {
  return msg('S', cstr(name) + cstr(value));
}
std::string key_data(std::uint32_t pid, std::uint32_t secret) {
  return msg('K', be32(pid) + be32(secret));
}
std::string ready(char status) {
  return msg('Z', std::string(1, status));
}
std::string row_description(std::vector<std::string_view> names) {
  std::string body = be16(static_cast<std::uint16_t>(names.size()));
  for (auto n : names)
    body += cstr(n) + be32(0) + be16(0) + be32(23) + be16(4) + be32(0xffffffffu) + be16(0);
  return msg('T', body);
}
std::string data_row(std::vector<std::optional<std::string>> cols) {
  std::string body = be16(static_cast<std::uint16_t>(cols.size()));
  for (const auto& c : cols)
    body += c ? be32(static_cast<std::uint32_t>(c->size())) + *c : be32(0xffffffffu);
  return msg('D', body);
}
std::string complete(std::string_view tag) {
  return msg('C', cstr(tag));
}
std::string parse_complete() {
  return msg('1', "");
}
std::string bind_complete() {
  return msg('2', "");
}
std::string close_complete() {
  return msg('3', "");
}
std::string no_data() {
  return msg('n', "");
}
std::string empty_query() {
  return msg('I', "");
}
std::string param_description(std::size_t n) {
  std::string body = be16(static_cast<std::uint16_t>(n));
  for (std::size_t i = 0; i < n; ++i) body += be32(23);
  return msg('t', body);
}
std::string copy_in_response() {
  return msg('G', std::string(1, '\0') + be16(1) + be16(0));
}
std::string copy_out_response() {
  return msg('H', std::string(1, '\0') + be16(1) + be16(0));
}
std::string notification(std::uint32_t pid, std::string_view channel, std::string_view payload) {
  return msg('A', be32(pid) + cstr(channel) + cstr(payload));
}
// An ErrorResponse or NoticeResponse shaped as PostgreSQL 15 sends it
// (S V C M and the source fields F L R).
std::string server_report(char type, std::string_view severity, std::string_view code,
                          std::string_view message) {
  return msg(type, "S" + cstr(severity) + "V" + cstr(severity) + "C" + cstr(code) + "M" +
                       cstr(message) + "F" + cstr("postgres.c") + "L" + cstr("1040") + "R" +
                       cstr("exec_simple_query") + std::string(1, '\0'));
}
std::string server_error(std::string_view code, std::string_view message) {
  return server_report('E', "ERROR", code, message);
}
// What PostgreSQL sends for a RAISE in a DO block: the fields the error
// raised plus the PL/pgSQL context.
std::string raised_error(std::string_view code, std::string_view message) {
  return msg('E', "S" + cstr("ERROR") + "V" + cstr("ERROR") + "C" + cstr(code) + "M" + cstr(message) +
                      "W" + cstr("PL/pgSQL function inline_code_block line 1 at RAISE") + "F" +
                      cstr("pl_exec.c") + "L" + cstr("3907") + "R" + cstr("exec_stmt_raise") +
                      std::string(1, '\0'));
}

// What the server sends from AuthenticationOk to the first ReadyForQuery.
std::string startup_answer() {
  return auth_ok() + param_status("application_name", "psql") +
         param_status("client_encoding", "UTF8") + param_status("DateStyle", "ISO, MDY") +
         param_status("integer_datetimes", "on") + param_status("IntervalStyle", "postgres") +
         param_status("is_superuser", "off") + param_status("server_encoding", "UTF8") +
         param_status("server_version", "15.18 (Debian 15.18-0+deb12u1)") +
         param_status("session_authorization", "app") +
         param_status("standard_conforming_strings", "on") + param_status("TimeZone", "UTC") +
         key_data(4242, 0x5eed1234) + ready('I');
}

std::string one_row(std::string_view value) {
  return row_description({"?column?"}) + data_row({std::string(value)}) + complete("SELECT 1");
}

// ---- running a codec --------------------------------------------------------

struct Step {
  Action::Kind kind;
  std::string data;
  Duration delay{0};
  bool reset = false;
};

// Everything the codec asked for, copied out at once (views die at the next call).
struct Trace {
  std::vector<Step> steps;
  std::string up;    // to_server, in order
  std::string down;  // to_client, in order
  bool closed = false;
  std::string after_close;  // any data asked for after a close
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

// Hooks over real database faults, recording what the codec asked.
struct Hooks {
  std::vector<db::FaultRef> faults;
  Rng rng{1};
  std::vector<std::pair<std::string, std::string>> decided;  // sql, prepared
  std::vector<std::string> acted;
  int refuse_calls = 0;

  CodecHooks make() {
    CodecHooks h;
    h.decide = [this](const db::Statement& s) {
      decided.emplace_back(std::string(s.sql), std::string(s.prepared));
      return db::decide(faults, db::Protocol::postgres, s, rng);
    };
    h.refuse = [this] {
      ++refuse_calls;
      return db::refuse(faults, rng);
    };
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

// A codec with its hooks and what it asked for. Chunks are copied into
// buffers that are scribbled over and freed after each call, so a codec that
// keeps a view into an old chunk is caught (under ASan, at once).
struct Run {
  Hooks hooks;
  std::unique_ptr<pg::Codec> codec;
  Trace t;

  explicit Run(std::vector<db::FaultRef> faults = {}, pg::Codec::Options options = {}) {
    hooks.faults = std::move(faults);
    codec = std::make_unique<pg::Codec>(hooks.make(), options);
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
  // Startup done: the client's StartupMessage and the server's answer through,
  // the trace cleared.
  void start() {
    client(startup_message());
    server(startup_answer());
    REQUIRE(esc(t.up) == esc(startup_message()));
    REQUIRE(esc(t.down) == esc(startup_answer()));
    t = Trace{};
    hooks.decided.clear();
  }
};

// Random chunk sizes: mostly tiny (headers split), sometimes large.
std::vector<std::string_view> chunks(std::string_view s, Rng& rng, std::size_t max_chunk = 64) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto cap = rng.chance(0.5) ? std::min<std::size_t>(8, max_chunk) : max_chunk;
    const auto n = std::min(s.size(), static_cast<std::size_t>(rng.range(1, static_cast<std::int64_t>(cap) + 1)));
    out.push_back(s.substr(0, n));
    s.remove_prefix(n);
  }
  return out;
}

// ---- a realistic session, as exchanges (what the client sends, then what the
// server answers) --------------------------------------------------------------

using Exchange = std::pair<std::string, std::string>;

std::vector<Exchange> session() {
  std::vector<Exchange> ex;
  ex.emplace_back(startup_message(), startup_answer());
  // simple queries: rows, two statements in one string, empty, an error
  ex.emplace_back(Q("select 1"), one_row("1") + ready('I'));
  ex.emplace_back(Q("select 1; select 2"), one_row("1") + one_row("2") + ready('I'));
  ex.emplace_back(Q(""), empty_query() + ready('I'));
  ex.emplace_back(Q("select 1/0"), server_error("22012", "division by zero") + ready('I'));
  // extended: P B D E S
  ex.emplace_back(extended("select $1::int", {"7"}),
                  parse_complete() + bind_complete() + row_description({"int4"}) +
                      data_row({"7"}) + complete("SELECT 1") + ready('I'));
  // a transaction block with a named statement prepared, then reused
  ex.emplace_back(Q("begin"), complete("BEGIN") + ready('T'));
  ex.emplace_back(Parse("s1", "insert into t values ($1)", {23}) + Describe('S', "s1") + Sync(),
                  parse_complete() + param_description(1) + no_data() + ready('T'));
  ex.emplace_back(Bind("", "s1", {"42"}) + Execute() + Sync(),
                  bind_complete() + complete("INSERT 0 1") + ready('T'));
  // two units pipelined in one write
  ex.emplace_back(extended("select $1::text", {"a"}) + extended("select $1::text", {"bb"}),
                  parse_complete() + bind_complete() + row_description({"text"}) +
                      data_row({"a"}) + complete("SELECT 1") + ready('T') + parse_complete() +
                      bind_complete() + row_description({"text"}) + data_row({"bb"}) +
                      complete("SELECT 1") + ready('T'));
  // COPY FROM STDIN: the client streams d d c after its Query
  ex.emplace_back(Q("copy t from stdin") + CopyData("1\n") + CopyData("2\n") + CopyDone(),
                  copy_in_response() + complete("COPY 2") + ready('T'));
  // COPY TO STDOUT
  ex.emplace_back(Q("copy t to stdout"), copy_out_response() + CopyData("1\n") + CopyData("42\n") +
                                             CopyDone() + complete("COPY 2") + ready('T'));
  // a notice before the result, async messages after it
  ex.emplace_back(Q("commit"), server_report('N', "WARNING", "01000", "you were warned") +
                                   complete("COMMIT") + ready('I') +
                                   notification(4243, "orders", "42") +
                                   param_status("application_name", "worker"));
  // Parse + Describe + Flush: the client waits for the answer without a Sync
  ex.emplace_back(Parse("", "select now()") + Describe('S', "") + Flush(),
                  parse_complete() + param_description(0) + row_description({"now"}));
  ex.emplace_back(Bind("", "") + Execute() + Sync(),
                  bind_complete() + data_row({"2024-11-29 10:00:00+00"}) + complete("SELECT 1") +
                      ready('I'));
  // an error in Bind: the rest of the unit is skipped up to Sync
  ex.emplace_back(extended("select 1/$1::int", {"0"}),
                  parse_complete() + server_error("22012", "division by zero") + ready('I'));
  ex.emplace_back(Close('S', "s1") + Sync(), close_complete() + ready('I'));
  ex.emplace_back(Terminate(), "");
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

bool decided(const Hooks& h, std::string_view sql, std::string_view prepared = {}) {
  for (const auto& [s, p] : h.decided)
    if (s == sql && p == prepared) return true;
  return false;
}

}  // namespace

// ---- forged messages ----------------------------------------------------------

TEST_CASE("pg codec: an ErrorResponse is S V C M and a NUL, as wire-protocols.md 1.6 counts it") {
  const std::string expected = std::string("E\0\0\0\x4f", 5) + "SERROR" + '\0' + "VERROR" + '\0' +
                               "C40001" + '\0' +
                               "Mcould not serialize access due to concurrent update" + '\0' +
                               '\0';
  CHECK(expected.size() == 80);  // type byte + length 79
  const auto e =
      pg::error_response("ERROR", "40001", "could not serialize access due to concurrent update");
  CHECK(esc(e) == esc(expected));

  const auto fatal = pg::error_response("FATAL", "53300", "sorry, too many clients already");
  CHECK(esc(fatal) == esc(msg('E', "S" + cstr("FATAL") + "V" + cstr("FATAL") + "C" + cstr("53300") +
                                       "M" + cstr("sorry, too many clients already") +
                                       std::string(1, '\0'))));
}

TEST_CASE("pg codec: ReadyForQuery and Query are framed as the server and libpq frame them") {
  CHECK(esc(pg::ready_for_query('I')) == esc(std::string("Z\0\0\0\5I", 6)));
  CHECK(esc(pg::ready_for_query('T')) == esc(std::string("Z\0\0\0\5T", 6)));
  CHECK(esc(pg::ready_for_query('E')) == esc(std::string("Z\0\0\0\5E", 6)));
  CHECK(esc(pg::query("select 1")) == esc(std::string("Q\0\0\0\x0dselect 1\0", 14)));
  CHECK(esc(pg::query("")) == esc(std::string("Q\0\0\0\5\0", 6)));
}

TEST_CASE("pg codec: raise_query is one well-formed Query naming the SQLSTATE and the message") {
  for (auto [code, message] : {std::pair<std::string_view, std::string_view>{
                                   "40001", "could not serialize access due to concurrent update"},
                               {"40P01", "deadlock detected"},
                               {"25006", "cannot execute INSERT in a read-only transaction"},
                               {"XX000", "it's $$ tricky $x$ \\ quoting"}}) {
    CAPTURE(message);
    const auto q = pg::raise_query(code, message);
    REQUIRE(q.size() > 6);
    CHECK(q[0] == 'Q');
    pg::Frame f;
    REQUIRE(pg::peek(q, false, f) == pg::Peek::ok);
    CHECK(f.type == 'Q');
    CHECK(f.size == q.size());
    CHECK(q.back() == '\0');
    const std::string_view sql(q.data() + 5, q.size() - 6);
    CHECK(sql.find('\0') == std::string_view::npos);
    CHECK(sql.find(code) != std::string_view::npos);
    CHECK(db::classify(sql) == db::StatementKind::other);
  }
  // The plain message appears verbatim when it needs no quoting.
  const auto q = pg::raise_query("40001", "could not serialize access due to concurrent update");
  CHECK(q.find("could not serialize access due to concurrent update") != std::string::npos);
}

// ---- peek ---------------------------------------------------------------------

TEST_CASE("pg codec: peek reads a header once it is all there") {
  pg::Frame f;
  CHECK(pg::peek("", false, f) == pg::Peek::more);
  CHECK(pg::peek(std::string_view("Q\0\0\0", 4), false, f) == pg::Peek::more);
  REQUIRE(pg::peek(std::string_view("Q\0\0\0\x0dsel", 8), false, f) == pg::Peek::ok);
  CHECK(f.type == 'Q');
  CHECK(f.size == 14);  // the type byte is not counted by the length
  REQUIRE(pg::peek(std::string_view("S\0\0\0\4", 5), false, f) == pg::Peek::ok);
  CHECK(f.type == 'S');
  CHECK(f.size == 5);
  // A length below 4 cannot be right.
  CHECK(pg::peek(std::string_view("Q\0\0\0\3", 5), false, f) == pg::Peek::bad);
  CHECK(pg::peek(std::string_view("Q\0\0\0\0", 5), false, f) == pg::Peek::bad);

  // Startup family: no type byte; the length counts itself.
  const auto sm = startup_message();
  CHECK(pg::peek(std::string_view(sm).substr(0, 3), true, f) == pg::Peek::more);
  REQUIRE(pg::peek(std::string_view(sm).substr(0, 8), true, f) == pg::Peek::ok);
  CHECK(f.type == 0);
  CHECK(f.size == sm.size());
  REQUIRE(pg::peek(code_packet(pg::kSslRequest), true, f) == pg::Peek::ok);
  CHECK(f.size == 8);
  CHECK(pg::peek(be32(4) + be32(196608), true, f) == pg::Peek::bad);
}

// ---- framing ------------------------------------------------------------------

TEST_CASE("pg codec: a whole session passes byte for byte and pairs every ReadyForQuery") {
  const auto ex = session();
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
    CHECK(r.codec->status() == 'I');
    CHECK_FALSE(r.codec->bytes_mode());
    CHECK(decided(r.hooks, "select 1"));
    CHECK(decided(r.hooks, "select $1::int"));
    // A named statement run later is matched by its SQL and its name.
    CHECK(decided(r.hooks, "insert into t values ($1)", "s1"));
  }

  SUBCASE("exchange by exchange, the status following each ReadyForQuery") {
    Run r;
    std::string up, down;
    for (const auto& [c, s] : ex) {
      r.client(c);
      r.server(s);
      up += c;
      down += s;
      REQUIRE(esc(r.t.up) == esc(up));
      REQUIRE(esc(r.t.down) == esc(down));
      CHECK(r.codec->pending() == 0);
    }
    CHECK(r.codec->status() == 'I');
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

TEST_CASE("pg codec: large messages stream through in any chunking") {
  const std::string big_sql = "select '" + std::string(300000, 'x') + "'";
  std::string big_value(1 << 20, '\0');
  for (std::size_t i = 0; i < big_value.size(); ++i) big_value[i] = static_cast<char>(i * 131 + 7);
  const std::string client = startup_message() + Q(big_sql) + Q("select big from t") +
                             extended("insert into t values ($1)", {big_value});
  const std::string server = startup_answer() + one_row("x") + ready('I') +
                             row_description({"big"}) + data_row({big_value}) +
                             data_row({std::nullopt}) + complete("SELECT 2") + ready('I') +
                             parse_complete() + bind_complete() + no_data() +
                             complete("INSERT 0 1") + ready('I');
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    Rng rng(seed);
    Run r;
    for (auto piece : chunks(client, rng, 70000)) r.client(piece);
    for (auto piece : chunks(server, rng, 70000)) r.server(piece);
    REQUIRE_MESSAGE(r.t.up == client, "seed " << seed);
    REQUIRE_MESSAGE(r.t.down == server, "seed " << seed);
    CHECK(r.codec->pending() == 0);
    CHECK(decided(r.hooks, big_sql));
  }
}

// ---- connection start: TLS, GSS, cancel ----------------------------------------

TEST_CASE("pg codec: SSLRequest and GSSENCRequest are answered N, and the startup goes on") {
  SUBCASE("SSLRequest") {
    Run r;
    r.client(code_packet(pg::kSslRequest));
    CHECK(r.t.up.empty());
    CHECK(esc(r.t.down) == "N");
    r.client(startup_message());
    r.server(startup_answer());
    CHECK(esc(r.t.up) == esc(startup_message()));
    CHECK(esc(r.t.down) == esc("N" + startup_answer()));
    r.client(Q("select 1"));
    r.server(one_row("1") + ready('I'));
    CHECK(esc(r.t.up) == esc(startup_message() + Q("select 1")));
    CHECK_FALSE(r.codec->bytes_mode());
  }
  SUBCASE("GSSENCRequest, then SSLRequest, then the StartupMessage, split anywhere") {
    const auto client = code_packet(pg::kGssEncRequest) + code_packet(pg::kSslRequest);
    for (std::size_t p = 0; p <= client.size(); ++p) {
      Run r;
      r.client(std::string_view(client).substr(0, p));
      r.client(std::string_view(client).substr(p));
      CHECK(r.t.up.empty());
      REQUIRE(esc(r.t.down) == "NN");
      r.client(startup_message());
      CHECK(esc(r.t.up) == esc(startup_message()));
    }
  }
  SUBCASE("the N byte goes out on its own") {
    Run r;
    r.client(code_packet(pg::kSslRequest));
    REQUIRE(r.t.steps.size() == 1);
    CHECK(r.t.steps[0].kind == Action::Kind::to_client);
    CHECK(r.t.steps[0].data == "N");
  }
}

TEST_CASE("pg codec: with pass_tls the SSLRequest goes upstream and S turns on bytes mode") {
  pg::Codec::Options o;
  o.pass_tls = true;
  SUBCASE("server says S: TLS bytes pass untouched") {
    Run r({}, o);
    r.client(code_packet(pg::kSslRequest));
    CHECK(esc(r.t.up) == esc(code_packet(pg::kSslRequest)));
    CHECK(r.t.down.empty());
    r.server("S");
    CHECK(r.t.down == "S");
    CHECK(r.codec->bytes_mode());
    const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    r.client(hello);
    r.server(std::string("\x16\x03\x03\x00\x7a\x02", 6));
    CHECK(esc(r.t.up) == esc(code_packet(pg::kSslRequest) + hello));
    CHECK(esc(r.t.down) == esc("S" + std::string("\x16\x03\x03\x00\x7a\x02", 6)));
  }
  SUBCASE("server says N: framing goes on") {
    Run r({}, o);
    r.client(code_packet(pg::kSslRequest));
    r.server("N");
    CHECK(r.t.down == "N");
    CHECK_FALSE(r.codec->bytes_mode());
    r.client(startup_message() + Q("select 1"));
    r.server(startup_answer() + one_row("1") + ready('I'));
    CHECK(esc(r.t.up) == esc(code_packet(pg::kSslRequest) + startup_message() + Q("select 1")));
    CHECK(esc(r.t.down) == esc("N" + startup_answer() + one_row("1") + ready('I')));
    CHECK(decided(r.hooks, "select 1"));
  }
}

TEST_CASE("pg codec: CancelRequest and a direct TLS hello are forwarded in bytes mode") {
  SUBCASE("CancelRequest") {
    Run r;
    const auto c = cancel_request(4242, 0x5eed1234);
    r.client(c);
    CHECK(esc(r.t.up) == esc(c));
    CHECK(r.codec->bytes_mode());
  }
  SUBCASE("direct TLS (PG 17 sslnegotiation=direct)") {
    const std::string hello("\x16\x03\x01\x00\xf4\x01\x00\x00\xf0\x03\x03", 11);
    for (std::size_t p = 0; p <= hello.size(); ++p) {
      Run r;
      r.client(std::string_view(hello).substr(0, p));
      r.client(std::string_view(hello).substr(p));
      r.server("\x16\x03\x03");
      REQUIRE(esc(r.t.up) == esc(hello));
      CHECK(r.t.down == "\x16\x03\x03");
      CHECK(r.codec->bytes_mode());
    }
  }
}

// ---- faults ---------------------------------------------------------------------

TEST_CASE("pg codec: pg_refuse answers the StartupMessage with FATAL 53300 and closes") {
  const auto refuse = fault("pg_refuse", M({}));
  const auto expected = pg::error_response("FATAL", "53300", "sorry, too many clients already");
  SUBCASE("plain startup, split anywhere") {
    const auto sm = startup_message();
    for (std::size_t p = 0; p <= sm.size(); ++p) {
      Run r({refuse});
      r.client(std::string_view(sm).substr(0, p));
      r.client(std::string_view(sm).substr(p));
      CHECK(r.t.up.empty());
      REQUIRE(esc(r.t.down) == esc(expected));
      CHECK(r.t.closed);
      CHECK(r.t.after_close.empty());
      CHECK(r.hooks.refuse_calls == 1);
      REQUIRE_FALSE(r.t.steps.empty());
      CHECK(r.t.steps.back().kind == Action::Kind::close);
    }
  }
  SUBCASE("after an SSLRequest: N first, then the refusal, as the server does") {
    Run r({refuse});
    r.client(code_packet(pg::kSslRequest));
    r.client(startup_message());
    CHECK(r.t.up.empty());
    CHECK(esc(r.t.down) == esc("N" + expected));
    CHECK(r.t.closed);
  }
  SUBCASE("a refuse that does not fire lets the session through") {
    Run r({fault("pg_refuse", M({}), 0.0)});
    r.client(startup_message());
    r.server(startup_answer());
    CHECK(esc(r.t.up) == esc(startup_message()));
    CHECK(esc(r.t.down) == esc(startup_answer()));
    CHECK_FALSE(r.t.closed);
  }
}

TEST_CASE("pg codec: pg_error ERROR on a simple query is raised by the server itself") {
  const auto f = fault("pg_error", M({{"match", M({{"statement", S("^update")}})}}));
  const std::string msg40001 = "could not serialize access due to concurrent update";
  const auto replacement = pg::raise_query("40001", msg40001);
  const auto query = Q("update accounts set balance = balance - 10 where id = 1");
  const auto answer = raised_error("40001", msg40001) + ready('I');

  SUBCASE("the Query is replaced, the answer passes through") {
    for (std::size_t p = 0; p <= query.size(); ++p) {
      Run r({f});
      r.start();
      r.client(std::string_view(query).substr(0, p));
      r.client(std::string_view(query).substr(p));
      REQUIRE(esc(r.t.up) == esc(replacement));
      r.server(answer);
      REQUIRE(esc(r.t.down) == esc(answer));
      CHECK_FALSE(r.t.closed);
      CHECK(r.codec->pending() == 0);
      CHECK_FALSE(r.hooks.acted.empty());
    }
  }
  SUBCASE("statements before and after are untouched, in order") {
    Run r({f});
    r.start();
    const auto before = Q("select 1");
    const auto after = Q("select 2");
    r.client(before + query + after);
    CHECK(esc(r.t.up) == esc(before + replacement + after));
    const auto server = one_row("1") + ready('I') + answer + one_row("2") + ready('I');
    r.server(server);
    CHECK(esc(r.t.down) == esc(server));
    CHECK(r.codec->pending() == 0);
  }
  SUBCASE("inside a transaction block the server's own error leaves it failed") {
    Run r({f});
    r.start();
    r.client(Q("begin"));
    r.server(complete("BEGIN") + ready('T'));
    CHECK(r.codec->status() == 'T');
    r.client(query);
    r.server(raised_error("40001", msg40001) + ready('E'));
    CHECK(r.codec->status() == 'E');
    CHECK(esc(r.t.up) == esc(Q("begin") + replacement));
  }
}

TEST_CASE("pg codec: pg_error ERROR on an extended unit sends only the raising Query upstream") {
  const auto f = fault("pg_error", M({{"match", M({{"statement", S("accounts")}})}}));
  const std::string m = "could not serialize access due to concurrent update";
  const auto replacement = pg::raise_query("40001", m);
  const auto unit = extended("update accounts set balance = $1 where id = 1", {"90"});
  const auto other = extended("select $1::int", {"1"});
  const auto other_answer = parse_complete() + bind_complete() + row_description({"int4"}) +
                            data_row({"1"}) + complete("SELECT 1") + ready('I');

  SUBCASE("the unit alone, split anywhere") {
    for (std::size_t p = 0; p <= unit.size(); ++p) {
      Run r({f});
      r.start();
      r.client(std::string_view(unit).substr(0, p));
      r.client(std::string_view(unit).substr(p));
      REQUIRE(esc(r.t.up) == esc(replacement));
      const auto answer = raised_error("40001", m) + ready('I');
      r.server(answer);
      REQUIRE(esc(r.t.down) == esc(answer));
      CHECK(r.codec->pending() == 0);
    }
  }
  SUBCASE("pipelined between two untouched units") {
    Run r({f});
    r.start();
    r.client(other + unit + other);
    CHECK(esc(r.t.up) == esc(other + replacement + other));
    const auto server = other_answer + raised_error("40001", m) + ready('I') + other_answer;
    r.server(server);
    CHECK(esc(r.t.down) == esc(server));
    CHECK(r.codec->pending() == 0);
  }
  SUBCASE("a named statement is matched when a later unit runs it") {
    Run r({f});
    r.start();
    const auto prepare = Parse("upd", "update accounts set balance = $1 where id = 1", {23}) +
                         Describe('S', "upd") + Sync();
    r.client(prepare);
    CHECK(esc(r.t.up) == esc(prepare));  // preparing is not running
    r.server(parse_complete() + param_description(1) + no_data() + ready('I'));
    const auto run = Bind("", "upd", {"90"}) + Execute() + Sync();
    r.client(run);
    CHECK(esc(r.t.up) == esc(prepare + replacement));
    CHECK(decided(r.hooks, "update accounts set balance = $1 where id = 1", "upd"));
  }
  SUBCASE("Parse, Describe, Flush go up before the unit is decided") {
    Run r({f});
    r.start();
    const auto head = Parse("", "update accounts set balance = 0") + Describe('S', "") + Flush();
    r.client(head);
    // The client now waits for ParseComplete: holding these would hang it.
    CHECK(esc(r.t.up) == esc(head));
  }
}

TEST_CASE("pg codec: a FATAL error replaces the unit by an empty query and closes after its answer") {
  const auto f = fault("pg_error", M({{"error", S("admin_shutdown")},
                                      {"match", M({{"statement", S("accounts")}})}}));
  const auto fatal =
      pg::error_response("FATAL", "57P01", "terminating connection due to administrator command");
  const auto empty_answer = empty_query() + ready('I');
  for (const auto& unit : {Q("select * from accounts"), extended("select * from accounts")}) {
    CAPTURE(esc(unit));
    Run r({f});
    r.start();
    r.client(unit);
    CHECK(esc(r.t.up) == esc(pg::query("")));
    CHECK(r.t.down.empty());
    CHECK_FALSE(r.t.closed);
    for (std::size_t i = 0; i < empty_answer.size(); ++i)
      r.server(std::string_view(empty_answer).substr(i, 1));
    CHECK(esc(r.t.down) == esc(fatal));
    CHECK(r.t.closed);
    CHECK(r.t.after_close.empty());
    REQUIRE(r.t.steps.size() >= 2);
    CHECK(r.t.steps.back().kind == Action::Kind::close);
  }
}

TEST_CASE("pg codec: a FATAL waits for the answers of the units before it") {
  const auto f = fault("pg_error", M({{"severity", S("FATAL")}, {"sqlstate", S("57P01")},
                                      {"message", S("bye")},
                                      {"match", M({{"statement", S("accounts")}})}}));
  Run r({f});
  r.start();
  r.client(Q("select 1") + Q("select * from accounts"));
  CHECK(esc(r.t.up) == esc(Q("select 1") + pg::query("")));
  const auto first = one_row("1") + ready('I');
  r.server(first);
  CHECK(esc(r.t.down) == esc(first));
  CHECK_FALSE(r.t.closed);
  r.server(empty_query() + ready('I'));
  CHECK(esc(r.t.down) == esc(first + pg::error_response("FATAL", "57P01", "bye")));
  CHECK(r.t.closed);
}

TEST_CASE("pg codec: pg_terminate cut lets N rows through, then closes") {
  const auto f = fault("pg_terminate", M({{"mode", S("cut")}, {"after_rows", N(2)},
                                          {"match", M({{"kind", S("select")}})}}));
  const auto query = Q("select id from orders");
  const auto head = row_description({"id"});
  const auto rows = data_row({"1"}) + data_row({"2"});
  const auto answer = head + rows + data_row({"3"}) + data_row({"4"}) + complete("SELECT 4") +
                      ready('I');
  for (std::size_t p = 0; p <= answer.size(); ++p) {
    Run r({f});
    r.start();
    r.client(query);
    REQUIRE(esc(r.t.up) == esc(query));
    r.server(std::string_view(answer).substr(0, p));
    r.server(std::string_view(answer).substr(p));
    REQUIRE_MESSAGE(esc(r.t.down) == esc(head + rows), "split at " << p);
    REQUIRE(r.t.closed);
    CHECK(r.t.after_close.empty());
  }
  SUBCASE("extended: the unit's own messages pass, rows are counted") {
    Run r({f});
    r.start();
    const auto unit = extended("select id from orders");
    r.client(unit);
    CHECK(esc(r.t.up) == esc(unit));
    r.server(parse_complete() + bind_complete() + answer);
    CHECK(esc(r.t.down) == esc(parse_complete() + bind_complete() + head + rows));
    CHECK(r.t.closed);
  }
  SUBCASE("after_rows 0: the RowDescription and no rows") {
    Run r({fault("pg_terminate", M({{"mode", S("cut")}, {"after_rows", N(0)}}))});
    r.start();
    r.client(query);
    r.server(answer);
    CHECK(esc(r.t.down) == esc(head));
    CHECK(r.t.closed);
  }
}

TEST_CASE("pg codec: pg_terminate fatal sends FATAL 57P01 in place of the answer, then closes") {
  const auto f = fault("pg_terminate", M({{"match", M({{"statement", S("orders")}})}}));
  Run r({f});
  r.start();
  const auto query = Q("update orders set state = 'paid'");
  r.client(query);
  // The session is terminated: the statement must not run (a terminated
  // backend rolls back), so the server must not receive it.
  CHECK(r.t.up.find("update orders") == std::string::npos);
  // Whatever went upstream, its answer ends with a ReadyForQuery.
  if (r.t.up == pg::query(""))
    r.server(empty_query() + ready('I'));
  else
    r.server(complete("UPDATE 1") + ready('I'));
  CHECK(esc(r.t.down) ==
        esc(pg::error_response("FATAL", "57P01",
                               "terminating connection due to administrator command")));
  CHECK(r.t.closed);
}

TEST_CASE("pg codec: pg_delay holds the statement, then forwards it unchanged") {
  const auto f = fault("pg_delay", M({{"delay", N(250)}, {"match", M({{"kind", S("select")}})}}));
  Run r({f});
  r.start();
  const auto q = Q("select 1");
  r.client(q);
  CHECK(esc(r.t.up) == esc(q));
  bool waited_before = false;
  for (const auto& s : r.t.steps) {
    if (s.kind == Action::Kind::wait) {
      CHECK(s.delay == Duration(250ms));
      waited_before = true;
    }
    if (s.kind == Action::Kind::to_server) {
      CHECK(waited_before);
      break;
    }
  }
  CHECK(waited_before);
  r.server(one_row("1") + ready('I'));
  CHECK(esc(r.t.down) == esc(one_row("1") + ready('I')));
  // A statement that does not match is not held.
  r.t = Trace{};
  r.client(Q("begin"));
  CHECK(r.t.waits == 0);
}

// Seeded random sessions of pipelined units, some raising errors, some
// delayed, fed in random chunks, against a small fake server: every client
// must get exactly the answers of its own units, in order.
namespace {

// The answers PostgreSQL would give to the bytes it reads (their shape).
struct FakeServer {
  std::string in;
  std::size_t at = 0;
  bool started = false;
  std::vector<std::pair<std::string, std::string>> raises;  // raise_query -> error answer

  std::string read(std::string_view bytes) {
    in += bytes;
    std::string out;
    for (;;) {
      const std::string_view rest = std::string_view(in).substr(at);
      pg::Frame f;
      REQUIRE(pg::peek(rest, !started, f) != pg::Peek::bad);
      if (pg::peek(rest, !started, f) != pg::Peek::ok || rest.size() < f.size) return out;
      const std::string m(rest.substr(0, f.size));
      at += f.size;
      if (!started) {
        started = true;
        out += startup_answer();
        continue;
      }
      const std::string_view body = std::string_view(m).substr(5);
      switch (f.type) {
        case 'Q': {
          bool raised = false;
          for (const auto& [q, answer] : raises)
            if (q == m) {
              out += answer + ready('I');
              raised = true;
            }
          if (raised) break;
          const std::string sql(body.substr(0, body.size() - 1));
          out += sql.empty() ? empty_query() : one_row(sql);
          out += ready('I');
          break;
        }
        case 'P':
          out += parse_complete();
          break;
        case 'B':
          out += bind_complete();
          break;
        case 'D':
          out += row_description({"?column?"});
          break;
        case 'E':
          out += data_row({"x"}) + complete("SELECT 1");
          break;
        case 'S':
          out += ready('I');
          break;
        default:
          break;
      }
    }
  }
};

}  // namespace

TEST_CASE("pg codec: pipelined units stay paired across random splits with faults acting") {
  const std::string m = "could not serialize access due to concurrent update";
  for (std::uint64_t seed = 1; seed <= 150; ++seed) {
    CAPTURE(seed);
    Rng rng(seed);
    const auto err = fault("pg_error", M({{"match", M({{"statement", S("^select e")}})}}));
    const auto delay = fault("pg_delay", M({{"delay", N(5)}, {"match", M({{"statement", S(" d")}})}}));
    // A deterministic hook: the decision is a function of the SQL only.
    CodecHooks hooks;
    hooks.decide = [&](const db::Statement& s) {
      db::Decision d;
      if (s.sql.find(" d") != std::string_view::npos) {
        d.delay = 5ms;
        d.fired.push_back(delay);
      }
      if (s.sql.starts_with("select e")) {
        d.action = err;
        d.fired.push_back(err);
      }
      return d;
    };
    hooks.refuse = [] { return db::FaultRef{}; };
    hooks.acted = [](const db::Fault&, std::string_view) {};
    pg::Codec codec(hooks);
    Trace t;

    std::string client = startup_message();
    std::string expected_up = startup_message();
    const int units = static_cast<int>(rng.range(1, 12));
    for (int i = 0; i < units; ++i) {
      const char* prefix = rng.chance(0.3) ? "e" : (rng.chance(0.3) ? "p d" : "p");
      const std::string sql = "select " + std::string(prefix) + std::to_string(i);
      const std::string unit = rng.chance(0.5) ? Q(sql) : extended(sql);
      client += unit;
      expected_up += std::string_view(prefix).starts_with("e") ? pg::raise_query("40001", m) : unit;
    }
    for (auto piece : chunks(client, rng, 40)) {
      std::string buf(piece);
      t.take(codec.from_client(buf));
    }
    REQUIRE(esc(t.up) == esc(expected_up));

    FakeServer server;
    server.raises.emplace_back(pg::raise_query("40001", m), raised_error("40001", m));
    const auto answers = server.read(t.up);
    for (auto piece : chunks(answers, rng, 40)) {
      std::string buf(piece);
      t.take(codec.from_server(buf));
    }
    // The client sees the server's answers to what went up: the raised error
    // in place of an errored unit, everything else as it came.
    CHECK(esc(t.down) == esc(answers));
    CHECK(codec.pending() == 0);
    CHECK_FALSE(t.closed);
  }
}

TEST_CASE("pg codec: an errored unit sent with Flush instead of Sync still gets its error") {
  // libpq's pipeline mode (PQsendFlushRequest) and node-postgres cursors send
  // P B D E H and wait for the rows before any Sync. A real server sends the
  // ErrorResponse at once (errors are flushed), and Z only at the later Sync.
  const auto f = fault("pg_error", M({{"match", M({{"statement", S("accounts")}})}}));
  const std::string m = "could not serialize access due to concurrent update";
  Run r({f});
  r.start();
  FakeServer server;
  server.started = true;
  server.raises.emplace_back(pg::raise_query("40001", m), raised_error("40001", m));
  const auto head = Parse("", "select * from accounts") + Bind("", "") + Describe('P', "") +
                    Execute("", 100) + Flush();
  r.client(head);
  r.server(server.read(r.t.up));
  // The client now waits: it must have its error without sending Sync.
  CHECK(r.t.down.find('E') != std::string::npos);
  CHECK(r.t.down.find("40001") != std::string::npos);
  const auto up_before = r.t.up.size();
  r.client(Sync());
  r.server(server.read(std::string_view(r.t.up).substr(up_before)));
  // One ReadyForQuery in all, at the end.
  std::size_t zs = 0;
  for (std::size_t at = 0; at + 5 <= r.t.down.size();) {
    pg::Frame fr;
    REQUIRE(pg::peek(std::string_view(r.t.down).substr(at), false, fr) == pg::Peek::ok);
    if (fr.type == 'Z') ++zs;
    at += fr.size;
  }
  CHECK(zs == 1);
  CHECK(r.t.down.ends_with(ready('I')));
  CHECK(r.codec->pending() == 0);
}

TEST_CASE("pg codec: pg_terminate cut closes at the end of an answer shorter than N rows") {
  Run r({fault("pg_terminate", M({{"mode", S("cut")}, {"after_rows", N(5)}}))});
  r.start();
  r.client(Q("select id from orders"));
  const auto head = row_description({"id"}) + data_row({"1"}) + data_row({"2"}) +
                    complete("SELECT 2");
  r.server(head + ready('I'));
  CHECK(esc(r.t.down) == esc(head));
  CHECK(r.t.closed);
}

TEST_CASE("pg codec: absurd lengths and garbage do not crash and fall back to bytes") {
  for (const std::string& c :
       {std::string("Q\x7f\xff\xff\xff", 5), std::string("Q\xff\xff\xff\xff", 5),
        be32(0xffffffffu) + be32(196608), be32(3) + be32(196608), std::string("\0\0\0", 3)}) {
    Run r;
    if (c.size() > 8 && c[0] == 'Q') r.start();
    r.client(c);
    r.client("more bytes");
    r.server(std::string("Z\xff\xff\xff\xff", 5) + "tail");
    CHECK_FALSE(r.t.closed);
  }
  Run r;
  r.start();
  r.client(std::string("Q\x7f\xff\xff\xff", 5) + "x");
  CHECK(r.codec->bytes_mode());
  CHECK(esc(r.t.up) == esc(std::string("Q\x7f\xff\xff\xff", 5) + "x"));
}
