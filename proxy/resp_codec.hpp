// The Redis codec (RESP2 and RESP3), pure: it frames commands (array and
// inline forms) and replies (nested aggregates, attributes and pushes that
// answer nothing), pairs each reply with its command in order, and carries
// out the database faults' decisions:
// - an error or null reply in place of a command's is sent in order: the
//   command is replaced upstream by a PING whose reply is swallowed, so a
//   forged answer never overtakes the real answers before it;
// - a dropped reply is swallowed, then the connection closes or hangs;
// - nothing is injected inside MULTI ... EXEC; SUBSCRIBE and friends,
//   MONITOR, SYNC/PSYNC and CLIENT REPLY turn the connection into plain byte
//   forwarding, once the replies before them are through.
// Large values stream through; only a command's name and key are held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec.hpp"

namespace brownout::proxy::resp {

// The error line a preset names ("BUSY" -> "BUSY Redis is busy running a
// script. ..."); other text is used as given.
std::string error_line(std::string_view error);

class Codec {
 public:
  explicit Codec(CodecHooks hooks);

  const Actions& from_client(std::string_view chunk);
  const Actions& from_server(std::string_view chunk);

  bool bytes_mode() const { return bytes_server_; }
  std::size_t pending() const { return units_.size(); }

 private:
  enum class Reply : std::uint8_t { pass, replace, close, hang, bytes };
  struct Unit {
    Reply reply = Reply::pass;
    std::string forged;           // replace: what the client gets
    faults::Duration timeout{0};  // hang: closes after it (0: never)
    faults::db::FaultRef fault;
  };

  void command_head();  // name and key known: decide
  void command_end();
  void argument_done();
  void command_reset(bool forward_held);
  void go_bytes(std::string_view rest);
  void value_done();

  CodecHooks hooks_;
  Outbox cout_;
  Outbox sout_;
  std::deque<Unit> units_;
  bool bytes_client_ = false;
  bool bytes_server_ = false;
  bool closed_ = false;
  bool hanging_ = false;
  bool resp3_ = false;
  bool in_multi_ = false;

  // Command parsing.
  std::string line_;               // a header or inline line being read
  std::vector<std::string> args_;  // name and key (bounded)
  std::int64_t elements_ = -1;     // array elements left (-1: at a command's start)
  std::int64_t bulk_left_ = 0;     // bytes left of a bulk argument, CRLF included
  bool decided_ = false;
  bool drop_ = false;          // the command's bytes are not forwarded
  bool capturing_ = false;     // the argument being read is the name or the key
  bool switch_after_ = false;  // the command in hand ends the framing
  faults::db::FaultRef fault_;
  std::string held_;  // bytes before the decision
  Unit next_;         // the reply the command in hand gets

  // Reply parsing.
  std::string sline_;
  struct Level {
    std::int64_t left = 0;  // elements still to come
    bool attribute = false;
  };
  std::vector<Level> stack_;
  std::int64_t sbulk_left_ = 0;
  bool top_push_ = false;
  bool in_reply_ = false;
  bool sdrop_ = false;  // the value being passed is swallowed
};

}  // namespace brownout::proxy::resp
