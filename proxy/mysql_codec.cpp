// The MySQL codec: handshake tracking, command framing, fault execution.
#include "proxy/mysql_codec.hpp"

#include <algorithm>
#include <utility>

namespace brownout::proxy::mysql {

namespace {

namespace db = faults::db;

constexpr std::uint32_t kClientSsl = 0x800;
constexpr std::uint32_t kClientCompress = 0x20;
constexpr std::uint32_t kClientQueryAttributes = 1u << 27;
constexpr std::size_t kMaxPayload = 0xFFFFFF;  // a longer command is split: bytes mode

constexpr std::uint8_t kComQuery = 0x03;
constexpr std::uint8_t kComChangeUser = 0x11;
constexpr std::uint8_t kComBinlogDump = 0x12;
constexpr std::uint8_t kComStmtPrepare = 0x16;
constexpr std::uint8_t kComStmtExecute = 0x17;
constexpr std::uint8_t kComStmtClose = 0x19;
constexpr std::uint8_t kComBinlogDumpGtid = 0x1E;

std::uint32_t le(std::string_view d, std::size_t at, int n) {
  std::uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(d[at + static_cast<std::size_t>(i)]);
  return v;
}

std::size_t payload_size(std::string_view d) {
  return le(d, 0, 3);
}

std::string packet(std::uint8_t seq, std::string_view payload) {
  std::string out;
  const auto n = payload.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>(seq);
  out += payload;
  return out;
}

}  // namespace

std::string err_packet(std::uint8_t seq, std::uint16_t code, std::string_view sqlstate,
                       std::string_view message) {
  std::string p;
  p += '\xff';
  p += static_cast<char>(code & 0xff);
  p += static_cast<char>(code >> 8);
  if (!sqlstate.empty()) {
    p += '#';
    p += sqlstate;
  }
  p += message;
  return packet(seq, p);
}

Codec::Codec(CodecHooks hooks) : hooks_(std::move(hooks)) {}

const Actions& Codec::from_client(std::string_view chunk) {
  cout_.clear();
  if (closed_) return cout_.actions();
  const std::string_view in = cin_.begin(chunk);
  std::size_t at = 0;
  while (!bytes_ && !closed_ && in.size() - at >= 4) {
    const std::size_t n = payload_size(in.substr(at));
    if (n >= kMaxPayload) {
      bytes_ = true;
      break;
    }
    if (in.size() - at < 4 + n) break;
    client_packet(in.substr(at, 4 + n));
    at += 4 + n;
  }
  if (bytes_ && !closed_ && at < in.size()) {
    cout_.to_server(in.substr(at));
    at = in.size();
  }
  if (closed_) at = in.size();
  cin_.end(in, at);
  return cout_.actions();
}

void Codec::client_packet(std::string_view p) {
  const std::string_view payload = p.substr(4);
  const auto seq = static_cast<std::uint8_t>(p[3]);
  if (phase_ != Phase::command) {
    // The first client packet of the handshake: HandshakeResponse, or an
    // SSLRequest (its first 32 bytes, then TLS).
    if (phase_ == Phase::auth && caps_ == 0 && payload.size() >= 4) {
      caps_ = le(payload, 0, 4);
      if ((caps_ & kClientSsl) && payload.size() == 32) bytes_ = true;
      if (caps_ & kClientCompress) bytes_ = true;  // framing changes after the handshake
    }
    cout_.to_server(p);
    return;
  }
  if (seq != 0 || payload.empty()) {  // LOCAL INFILE data and the like
    cout_.to_server(p);
    return;
  }
  const auto cmd = static_cast<std::uint8_t>(payload[0]);
  std::string_view sql;
  bool judged = false;
  switch (cmd) {
    case kComQuery: {
      sql = payload.substr(1);
      judged = true;
      if (caps_ & kClientQueryAttributes) {
        // MySQL 8 query attributes: parameter count and set count first.
        if (sql.size() >= 2 && sql[0] == 0 && sql[1] == 1)
          sql.remove_prefix(2);
        else
          judged = false;
      }
      break;
    }
    case kComStmtPrepare:
      markers_.push_back({Expect::prepare, std::string(payload.substr(1, 64 * 1024))});
      cout_.to_server(p);
      return;
    case kComStmtExecute:
      if (payload.size() >= 5) {
        const auto it = statements_.find(le(payload, 1, 4));
        if (it != statements_.end()) {
          sql = it->second;
          judged = true;
        }
      }
      break;
    case kComStmtClose:
      if (payload.size() >= 5) statements_.erase(le(payload, 1, 4));
      break;
    case kComChangeUser:
    case kComBinlogDump:
    case kComBinlogDumpGtid:
      cout_.to_server(p);
      bytes_ = true;
      return;
    default:
      break;
  }
  db::Decision d;
  if (judged && hooks_.decide) {
    db::Statement st;
    st.sql = sql;
    d = hooks_.decide(st);
  }
  if (d.delay > faults::Duration::zero()) cout_.wait(d.delay);
  if (d.action && d.action->settings.kind == db::Kind::mysql_error) {
    const auto& s = d.action->settings;
    std::string text = s.message;
    // MariaDB names itself in its messages ("The MariaDB server is running ...").
    if (const auto at = text.find("MySQL server"); mariadb_ && at != std::string::npos)
      text.replace(at, 5, "MariaDB");
    auto err = err_packet(1, static_cast<std::uint16_t>(s.code), s.sqlstate, text);
    if (s.code == 1213 || s.sqlstate == "40001") {
      // A deadlock rolls the whole transaction back before the server
      // reports it: the codec sends ROLLBACK and answers in its place.
      std::string q = "\x03ROLLBACK";
      cout_.to_server_owned(packet(0, q));
      markers_.push_back({Expect::swallow, std::move(err)});
    } else {
      cout_.to_client_owned(std::move(err));
    }
    if (hooks_.acted) hooks_.acted(*d.action, "answered");
    return;
  }
  cout_.to_server(p);
}

const Actions& Codec::from_server(std::string_view chunk) {
  sout_.clear();
  if (closed_) return sout_.actions();
  const std::string_view in = sin_.begin(chunk);
  std::size_t at = 0;
  while (at < in.size() && !closed_) {
    if (sleft_ > 0) {
      const std::size_t n = std::min(sleft_, in.size() - at);
      if (!sdrop_) sout_.to_client(in.substr(at, n));
      sleft_ -= n;
      at += n;
      continue;
    }
    if (bytes_) {
      sout_.to_client(in.substr(at));
      at = in.size();
      break;
    }
    // A packet starts: its header and up to 5 payload bytes are needed (the
    // whole greeting, which names the server).
    const std::string_view rest = in.substr(at);
    if (rest.size() < 4) break;
    const std::size_t size = 4 + payload_size(rest);
    const std::size_t need = phase_ == Phase::greeting ? std::min<std::size_t>(size, 4096) : 9;
    if (rest.size() < std::min(size, need)) break;
    sdrop_ = false;
    server_packet_start(rest.substr(0, std::min(size, rest.size())));
    if (closed_) break;
    const std::size_t n = std::min(size, rest.size());
    if (!sdrop_) sout_.to_client(rest.substr(0, n));
    sleft_ = size - n;
    at += n;
  }
  if (closed_) at = in.size();
  sin_.end(in, at);
  return sout_.actions();
}

// Decides what becomes of the server packet that starts here (`p` holds its
// header and at least the first 5 bytes of its payload, or all of it).
void Codec::server_packet_start(std::string_view p) {
  const std::string_view payload = p.substr(4);
  const auto first = payload.empty() ? 0 : static_cast<std::uint8_t>(payload[0]);
  switch (phase_) {
    case Phase::greeting:
      phase_ = Phase::auth;
      mariadb_ = p.find("MariaDB") != std::string_view::npos;
      if (hooks_.refuse) {
        if (auto f = hooks_.refuse()) {
          const auto& s = f->settings;
          // Before the greeting the server cannot know the client's flags:
          // the short ERR form, sequence 0.
          sout_.to_client_owned(err_packet(0, static_cast<std::uint16_t>(s.code), {}, s.message));
          sout_.close(false);
          closed_ = true;
          if (hooks_.acted) hooks_.acted(*f, "refused");
        }
      }
      return;
    case Phase::auth:
      if (first == 0x00) phase_ = Phase::command;  // the final OK of the login
      return;
    case Phase::command:
      break;
  }
  if (markers_.empty()) return;
  const Marker m = std::move(markers_.front());
  markers_.pop_front();
  if (m.what == Expect::swallow) {
    sdrop_ = true;  // the OK of the ROLLBACK the codec sent: the error goes instead
    sout_.to_client_owned(m.text);
    return;
  }
  if (first == 0x00 && payload.size() >= 5 && statements_.size() < 10000)
    statements_[le(payload, 1, 4)] = m.text;  // PREPARE_OK: the statement's id
}

}  // namespace brownout::proxy::mysql
