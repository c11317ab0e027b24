// The MySQL / MariaDB codec (client/server protocol 4.1), pure. The server
// speaks first; after the handshake every command starts an exchange with
// sequence id 0, and the classic protocol answers one command at a time, so
// a command's answer is whatever the server sends next.
// - mysql_error answers a matching COM_QUERY or COM_STMT_EXECUTE (matched by
//   the SQL its COM_STMT_PREPARE named) with an ERR packet carrying sequence
//   id 1, without forwarding it. A deadlock (1213, SQLSTATE 40001) rolls the
//   whole transaction back on a real server, so the codec sends ROLLBACK
//   upstream and sends the ERR in place of its answer: client and server
//   agree, and the transaction is gone before the client hears of it.
// - too_many_connections (1040) replaces the server's greeting with the
//   pre-greeting ERR (sequence 0, no SQLSTATE, as mysqld sends it), then
//   closes.
// - TLS (an SSLRequest), compression, COM_CHANGE_USER, binlog dumps and
//   multi-packet commands (16 MiB and more) switch the connection to bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/codec.hpp"

namespace brownout::proxy::mysql {

// An ERR packet: after the handshake (`sqlstate` given, 4.1 form) or before
// the greeting (no SQLSTATE part).
std::string err_packet(std::uint8_t seq, std::uint16_t code, std::string_view sqlstate,
                       std::string_view message);

class Codec {
 public:
  explicit Codec(CodecHooks hooks);

  const Actions& from_client(std::string_view chunk);
  const Actions& from_server(std::string_view chunk);

  bool bytes_mode() const { return bytes_; }

 private:
  enum class Phase : std::uint8_t { greeting, auth, command };
  enum class Expect : std::uint8_t { swallow, prepare };
  struct Marker {
    Expect what;
    std::string text;  // prepare: the SQL; swallow: the ERR sent in its place
  };

  void client_packet(std::string_view p);
  void server_packet_start(std::string_view header_and_some);

  CodecHooks hooks_;
  Outbox cout_;
  Outbox sout_;
  Phase phase_ = Phase::greeting;
  bool bytes_ = false;
  bool closed_ = false;
  bool mariadb_ = false;    // the greeting says so
  std::uint32_t caps_ = 0;  // the client's
  Intake cin_;
  Intake sin_;
  std::size_t sleft_ = 0;  // bytes left of the server packet being passed
  bool sdrop_ = false;
  std::deque<Marker> markers_;
  std::unordered_map<std::uint32_t, std::string> statements_;  // id -> SQL
};

}  // namespace brownout::proxy::mysql
