// The PostgreSQL codec (frontend/backend protocol 3.0), pure: it frames both
// directions, pairs each ReadyForQuery with the request unit that caused it
// (a Query, or extended messages up to Sync), and carries out the database
// faults' decisions so that client and server never disagree:
// - an ERROR is raised by the server itself: the matched unit is replaced by
//   a `DO` block that raises it, so a transaction block fails on both sides;
// - a FATAL (forged error, pg_terminate) replaces the unit's answer once the
//   server has finished it, then both sides are closed;
// - SSLRequest and GSSENCRequest are answered 'N' (plaintext, so faults can
//   see the statements) unless pass_tls forwards them; after 'S' or 'G', a
//   direct TLS hello, a CancelRequest, a replication session or CopyBoth the
//   codec forwards bytes untouched for the rest of the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/codec.hpp"

namespace brownout::proxy::pg {

inline constexpr std::uint32_t kSslRequest = 80877103;
inline constexpr std::uint32_t kGssEncRequest = 80877104;
inline constexpr std::uint32_t kCancelRequest = 80877102;

// A message's type (0 for a startup-family packet) and whole size, header
// included.
struct Frame {
  char type = 0;
  std::size_t size = 0;
};
enum class Peek { ok, more, bad };
// The first message of `data`, once its header is there (5 bytes, or 8 for a
// startup packet); `bad` when its length cannot be right.
Peek peek(std::string_view data, bool startup, Frame& frame);

// Forged messages.
std::string error_response(std::string_view severity, std::string_view sqlstate,
                           std::string_view message);
std::string ready_for_query(char status);
std::string query(std::string_view sql);
// A Query whose statement makes the server raise this error itself.
std::string raise_query(std::string_view sqlstate, std::string_view message);

class Codec {
 public:
  struct Options {
    bool pass_tls = false;
    std::size_t max_message = 64u << 20;  // a client message this large: bytes mode
  };
  explicit Codec(CodecHooks hooks) : Codec(std::move(hooks), Options{}) {}
  Codec(CodecHooks hooks, Options options);

  // Each returns what to do with the bytes (views valid until the next call
  // for the same direction).
  const Actions& from_client(std::string_view chunk);
  const Actions& from_server(std::string_view chunk);

  bool bytes_mode() const { return bytes_; }
  char status() const { return status_; }  // the last ReadyForQuery's: I, T or E
  std::size_t pending() const { return units_.size(); }

 private:
  // pass: the answer goes through; fatal: replaced by `fatal`, then close;
  // cut: close after `rows` DataRows; no_ready: passes, but its
  // ReadyForQuery is swallowed (a raise sent at a Flush, before its Sync).
  enum class Answer : std::uint8_t { pass, fatal, cut, no_ready };
  struct Unit {
    Answer answer = Answer::pass;
    std::string fatal;      // the error sent in place of the answer
    std::int64_t rows = 0;  // cut: DataRows to let through
    faults::db::FaultRef fault;
  };

  std::size_t client_message(std::string_view in, std::size_t at);  // bytes used, 0: need more
  void startup_packet(std::string_view m);
  void regular_message(std::string_view m);
  void finish_unit(std::string_view sync);
  void to_bytes_mode(std::string_view rest_from_client);
  std::size_t server_part(std::string_view in, std::size_t at);
  void cut();

  CodecHooks hooks_;
  Options options_;
  Outbox cout_;  // client -> server actions
  Outbox sout_;  // server -> client actions
  Intake cin_;   // client bytes: an incomplete message is kept whole
  Intake sin_;   // server bytes: only an incomplete header is kept
  bool startup_ = true;
  bool awaiting_tls_answer_ = false;
  bool bytes_ = false;
  bool closed_ = false;
  char status_ = 'I';
  bool ready_seen_ = false;  // the first ReadyForQuery ends the startup, pairs with nothing
  std::deque<Unit> units_;

  // The extended unit being read (messages since the last Sync).
  std::string held_;          // its messages, until Execute decides
  bool decided_ = false;      // forwarding (or swallowing) the rest
  bool swallow_ = false;      // the unit is replaced: drop until Sync
  bool named_parse_ = false;  // holds a Parse of a named statement
  Unit unit_;                 // what its Sync's answer gets
  std::string replacement_;   // sent upstream in place of its Sync

  std::unordered_map<std::string, std::string> statements_;  // name -> SQL
  std::unordered_map<std::string, std::string> portals_;     // portal -> statement name

  // The server side.
  std::size_t sleft_ = 0;   // bytes left of the message being passed
  bool sdrop_ = false;      // the message being passed is dropped
  bool cut_after_ = false;  // cut once the row being passed is through
  faults::db::FaultRef cut_fault_;
};

}  // namespace brownout::proxy::pg
