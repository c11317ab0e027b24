// libFuzzer target for proxy/mysql_codec.cpp, built like resp_codec_fuzz: a
// client and a server byte stream fed in segments, whole and in random
// chunks. Invariants: the chunking changes nothing (bytes each way,
// decisions, waits, close); with no fault, each side gets a prefix of what
// the other sent (a packet is held until it is whole, a server packet only
// until its first bytes are there) and nothing closes.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "faults/db.hpp"
#include "faults/rng.hpp"
#include "proxy/codec.hpp"
#include "proxy/mysql_codec.hpp"

namespace {

namespace db = brownout::faults::db;
namespace mysql = brownout::proxy::mysql;
using brownout::faults::Rng;
using brownout::proxy::Action;
using brownout::proxy::Actions;
using brownout::proxy::CodecHooks;

// Input: [flags][seed][client length, 2 bytes little-endian][client][server]
// flags: bits 0-1 fault rate (0: none), bits 4-5 segments per side minus one.
struct Input {
  std::uint8_t flags = 0;
  std::uint8_t seed = 0;
  std::string_view client, server;
  int fault_rate() const { return flags & 3; }
  std::size_t segments() const { return 1 + ((flags >> 4) & 3); }
};

bool parse(const std::uint8_t* data, std::size_t size, Input& in) {
  if (size < 4) return false;
  in.flags = data[0];
  in.seed = data[1];
  const std::size_t n = data[2] | (std::size_t{data[3]} << 8);
  const std::string_view rest(reinterpret_cast<const char*>(data + 4), size - 4);
  in.client = rest.substr(0, std::min(n, rest.size()));
  in.server = rest.substr(in.client.size());
  return true;
}

db::FaultRef make(std::string name, db::Kind kind, std::int64_t code = 0, std::string sqlstate = {},
                  std::string message = {}) {
  auto f = std::make_shared<db::Fault>();
  f->name = std::move(name);
  f->settings.kind = kind;
  f->settings.code = code;
  f->settings.sqlstate = std::move(sqlstate);
  f->settings.message = std::move(message);
  return f;
}

struct Faults {
  db::FaultRef deadlock = make("deadlock", db::Kind::mysql_error, 1213, "40001", "Deadlock found");
  db::FaultRef lock = make("lock", db::Kind::mysql_error, 1205, "HY000", "Lock wait timeout");
  db::FaultRef refuse =
      make("refuse", db::Kind::mysql_error, 1040, "08004", "Too many connections");
  db::FaultRef delay = make("delay", db::Kind::mysql_delay);
};
const Faults& faults() {
  static const Faults f;
  return f;
}

std::uint64_t fnv(std::string_view a, std::string_view b, std::uint8_t salt) {
  std::uint64_t h = 1469598103934665603ull ^ salt;
  for (char c : a) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (char c : b) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

db::Decision decide(const Input& in, const db::Statement& s) {
  db::Decision d;
  if (in.fault_rate() == 0) return d;
  const std::uint64_t h = fnv(s.sql, {}, in.flags);
  if ((h >> 8) % 4 >= static_cast<std::uint64_t>(in.fault_rate())) return d;
  const auto& f = faults();
  if (h & 0x80) {
    d.delay = std::chrono::milliseconds(1 + (h >> 20) % 5);
    d.fired.push_back(f.delay);
  }
  db::FaultRef action = h % 3 == 0 ? f.deadlock : h % 3 == 1 ? f.lock : nullptr;
  if (action) {
    d.action = action;
    d.fired.push_back(action);
  }
  return d;
}

struct Outcome {
  std::string up, down;
  std::vector<std::string> decided;
  std::vector<std::string> acted;
  std::vector<std::int64_t> waits;
  bool closed = false;

  bool operator==(const Outcome&) const = default;
};

[[noreturn]] void fail(const char* what, const Outcome& a, const Outcome& b) {
  std::fprintf(stderr,
               "mysql_codec_fuzz: %s\n  whole: up %zu down %zu decided %zu waits %zu closed %d\n"
               "  split: up %zu down %zu decided %zu waits %zu closed %d\n",
               what, a.up.size(), a.down.size(), a.decided.size(), a.waits.size(), a.closed,
               b.up.size(), b.down.size(), b.decided.size(), b.waits.size(), b.closed);
  std::abort();
}

Outcome run(const Input& in, bool split) {
  Outcome out;
  CodecHooks hooks;
  hooks.decide = [&](const db::Statement& s) {
    out.decided.push_back(std::string(s.sql));
    return decide(in, s);
  };
  hooks.refuse = [&]() -> db::FaultRef {
    return in.fault_rate() != 0 && (in.flags & 8) ? faults().refuse : nullptr;
  };
  hooks.acted = [&](const db::Fault& f, std::string_view what) {
    out.acted.push_back(f.name + ":" + std::string(what));
  };
  mysql::Codec codec(std::move(hooks));

  const auto take = [&](const Actions& actions) {
    for (const Action& a : actions) {
      if (out.closed) break;  // the session stops at a close
      switch (a.kind) {
        case Action::Kind::to_server:
          out.up.append(a.data);
          break;
        case Action::Kind::to_client:
          out.down.append(a.data);
          break;
        case Action::Kind::wait:
          out.waits.push_back(
              std::chrono::duration_cast<std::chrono::microseconds>(a.delay).count());
          break;
        case Action::Kind::close:
          out.closed = true;
          break;
      }
    }
  };
  // Each chunk lives in its own exactly sized buffer, scribbled over and freed
  // after the call: a codec that reads past it or keeps a view into it is caught.
  const auto feed = [&](bool from_client, std::string_view chunk) {
    if (out.closed) return;
    std::vector<char> buf(chunk.begin(), chunk.end());
    const std::string_view view(buf.data(), buf.size());
    take(from_client ? codec.from_client(view) : codec.from_server(view));
    std::fill(buf.begin(), buf.end(), '\xA5');
  };
  Rng rng(in.seed * 0x9E3779B97F4A7C15ull + in.flags);
  const auto feed_segment = [&](bool from_client, std::string_view seg) {
    if (!split) {
      feed(from_client, seg);
      return;
    }
    while (!seg.empty()) {
      const auto n = static_cast<std::size_t>(
          rng.range(0, std::min<std::int64_t>(static_cast<std::int64_t>(seg.size()), 24) + 1));
      feed(from_client, seg.substr(0, n));
      seg.remove_prefix(n);
    }
  };
  const std::size_t k = in.segments();
  for (std::size_t i = 0; i < k; ++i) {
    const auto cut = [&](std::string_view s) {
      const std::size_t a = s.size() * i / k;
      const std::size_t b = s.size() * (i + 1) / k;
      return s.substr(a, b - a);
    };
    feed_segment(true, cut(in.client));
    feed_segment(false, cut(in.server));
  }
  (void)codec.bytes_mode();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in;
  if (!parse(data, size, in)) return 0;
  const Outcome whole = run(in, false);
  const Outcome split = run(in, true);
  if (whole.up != split.up) fail("chunking changed what went upstream", whole, split);
  if (whole.down != split.down) fail("chunking changed what went to the client", whole, split);
  if (whole.decided != split.decided) fail("chunking changed the decisions asked", whole, split);
  if (whole.closed != split.closed) fail("chunking changed the close", whole, split);
  if (whole.waits != split.waits) fail("chunking changed the waits", whole, split);
  if (!(whole == split)) fail("chunking changed the outcome", whole, split);
  if (in.fault_rate() == 0) {
    if (whole.closed) fail("closed with no fault", whole, split);
    if (!whole.waits.empty()) fail("waited with no fault", whole, split);
    if (!in.client.starts_with(whole.up)) fail("upstream is not the client's bytes", whole, split);
    if (!in.server.starts_with(whole.down))
      fail("the client got other bytes than the server's", whole, split);
  }
  return 0;
}
