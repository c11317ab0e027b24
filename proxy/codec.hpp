// What a message codec (PostgreSQL, Redis) asks its session to do. A codec is
// pure: it is fed the bytes each side sent and answers with actions, which
// the session (proxy/db_session.cpp) carries out in order. So framing,
// pairing and forging are tested, and fuzzed, without sockets or clocks.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "faults/db.hpp"

namespace brownout::proxy {

struct Action {
  enum class Kind : std::uint8_t {
    to_server,  // write `data` to the upstream
    to_client,  // write `data` to the client
    wait,       // pause this direction for `delay` (later actions wait too)
    close,      // close both sides (`reset`: with RST)
  };
  Kind kind = Kind::to_server;
  // Valid until the next call into the codec for the same direction: a view
  // into the chunk fed, or into bytes the codec keeps.
  std::string_view data;
  faults::Duration delay{0};
  bool reset = false;
};
using Actions = std::vector<Action>;

// A decision the codec asks for, and how it reports what a fault did.
struct CodecHooks {
  // Decides one request (a statement, a command).
  std::function<faults::db::Decision(const faults::db::Statement&)> decide;
  // pg_refuse, asked once per session at startup.
  std::function<faults::db::FaultRef()> refuse;
  // What happened (for the event log): a fault acted on a request.
  std::function<void(const faults::db::Fault&, std::string_view what)> acted;
};

// The bytes a direction works on: what the last call left over (an
// incomplete message), then the new chunk. Views into them stay valid until
// the next begin(), as the actions that point at them must.
class Intake {
 public:
  std::string_view begin(std::string_view chunk) {
    buf_.erase(0, used_);
    used_ = 0;
    direct_ = buf_.empty();
    if (direct_) return chunk;  // nothing left over: no copy
    buf_.append(chunk);
    return buf_;
  }
  // `in` (what begin() returned) was used up to `at`: the rest is kept.
  void end(std::string_view in, std::size_t at) {
    if (direct_)
      buf_.assign(in.substr(at));
    else
      used_ = at;
  }

 private:
  std::string buf_;
  std::size_t used_ = 0;
  bool direct_ = true;
};

// Pieces the codecs share.
class Outbox {
 public:
  void clear() {
    actions_.clear();
    kept_.clear();
  }
  Actions& actions() { return actions_; }
  void to_server(std::string_view d) { push(Action::Kind::to_server, d); }
  void to_client(std::string_view d) { push(Action::Kind::to_client, d); }
  // Forged bytes: the outbox keeps them until the next clear().
  void to_server_owned(std::string d) { push(Action::Kind::to_server, keep(std::move(d))); }
  void to_client_owned(std::string d) { push(Action::Kind::to_client, keep(std::move(d))); }
  void wait(faults::Duration d) {
    Action a;
    a.kind = Action::Kind::wait;
    a.delay = d;
    actions_.push_back(a);
  }
  void close(bool reset) {
    Action a;
    a.kind = Action::Kind::close;
    a.reset = reset;
    actions_.push_back(a);
  }

 private:
  void push(Action::Kind k, std::string_view d) {
    if (d.empty()) return;
    // Adjacent views of the same kind into contiguous memory merge: a chunk
    // of several forwarded messages goes out in one write.
    if (!actions_.empty() && actions_.back().kind == k &&
        actions_.back().data.data() + actions_.back().data.size() == d.data()) {
      actions_.back().data = {actions_.back().data.data(), actions_.back().data.size() + d.size()};
      return;
    }
    Action a;
    a.kind = k;
    a.data = d;
    actions_.push_back(a);
  }
  std::string_view keep(std::string d) {
    kept_.push_back(std::make_unique<std::string>(std::move(d)));
    return *kept_.back();
  }
  Actions actions_;
  std::vector<std::unique_ptr<std::string>> kept_;
};

}  // namespace brownout::proxy
