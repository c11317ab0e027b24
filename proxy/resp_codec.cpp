// The Redis codec: command and reply framing, pairing and fault execution.
#include "proxy/resp_codec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

namespace brownout::proxy::resp {

namespace {

namespace db = faults::db;

constexpr std::size_t kMaxLine = 64 * 1024;               // Redis's own inline limit
constexpr std::size_t kMaxArg = 1024;                     // of a name or key, kept for matching
constexpr std::int64_t kMaxBulk = std::int64_t{1} << 40;  // beyond any server's limit
constexpr std::int64_t kMaxElements = std::int64_t{1} << 32;
constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";

struct Preset {
  std::string_view word, line;
};
// The real server's texts (Redis 7).
constexpr Preset kPresets[] = {
    {"BUSY",
     "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."},
    {"LOADING", "LOADING Redis is loading the dataset in memory"},
    {"READONLY", "READONLY You can't write against a read only replica."},
    {"OOM", "OOM command not allowed when used memory > 'maxmemory'."},
    {"MASTERDOWN",
     "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."},
    {"TRYAGAIN", "TRYAGAIN Multiple keys request during rehashing of slot"},
    {"CLUSTERDOWN", "CLUSTERDOWN The cluster is down"},
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// The words of an inline command: blanks split, double quotes group.
std::vector<std::string> inline_words(std::string_view line, std::size_t max) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size() && out.size() < max) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    std::string w;
    if (line[i] == '"' || line[i] == '\'') {
      const char q = line[i++];
      while (i < line.size() && line[i] != q) w += line[i++];
      ++i;
    } else {
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') w += line[i++];
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

std::string error_line(std::string_view error) {
  for (const auto& p : kPresets)
    if (iequals(p.word, error)) return std::string(p.line);
  return std::string(error);
}

Codec::Codec(CodecHooks hooks) : hooks_(std::move(hooks)) {}

// ---- commands -----------------------------------------------------------------

const Actions& Codec::from_client(std::string_view in) {
  cout_.clear();
  if (closed_) return cout_.actions();
  if (bytes_client_) {
    cout_.to_server(in);
    return cout_.actions();
  }
  // Bytes of the command in hand: held until it is decided, then forwarded
  // (or dropped when it is replaced).
  const auto emit = [&](std::string_view b) {
    if (!decided_)
      held_.append(b);
    else if (!drop_)
      cout_.to_server(b);
  };
  std::size_t at = 0;
  while (at < in.size() && !bytes_client_) {
    if (bulk_left_ > 0) {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::int64_t>(bulk_left_, static_cast<std::int64_t>(in.size() - at)));
      if (capturing_) {
        const std::int64_t content = std::max<std::int64_t>(0, bulk_left_ - 2);
        const auto take =
            static_cast<std::size_t>(std::min<std::int64_t>(content, static_cast<std::int64_t>(n)));
        auto& arg = args_.back();
        arg.append(in.substr(at, std::min(take, kMaxArg - std::min(kMaxArg, arg.size()))));
      }
      emit(in.substr(at, n));
      bulk_left_ -= static_cast<std::int64_t>(n);
      at += n;
      if (bulk_left_ == 0) argument_done();
      if (bytes_client_ && at < in.size()) cout_.to_server(in.substr(at));  // after SUBSCRIBE, ...
      continue;
    }
    const auto nl = in.find('\n', at);
    if (nl == std::string_view::npos) {
      if (line_.size() + (in.size() - at) > kMaxLine) {
        go_bytes(in.substr(at));
        return cout_.actions();
      }
      line_.append(in.substr(at));
      emit(in.substr(at));
      at = in.size();
      break;
    }
    line_.append(in.substr(at, nl - at));
    emit(in.substr(at, nl + 1 - at));
    at = nl + 1;
    std::string line = std::exchange(line_, {});
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (elements_ < 0) {  // a command starts
      if (!line.empty() && line[0] == '*') {
        std::int64_t n = 0;
        if (!parse_int(std::string_view(line).substr(1), n)) {
          go_bytes(in.substr(at));  // Redis answers a protocol error and closes
          return cout_.actions();
        }
        if (n > kMaxElements) {
          go_bytes(in.substr(at));
          return cout_.actions();
        }
        if (n <= 0) {  // an empty command: Redis ignores it
          command_reset(true);
          continue;
        }
        elements_ = n;
        args_.clear();
        continue;
      }
      args_ = inline_words(line, 2);
      if (args_.empty()) {  // an empty line: ignored, no reply
        command_reset(true);
        continue;
      }
      elements_ = 0;
      command_head();
      command_end();
      if (bytes_client_ && at < in.size()) cout_.to_server(in.substr(at));
      continue;
    }
    // An argument's header.
    std::int64_t len = 0;
    if (line.empty() || line[0] != '$' || !parse_int(std::string_view(line).substr(1), len) ||
        len < 0 || len > kMaxBulk) {
      go_bytes(in.substr(at));
      return cout_.actions();
    }
    capturing_ = args_.size() < 2;
    if (capturing_) args_.emplace_back();
    bulk_left_ = len + 2;
  }
  return cout_.actions();
}

void Codec::argument_done() {
  capturing_ = false;
  --elements_;
  if (!decided_ && (args_.size() == 2 || elements_ == 0)) command_head();
  if (elements_ == 0) command_end();
}

void Codec::go_bytes(std::string_view rest) {
  // What is held goes first; the server side switches once the replies
  // before this point are through.
  if (!held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
  cout_.to_server(rest);
  bytes_client_ = true;
  Unit u;
  u.reply = Reply::bytes;
  units_.push_back(std::move(u));
}

void Codec::command_reset(bool forward_held) {
  if (forward_held && !held_.empty()) cout_.to_server_owned(std::exchange(held_, {}));
  held_.clear();
  elements_ = -1;
  decided_ = drop_ = capturing_ = false;
  args_.clear();
  next_ = {};
}

void Codec::command_head() {
  decided_ = true;
  const std::string_view name = args_.empty() ? std::string_view{} : args_[0];
  const std::string_view arg1 = args_.size() > 1 ? std::string_view(args_[1]) : std::string_view{};
  const auto is = [&](std::string_view c) { return iequals(name, c); };
  bool eligible = !in_multi_;
  if (is("MULTI")) {
    in_multi_ = true;
    eligible = false;
  } else if (is("EXEC") || is("DISCARD") || is("RESET")) {
    in_multi_ = false;
    eligible = false;
  } else if (is("HELLO")) {
    if (arg1 == "3") resp3_ = true;
    if (arg1 == "2") resp3_ = false;
    eligible = false;
  } else if (is("SUBSCRIBE") || is("PSUBSCRIBE") || is("SSUBSCRIBE") || is("MONITOR") ||
             is("SYNC") || is("PSYNC") || (is("CLIENT") && iequals(arg1, "REPLY"))) {
    // Replies stop being one per command: the rest of this connection is bytes.
    switch_after_ = true;
    eligible = false;
  }
  db::Decision d;
  if (eligible && hooks_.decide) {
    db::Statement st;
    st.command = name;
    st.key = arg1;
    d = hooks_.decide(st);
  }
  if (d.delay > faults::Duration::zero()) cout_.wait(d.delay);
  if (d.action) {
    const auto& s = d.action->settings;
    fault_ = d.action;
    switch (s.kind) {
      case db::Kind::redis_error:
        drop_ = true;
        next_.reply = Reply::replace;
        next_.forged = "-" + error_line(s.error) + "\r\n";
        break;
      case db::Kind::redis_empty:
        drop_ = true;
        next_.reply = Reply::replace;
        next_.forged = resp3_ ? "_\r\n" : "$-1\r\n";
        break;
      case db::Kind::redis_drop:
        next_.reply = s.mode == "hang" ? Reply::hang : Reply::close;
        next_.timeout = faults::millis(s.timeout_ms);
        break;
      default:
        break;
    }
  }
  if (drop_)
    held_.clear();
  else if (!held_.empty())
    cout_.to_server_owned(std::exchange(held_, {}));
}

void Codec::command_end() {
  if (drop_) cout_.to_server(kPing);  // its reply makes room for the forged one
  next_.fault = std::exchange(fault_, nullptr);
  units_.push_back(std::exchange(next_, {}));
  const bool to_bytes = std::exchange(switch_after_, false);
  command_reset(false);
  if (to_bytes) {
    bytes_client_ = true;
    Unit u;
    u.reply = Reply::bytes;
    units_.push_back(std::move(u));
  }
}

// ---- replies --------------------------------------------------------------------

const Actions& Codec::from_server(std::string_view in) {
  sout_.clear();
  if (closed_) return sout_.actions();
  std::size_t at = 0;
  while (at < in.size() && !closed_) {
    if (bytes_server_) {
      sout_.to_client(in.substr(at));
      break;
    }
    if (hanging_) break;  // swallowed
    if (!in_reply_) {
      // A value starts: whose is it?
      in_reply_ = true;
      top_push_ = in[at] == '>';
      sdrop_ = false;
      if (!top_push_ && !units_.empty()) {
        const Reply r = units_.front().reply;
        if (r == Reply::bytes) {
          units_.pop_front();
          bytes_server_ = true;
          continue;
        }
        sdrop_ = r != Reply::pass;
      }
    }
    const auto pass = [&](std::string_view b) {
      if (!sdrop_) sout_.to_client(b);
    };
    if (sbulk_left_ > 0) {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::int64_t>(sbulk_left_, static_cast<std::int64_t>(in.size() - at)));
      pass(in.substr(at, n));
      sbulk_left_ -= static_cast<std::int64_t>(n);
      at += n;
      if (sbulk_left_ == 0) value_done();
      continue;
    }
    const auto nl = in.find('\n', at);
    if (nl == std::string_view::npos) {
      if (sline_.size() + (in.size() - at) > kMaxLine) {
        bytes_server_ = true;
        continue;
      }
      sline_.append(in.substr(at));
      pass(in.substr(at));
      break;
    }
    sline_.append(in.substr(at, nl - at));
    pass(in.substr(at, nl + 1 - at));
    at = nl + 1;
    std::string line = std::exchange(sline_, {});
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      bytes_server_ = true;
      continue;
    }
    const char type = line[0];
    std::int64_t n = 0;
    const std::string_view num = std::string_view(line).substr(1);
    switch (type) {
      case '+':
      case '-':
      case ':':
      case '_':
      case '#':
      case ',':
      case '(':
        value_done();
        break;
      case '$':
      case '!':
      case '=':
        if (!parse_int(num, n) || n < -1 || n > kMaxBulk) {
          bytes_server_ = true;
          break;
        }
        if (n < 0)
          value_done();
        else
          sbulk_left_ = n + 2;
        break;
      case '*':
      case '~':
      case '>':
      case '%':
      case '|':
        if (!parse_int(num, n) || n < -1 || n > kMaxElements) {
          bytes_server_ = true;
          break;
        }
        if (type == '%' || type == '|') n *= 2;
        if (n <= 0 && type != '|')
          value_done();
        else if (n > 0)
          stack_.push_back({n, type == '|'});
        // An empty attribute: the value it annotates follows.
        break;
      default:  // not RESP we can follow (a streamed string, say)
        bytes_server_ = true;
        break;
    }
  }
  return sout_.actions();
}

void Codec::value_done() {
  while (!stack_.empty()) {
    if (--stack_.back().left > 0) return;
    const bool attribute = stack_.back().attribute;
    stack_.pop_back();
    // An attribute is not an element: the value it annotates follows (and,
    // at the top, shares the attribute's fate).
    if (attribute) return;
  }
  // A whole top-level value.
  in_reply_ = false;
  if (top_push_) return;       // out of band: answers no command
  if (units_.empty()) return;  // unasked (an error before a close, say)
  Unit u = std::move(units_.front());
  units_.pop_front();
  switch (u.reply) {
    case Reply::pass:
    case Reply::bytes:
      break;
    case Reply::replace:
      if (hooks_.acted && u.fault) hooks_.acted(*u.fault, "replaced");
      sout_.to_client_owned(std::move(u.forged));
      break;
    case Reply::close:
      if (hooks_.acted && u.fault) hooks_.acted(*u.fault, "dropped");
      sout_.close(false);
      closed_ = true;
      break;
    case Reply::hang:
      if (hooks_.acted && u.fault) hooks_.acted(*u.fault, "hung");
      hanging_ = true;
      if (u.timeout > faults::Duration::zero()) {
        sout_.wait(u.timeout);
        sout_.close(false);
        closed_ = true;
      }
      break;
  }
}

}  // namespace brownout::proxy::resp
