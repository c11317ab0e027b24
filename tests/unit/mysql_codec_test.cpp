// Unit tests for proxy/mysql_codec.cpp: ERR packets byte for byte as the
// reference gives them, a session framed the same at every split point, and
// the faults: a deadlock answered with sequence id 1 and rolled back
// upstream (its OK swallowed), a prepared statement matched by its SQL, a
// refusal in place of the greeting, TLS to bytes.
#include "proxy/mysql_codec.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "faults/db.hpp"
#include "proxy/codec.hpp"

namespace {

namespace db = brownout::faults::db;
namespace mysql = brownout::proxy::mysql;
using brownout::proxy::Action;
using brownout::proxy::Actions;
using brownout::proxy::CodecHooks;

std::string pkt(std::uint8_t seq, std::string_view payload) {
  std::string out;
  const auto n = payload.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>(seq);
  out += payload;
  return out;
}

std::string le32(std::uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

const std::uint32_t kCaps = 0x000fa685u & ~0x800u & ~0x20u;

std::string greeting() {
  std::string p = "\x0a";
  p += std::string("10.11.19-MariaDB") + '\0' + le32(7) + "abcdefgh" + '\0';
  p += static_cast<char>(kCaps & 0xff);
  p += static_cast<char>((kCaps >> 8) & 0xff);
  p += "\x2d";
  p += std::string("\x02\x00", 2);
  p += static_cast<char>((kCaps >> 16) & 0xff);
  p += static_cast<char>((kCaps >> 24) & 0xff);
  p += "\x15" + std::string(10, '\0') + "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
  return pkt(0, p);
}

std::string handshake_response(std::uint32_t caps = kCaps) {
  return pkt(1, le32(caps) + le32(1u << 24) + "\x2d" + std::string(23, '\0') + "root" + '\0' +
                    '\0' + "mysql_native_password" + '\0');
}

std::string ok(std::uint8_t seq) {
  return pkt(seq, std::string("\x00\x00\x00\x02\x00\x00\x00", 7));
}

std::string query(std::string_view sql) {
  return pkt(0, "\x03" + std::string(sql));
}

struct Out {
  std::string up, down;
  bool closed = false;
};

void take(const Actions& actions, Out& out) {
  for (const Action& a : actions) {
    if (a.kind == Action::Kind::to_server) out.up.append(a.data);
    if (a.kind == Action::Kind::to_client) out.down.append(a.data);
    if (a.kind == Action::Kind::close) out.closed = true;
  }
}

db::FaultRef fault(db::Kind kind, std::int64_t code, std::string sqlstate, std::string message) {
  auto f = std::make_shared<db::Fault>();
  f->name = "f";
  f->settings.kind = kind;
  f->settings.code = code;
  f->settings.sqlstate = std::move(sqlstate);
  f->settings.message = std::move(message);
  return f;
}

const std::string kDeadlock = "Deadlock found when trying to get lock; try restarting transaction";

}  // namespace

TEST_CASE("mysql: ERR packets as the server sends them") {
  // wire-protocols.md §3.7: header 4B 00 00 01, FF BD 04 # 40001 + message.
  const auto err = mysql::err_packet(1, 1213, "40001", kDeadlock);
  CHECK(err.substr(0, 4) == std::string("\x4b\x00\x00\x01", 4));
  CHECK(err.substr(4, 9) == std::string("\xff\xbd\x04#40001", 9));
  CHECK(err.size() == 4 + 75);
  // Before the greeting: no SQLSTATE, sequence 0 (17 00 00 00 FF 10 04 ...).
  const auto refuse = mysql::err_packet(0, 1040, {}, "Too many connections");
  CHECK(refuse == std::string("\x17\x00\x00\x00\xff\x10\x04", 7) + "Too many connections");
}

TEST_CASE("mysql: a session passes byte for byte at every split point") {
  const std::string client =
      query("select 1") + query("begin") + query("update t set v = 2") + pkt(0, "\x01");
  const std::string server = greeting() + ok(2) + ok(1) + ok(1) + ok(1);
  // After the login, the client's commands, cut at each point.
  for (std::size_t cut = 0; cut <= client.size(); ++cut) {
    CAPTURE(cut);
    CodecHooks hooks;
    int decided = 0;
    hooks.decide = [&](const db::Statement&) {
      ++decided;
      return db::Decision{};
    };
    mysql::Codec codec(hooks);
    Out out;
    const auto greet = greeting();
    take(codec.from_server(greet), out);
    take(codec.from_client(handshake_response()), out);
    take(codec.from_server(ok(2)), out);
    take(codec.from_client(std::string_view(client).substr(0, cut)), out);
    take(codec.from_client(std::string_view(client).substr(cut)), out);
    CHECK(out.up == handshake_response() + client);
    CHECK(out.down == greet + ok(2));
    CHECK_FALSE(out.closed);
    CHECK(decided == 3);
  }
  // The server's stream at every split point.
  for (std::size_t cut = 0; cut <= server.size(); ++cut) {
    CAPTURE(cut);
    mysql::Codec codec(CodecHooks{});
    Out out;
    take(codec.from_server(std::string_view(server).substr(0, cut)), out);
    take(codec.from_server(std::string_view(server).substr(cut)), out);
    CHECK(out.down == server);
  }
}

TEST_CASE("mysql: a deadlock is answered with seq 1 and rolled back upstream") {
  CodecHooks hooks;
  const auto deadlock = fault(db::Kind::mysql_error, 1213, "40001", kDeadlock);
  std::vector<std::string> seen;
  hooks.decide = [&](const db::Statement& s) {
    seen.emplace_back(s.sql);
    db::Decision d;
    if (s.sql.find("v = 99") != std::string_view::npos) {
      d.action = deadlock;
      d.fired.push_back(deadlock);
    }
    return d;
  };
  mysql::Codec codec(hooks);
  Out out;
  take(codec.from_server(greeting()), out);
  take(codec.from_client(handshake_response()), out);
  take(codec.from_server(ok(2)), out);
  out = {};
  take(codec.from_client(query("update t set v = 99")), out);
  CHECK(out.down.empty());             // not before the server rolled back
  CHECK(out.up == query("ROLLBACK"));  // the statement never reaches the server
  // The ROLLBACK's OK is swallowed, the ERR goes in its place; the next
  // command's answer passes.
  out = {};
  take(codec.from_server(ok(1)), out);
  CHECK(out.down == mysql::err_packet(1, 1213, "40001", kDeadlock));
  out = {};
  take(codec.from_client(query("select 1")), out);
  take(codec.from_server(ok(1)), out);
  CHECK(out.up == query("select 1"));
  CHECK(out.down == ok(1));
  CHECK(seen.size() == 2);
}

TEST_CASE("mysql: a prepared statement is matched by the SQL it was prepared from") {
  CodecHooks hooks;
  const auto lock = fault(db::Kind::mysql_error, 1205, "HY000", "Lock wait timeout exceeded");
  hooks.decide = [&](const db::Statement& s) {
    db::Decision d;
    if (s.sql.starts_with("update")) d.action = lock;
    return d;
  };
  mysql::Codec codec(hooks);
  Out out;
  take(codec.from_server(greeting()), out);
  take(codec.from_client(handshake_response()), out);
  take(codec.from_server(ok(2)), out);
  take(codec.from_client(pkt(0, "\x16update t set v = ? where id = 1")), out);
  // PREPARE_OK: statement id 5, no columns, one parameter.
  take(codec.from_server(pkt(
           1, std::string("\x00", 1) + le32(5) + std::string("\x00\x00\x01\x00\x00\x00\x00", 7))),
       out);
  out = {};
  take(codec.from_client(pkt(0, "\x17" + le32(5) + std::string("\x00\x01\x00\x00\x00", 5))), out);
  CHECK(out.up.empty());  // 1205 rolls back the statement only: no ROLLBACK
  CHECK(out.down == mysql::err_packet(1, 1205, "HY000", "Lock wait timeout exceeded"));
}

TEST_CASE("mysql: too many connections replaces the greeting; TLS goes to bytes") {
  CodecHooks hooks;
  const auto refuse = fault(db::Kind::mysql_error, 1040, "08004", "Too many connections");
  hooks.refuse = [&] { return refuse; };
  mysql::Codec codec(hooks);
  Out out;
  take(codec.from_server(greeting()), out);
  CHECK(out.down == mysql::err_packet(0, 1040, {}, "Too many connections"));
  CHECK(out.closed);

  mysql::Codec tls(CodecHooks{});
  Out t;
  take(tls.from_server(greeting()), t);
  const std::string ssl_request =
      pkt(1, le32(kCaps | 0x800) + le32(1u << 24) + "\x2d" + std::string(23, '\0'));
  take(tls.from_client(ssl_request + "\x16\x03\x01"), t);
  CHECK(tls.bytes_mode());
  CHECK(t.up == ssl_request + "\x16\x03\x01");
}
