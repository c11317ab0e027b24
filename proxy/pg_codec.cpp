// The PostgreSQL codec: framing, unit pairing and fault execution, pure.
#include "proxy/pg_codec.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace brownout::proxy::pg {

namespace {

namespace db = faults::db;

constexpr std::size_t kMaxStartup = 10000;      // the server's own limit
constexpr std::size_t kMaxKeptSql = 64 * 1024;  // SQL kept per prepared statement
constexpr std::size_t kMaxStatements = 10000;   // names remembered per session

std::uint32_t be32(std::string_view d, std::size_t at = 0) {
  const auto* u = reinterpret_cast<const unsigned char*>(d.data() + at);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         std::uint32_t{u[3]};
}

void put32(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

// A NUL-terminated string at `pos` of a message body; pos moves past it.
std::string_view cstring(std::string_view body, std::size_t& pos) {
  if (pos >= body.size()) {
    pos = std::string_view::npos;
    return {};
  }
  const auto end = body.find('\0', pos);
  if (end == std::string_view::npos) {
    pos = std::string_view::npos;
    return {};
  }
  auto s = body.substr(pos, end - pos);
  pos = end + 1;
  return s;
}

std::string message(char type, std::string_view body) {
  std::string out;
  out.reserve(5 + body.size());
  out += type;
  put32(out, static_cast<std::uint32_t>(body.size() + 4));
  out += body;
  return out;
}

// A dollar-quote tag that does not occur in `text`.
std::string dollar_tag(std::string_view text) {
  std::string tag = "$brownout$";
  for (int i = 0; text.find(tag) != std::string_view::npos && i < 1000; ++i)
    tag = "$brownout" + std::to_string(i) + "$";
  return tag;
}

std::string sql_literal(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

}  // namespace

Peek peek(std::string_view data, bool startup, Frame& frame) {
  if (startup) {
    if (data.size() < 4) return Peek::more;
    const std::uint32_t len = be32(data);
    if (len < 8 || len > kMaxStartup) return Peek::bad;
    frame = {0, len};
    return Peek::ok;
  }
  if (data.size() < 5) return Peek::more;
  const std::uint32_t len = be32(data, 1);
  if (len < 4 || len > 0x7fffffffu) return Peek::bad;
  frame = {data[0], std::size_t{len} + 1};
  return Peek::ok;
}

std::string error_response(std::string_view severity, std::string_view sqlstate,
                           std::string_view text) {
  std::string body;
  body += 'S';
  body += severity;
  body += '\0';
  body += 'V';
  body += severity;
  body += '\0';
  body += 'C';
  body += sqlstate;
  body += '\0';
  body += 'M';
  body += text;
  body += '\0';
  body += '\0';
  return message('E', body);
}

std::string ready_for_query(char status) {
  return message('Z', std::string_view(&status, 1));
}

std::string query(std::string_view sql) {
  std::string body(sql);
  body += '\0';
  return message('Q', body);
}

std::string raise_query(std::string_view sqlstate, std::string_view text) {
  std::string body = "RAISE EXCEPTION USING ERRCODE = " + sql_literal(sqlstate) +
                     ", MESSAGE = " + sql_literal(text) + ";";
  const std::string tag = dollar_tag(body);
  return query("DO " + tag + " BEGIN " + body + " END " + tag);
}

Codec::Codec(CodecHooks hooks, Options options) : hooks_(std::move(hooks)), options_(options) {}

void Codec::to_bytes_mode(std::string_view rest) {
  bytes_ = true;
  // What was held of an extended unit goes first, in order.
  if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
  cout_.to_server(rest);
}

const Actions& Codec::from_client(std::string_view chunk) {
  cout_.clear();
  if (closed_) return cout_.actions();
  // The server side may have turned to bytes: what was held goes first.
  if (bytes_ && !held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
  const std::string_view in = cin_.begin(chunk);
  std::size_t at = 0;
  while (at < in.size() && !bytes_ && !closed_) {
    const std::size_t used = client_message(in, at);
    if (used == 0) break;
    at += used;
  }
  if (bytes_ && !closed_ && at < in.size()) {
    cout_.to_server(in.substr(at));
    at = in.size();
  }
  if (closed_) at = in.size();
  cin_.end(in, at);
  return cout_.actions();
}

// One client message at `at`: forwards, holds or replaces it. Returns the
// bytes it used, 0 when the message is not all there yet.
std::size_t Codec::client_message(std::string_view in, std::size_t at) {
  const std::string_view rest = in.substr(at);
  if (startup_ && !rest.empty() && static_cast<unsigned char>(rest[0]) == 0x16) {
    to_bytes_mode(rest);  // direct TLS (PostgreSQL 17): a ClientHello, not a length
    return rest.size();
  }
  Frame f;
  switch (peek(rest, startup_, f)) {
    case Peek::more:
      return 0;
    case Peek::bad:
      to_bytes_mode(rest);
      return rest.size();
    case Peek::ok:
      break;
  }
  if (f.size > options_.max_message) {
    to_bytes_mode(rest);
    return rest.size();
  }
  if (rest.size() < f.size) return 0;
  const std::string_view m = rest.substr(0, f.size);
  if (startup_)
    startup_packet(m);
  else
    regular_message(m);
  return f.size;
}

void Codec::startup_packet(std::string_view m) {
  const std::uint32_t code = be32(m, 4);
  if (code == kSslRequest || code == kGssEncRequest) {
    if (options_.pass_tls) {
      awaiting_tls_answer_ = true;
      cout_.to_server(m);
    } else {
      cout_.to_client("N");  // no encryption: the client goes on in plaintext
    }
    return;
  }
  if (code == kCancelRequest || (code >> 16) != 3) {
    to_bytes_mode(m);  // the server closes after a cancel; other codes we cannot follow
    return;
  }
  if (hooks_.refuse) {
    if (auto f = hooks_.refuse()) {
      const auto& s = f->settings;
      cout_.to_client_owned(error_response("FATAL", s.sqlstate, s.message));
      cout_.close(false);
      closed_ = true;
      if (hooks_.acted) hooks_.acted(*f, "refused");
      return;
    }
  }
  cout_.to_server(m);
  startup_ = false;
  // A replication session speaks its own commands and CopyBoth: bytes.
  std::size_t pos = 8;
  const std::string_view body = m.substr(0, m.size());
  while (pos != std::string_view::npos && pos < body.size()) {
    const auto name = cstring(body, pos);
    if (name.empty()) break;
    const auto value = cstring(body, pos);
    if (name == "replication" && value != "false" && value != "off" && value != "0") {
      bytes_ = true;
      break;
    }
  }
}

void Codec::regular_message(std::string_view m) {
  const char type = m[0];
  const std::string_view body = m.substr(5);
  switch (type) {
    case 'Q': {
      if (!held_.empty() || decided_) finish_unit({});  // a unit without Sync: let it go
      db::Statement st;
      st.sql = body.substr(0, body.empty() ? 0 : body.size() - 1);
      db::Decision d;
      if (hooks_.decide) d = hooks_.decide(st);
      if (d.delay > faults::Duration::zero()) cout_.wait(d.delay);
      Unit u;
      if (!d.action) {
        cout_.to_server(m);
      } else {
        const auto& s = d.action->settings;
        switch (s.kind) {
          case db::Kind::pg_error:
            if (s.severity == "FATAL") {
              u.answer = Answer::fatal;
              u.fatal = error_response(s.severity, s.sqlstate, s.message);
              cout_.to_server_owned(query(""));
            } else {
              cout_.to_server_owned(raise_query(s.sqlstate, s.message));
              if (hooks_.acted) hooks_.acted(*d.action, "raised");
            }
            break;
          case db::Kind::pg_terminate:
            if (s.mode == "cut") {
              cout_.to_server(m);
              u.answer = Answer::cut;
              u.rows = s.after_rows;
            } else {
              // A terminated backend rolls back: the statement does not run.
              cout_.to_server_owned(query(""));
              u.answer = Answer::fatal;
              u.fatal = error_response("FATAL", "57P01",
                                       "terminating connection due to administrator command");
            }
            break;
          default:
            cout_.to_server(m);
            break;
        }
        u.fault = d.action;
      }
      units_.push_back(std::move(u));
      return;
    }
    case 'P': {
      std::size_t pos = 0;
      const auto name = cstring(body, pos);
      const auto sql = cstring(body, pos);
      if (pos != std::string_view::npos) {
        if (!name.empty()) named_parse_ = true;
        if (statements_.size() < kMaxStatements || statements_.contains(std::string(name)))
          statements_[std::string(name)] = std::string(sql.substr(0, kMaxKeptSql));
      }
      break;
    }
    case 'B': {
      std::size_t pos = 0;
      const auto portal = cstring(body, pos);
      const auto stmt = cstring(body, pos);
      if (pos != std::string_view::npos &&
          (portals_.size() < kMaxStatements || portals_.contains(std::string(portal))))
        portals_[std::string(portal)] = std::string(stmt);
      break;
    }
    case 'C': {  // Close: forget the statement
      if (body.size() >= 2 && body[0] == 'S') {
        std::size_t pos = 1;
        const auto name = cstring(body, pos);
        if (pos != std::string_view::npos && !name.empty()) statements_.erase(std::string(name));
      }
      break;
    }
    case 'S':
      if (swallow_ && replacement_.empty()) {
        cout_.to_server(m);  // the replacement went at a Flush: this Sync gives the Z
      } else if (swallow_) {
        cout_.to_server_owned(std::exchange(replacement_, {}));
      } else {
        if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
        cout_.to_server(m);
      }
      units_.push_back(std::exchange(unit_, {}));
      decided_ = swallow_ = named_parse_ = false;
      held_.clear();
      return;
    case 'F':  // FunctionCall: its own unit
      if (!held_.empty() || decided_) finish_unit({});
      cout_.to_server(m);
      units_.push_back({});
      return;
    case 'H':  // Flush: what is held must reach the server now
      if (!decided_) {
        if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
        decided_ = true;
      }
      if (swallow_ && !replacement_.empty()) {
        // The client waits for its error before Sync, as a server sends it:
        // the replacement goes now, its ReadyForQuery is held back (it is
        // the Sync's to give), or, for a FATAL, the unit ends here.
        cout_.to_server_owned(std::exchange(replacement_, {}));
        Unit u = std::exchange(unit_, {});
        if (u.answer == Answer::pass) u.answer = Answer::no_ready;
        units_.push_back(std::move(u));
      } else if (!swallow_) {
        cout_.to_server(m);
      }
      return;
    case 'X':
    case 'd':
    case 'c':
    case 'f':
    case 'p':
      if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
      cout_.to_server(m);
      return;
    default:
      break;
  }
  // Extended-protocol messages (Parse, Bind, Describe, Execute, Close):
  // held until the unit's first Execute decides what becomes of it.
  if (swallow_) return;
  if (decided_) {
    cout_.to_server(m);
    return;
  }
  held_.append(m);
  if (type != 'E') return;
  std::size_t pos = 0;
  const auto portal = cstring(body, pos);
  db::Statement st;
  std::string prepared;
  if (const auto p = portals_.find(std::string(portal)); p != portals_.end()) {
    prepared = p->second;
    if (const auto s = statements_.find(prepared); s != statements_.end()) st.sql = s->second;
  }
  st.prepared = prepared;
  db::Decision d;
  if (hooks_.decide) d = hooks_.decide(st);
  decided_ = true;
  if (d.delay > faults::Duration::zero()) cout_.wait(d.delay);
  const auto& action = d.action;
  // Replacing a unit that creates a named statement would leave the client
  // believing in a statement the server never made: such a unit only runs.
  const bool terminate = action && action->settings.kind == db::Kind::pg_terminate;
  if (action && !named_parse_ &&
      (action->settings.kind == db::Kind::pg_error ||
       (terminate && action->settings.mode != "cut"))) {
    const auto& s = action->settings;
    swallow_ = true;
    held_.clear();
    if (terminate) {
      unit_.answer = Answer::fatal;
      unit_.fatal =
          error_response("FATAL", "57P01", "terminating connection due to administrator command");
      replacement_ = query("");
    } else if (s.severity == "FATAL") {
      unit_.answer = Answer::fatal;
      unit_.fatal = error_response(s.severity, s.sqlstate, s.message);
      replacement_ = query("");
    } else {
      replacement_ = raise_query(s.sqlstate, s.message);
      if (hooks_.acted) hooks_.acted(*action, "raised");
    }
    unit_.fault = action;
    return;
  }
  if (terminate && action->settings.mode == "cut") {
    unit_.answer = Answer::cut;
    unit_.rows = action->settings.after_rows;
    unit_.fault = action;
  }
  cout_.to_server_owned(std::exchange(held_, {}));
}

// A unit that ended without Sync (a Query or FunctionCall came first): what
// was held goes on as it is.
void Codec::finish_unit(std::string_view) {
  if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
  decided_ = swallow_ = named_parse_ = false;
  unit_ = {};
  replacement_.clear();
}

const Actions& Codec::from_server(std::string_view chunk) {
  sout_.clear();
  if (closed_) return sout_.actions();
  const std::string_view in = sin_.begin(chunk);
  std::size_t at = 0;
  if (awaiting_tls_answer_ && !in.empty()) {
    awaiting_tls_answer_ = false;
    const char answer = in[0];
    if (answer == 'S' || answer == 'G') {
      bytes_ = true;
    } else if (answer == 'N') {
      sout_.to_client(in.substr(0, 1));
      at = 1;
    }
  }
  while (at < in.size() && !closed_) {
    if (bytes_) {
      sout_.to_client(in.substr(at));
      at = in.size();
      break;
    }
    const std::size_t used = server_part(in, at);
    if (used == 0) break;
    at += used;
  }
  if (closed_) at = in.size();
  sin_.end(in, at);
  return sout_.actions();
}

// Passes (or drops) the next piece of the server's stream: a message header
// and as much of its body as is there. Returns the bytes used, 0 when a
// header is incomplete.
std::size_t Codec::server_part(std::string_view in, std::size_t at) {
  const std::string_view rest = in.substr(at);
  if (sleft_ > 0) {
    const std::size_t n = std::min(sleft_, rest.size());
    if (!sdrop_) sout_.to_client(rest.substr(0, n));
    sleft_ -= n;
    if (sleft_ == 0 && cut_after_) cut();
    return n;
  }
  Frame f;
  switch (peek(rest, false, f)) {
    case Peek::more:
      return 0;
    case Peek::bad:
      bytes_ = true;
      sout_.to_client(rest);
      return rest.size();
    case Peek::ok:
      break;
  }
  if (f.type == 'Z' && f.size != 6) {  // not a ReadyForQuery we can follow
    bytes_ = true;
    sout_.to_client(rest);
    return rest.size();
  }
  if (f.type == 'Z' && rest.size() < 6) return 0;  // its status byte is needed
  Unit* unit = units_.empty() || !ready_seen_ ? nullptr : &units_.front();
  // Asynchronous messages belong to no unit and always go through.
  const bool async = f.type == 'N' || f.type == 'A' || (f.type == 'S' && ready_seen_);
  if (unit && unit->answer == Answer::cut && !async &&
      (f.type == 'Z' || (f.type == 'D' && unit->rows <= 0))) {
    cut_fault_ = unit->fault;
    cut();  // the Nth row went out (or the answer ended before it)
    return rest.size();
  }
  const bool dropping =
      unit && !async && f.type != 'W' &&
      (unit->answer == Answer::fatal || (unit->answer == Answer::no_ready && f.type == 'Z'));
  const std::size_t n = std::min(f.size, rest.size());
  if (!dropping) sout_.to_client(rest.substr(0, n));
  sleft_ = f.size - n;
  sdrop_ = dropping;
  if (f.type == 'W') {  // CopyBoth: a replication stream, no more messages
    bytes_ = true;
    return n;
  }
  if (f.type == 'D' && unit && unit->answer == Answer::cut && --unit->rows <= 0) {
    cut_fault_ = unit->fault;
    if (sleft_ == 0)
      cut();
    else
      cut_after_ = true;  // once the row is through
    return closed_ ? rest.size() : n;
  }
  if (f.type == 'Z') {
    status_ = rest[5];
    if (!ready_seen_) {
      ready_seen_ = true;
      return n;
    }
    if (unit) {
      Unit u = std::move(units_.front());
      units_.pop_front();
      if (u.answer == Answer::fatal) {
        if (hooks_.acted && u.fault) hooks_.acted(*u.fault, "fatal");
        sout_.to_client_owned(std::move(u.fatal));
        sout_.close(false);
        closed_ = true;
        return rest.size();
      }
    }
  }
  return n;
}

void Codec::cut() {
  if (hooks_.acted && cut_fault_) hooks_.acted(*cut_fault_, "cut");
  sout_.close(false);
  closed_ = true;
  cut_after_ = false;
}

}  // namespace brownout::proxy::pg
