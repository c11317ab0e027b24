// HTTP proxies as a client sees them, where counting matters: a plain-socket
// HTTP/1.1 upstream (keep-alive, Content-Length) and a blocking HTTP/1.1
// client, both in the test. Probability statistics, seeded repeatability,
// aborts on a long-lived keep-alive connection, and a quota's Retry-After.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "support/harness.hpp"

using namespace brownout::test;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads from `fd` into `buf` until it holds "\r\n\r\n"; the head (without the
// blank line) is removed from `buf` and returned. nullopt on EOF or timeout.
std::optional<std::string> read_head(int fd, std::string& buf) {
  char chunk[16384];
  for (int i = 0; i < 100'000; ++i) {
    if (const auto end = buf.find("\r\n\r\n"); end != std::string::npos) {
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      return head;
    }
    const auto k = ::recv(fd, chunk, sizeof chunk, 0);
    if (k <= 0) return std::nullopt;
    buf.append(chunk, static_cast<std::size_t>(k));
  }
  return std::nullopt;
}

// Reads exactly n body bytes, starting with what `buf` already holds.
std::optional<std::string> read_body(int fd, std::string& buf, std::size_t n) {
  char chunk[65536];
  while (buf.size() < n) {
    const auto k = ::recv(fd, chunk, sizeof chunk, 0);
    if (k <= 0) return std::nullopt;
    buf.append(chunk, static_cast<std::size_t>(k));
  }
  std::string body = buf.substr(0, n);
  buf.erase(0, n);
  return body;
}

struct Message {
  std::string start;                          // request or status line
  std::map<std::string, std::string> fields;  // lower-case names
  std::string body;
  std::string field(const std::string& name) const {
    const auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  }
};

// A head and its Content-Length body (every message in these tests has one).
std::optional<Message> read_message(int fd, std::string& buf) {
  auto head = read_head(fd, buf);
  if (!head) return std::nullopt;
  Message m;
  std::size_t at = head->find("\r\n");
  m.start = head->substr(0, at);
  while (at != std::string::npos) {
    const std::size_t from = at + 2;
    at = head->find("\r\n", from);
    const std::string line = head->substr(from, at == std::string::npos ? at : at - from);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    m.fields[lower(line.substr(0, colon))] = value;
  }
  const auto length = m.field("content-length");
  auto body = read_body(fd, buf, length.empty() ? 0 : std::stoul(length));
  if (!body) return std::nullopt;
  m.body = std::move(*body);
  return m;
}

// Keep-alive HTTP/1.1 upstream: answers "hello METHOD PATH\n" to each request
// and records what it received.
class Upstream {
 public:
  Upstream()
      : server_([this](Fd fd) {
          std::string buf;
          for (int i = 0; i < 100'000; ++i) {
            auto req = read_message(fd.get(), buf);
            if (!req) break;
            const auto sp1 = req->start.find(' ');
            const auto sp2 = req->start.find(' ', sp1 + 1);
            const std::string method = req->start.substr(0, sp1);
            const std::string path = req->start.substr(sp1 + 1, sp2 - sp1 - 1);
            {
              std::lock_guard lock(mutex_);
              requests_.push_back({method, path, req->body.size()});
            }
            const std::string body = "hello " + method + " " + path + "\n";
            if (!send_all(fd.get(),
                          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body))
              break;
          }
        }) {}

  struct Seen {
    std::string method, path;
    std::size_t body_bytes;
  };
  std::vector<Seen> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string address() const { return server_.address(); }
  int connections() const { return server_.accepted(); }

 private:
  std::mutex mutex_;
  std::vector<Seen> requests_;
  Server server_;  // last: its threads use the members above
};

// A blocking HTTP/1.1 client on one connection.
class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(connect_tcp(port)) { REQUIRE(fd_); }

  struct Response {
    int status = 0;  // 0: no (complete) response
    Message message;
  };
  Response request(const std::string& method, const std::string& path,
                   const std::string& body = "") {
    std::string out = method + " " + path + " HTTP/1.1\r\nHost: test\r\n";
    if (!body.empty() || method == "POST")
      out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n" + body;
    Response r;
    if (!send_all(fd_.get(), out)) return r;
    auto m = read_message(fd_.get(), buf_);
    if (!m || m->start.size() < 12 || m->start.rfind("HTTP/1.1 ", 0) != 0) return r;
    r.status = std::stoi(m->start.substr(9, 3));
    r.message = std::move(*m);
    return r;
  }

  // True when the proxy has closed this connection (EOF within `wait`).
  bool closed_by_peer(std::chrono::milliseconds wait = 50ms) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return false;
    char c;
    return ::recv(fd_.get(), &c, 1, MSG_PEEK) <= 0;
  }

 private:
  Fd fd_;
  std::string buf_;
};

std::uint16_t http_proxy(Harness& h, const std::string& name, const std::string& upstream) {
  auto r = h.call("POST", "/proxies",
                  R"({"name":")" + name + R"(","listen":"127.0.0.1:0","upstream":")" + upstream +
                      R"(","protocol":"http"})");
  REQUIRE_MESSAGE(r.status == 201, r.body);
  const std::string listen(r.json().at("listen").as_string());
  return static_cast<std::uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
}

// Which of `count` requests (over `connections` sequential keep-alive
// connections) a probability-0.3 http_abort hit: '1' hit, '0' passed, '?' other.
std::string hits(std::uint64_t seed, int count, int connections) {
  Harness h({2, seed, 4 << 20, nullptr});
  Upstream upstream;
  const auto port = http_proxy(h, "p", upstream.address());
  h.toxic("p",
          R"({"name":"p30","type":"http_abort","probability":0.3,"attributes":{"status":503}})");
  std::string out;
  const int per = count / connections;
  for (int c = 0; c < connections; ++c) {
    Client client(port);
    for (int i = 0; i < per; ++i) {
      const auto r = client.request("GET", "/r/" + std::to_string(c * per + i));
      if (r.status == 503 && r.message.field("x-brownout-fault") == "p30")
        out.push_back('1');
      else if (r.status == 200)
        out.push_back('0');
      else
        out.push_back('?');
    }
  }
  return out;
}

}  // namespace

TEST_CASE("http proxy: probability 0.3 over 2000 requests injects within 3 sigma of 600") {
  Harness h;
  Upstream upstream;
  const auto port = http_proxy(h, "stat", upstream.address());
  h.toxic("stat",
          R"({"name":"p30","type":"http_abort","probability":0.3,"attributes":{"status":503}})");
  int hit = 0, passed = 0, other = 0;
  for (int c = 0; c < 4; ++c) {
    Client client(port);
    for (int i = 0; i < 500; ++i) {
      const auto r = client.request("GET", "/s/" + std::to_string(c * 500 + i));
      if (r.status == 503)
        ++hit;
      else if (r.status == 200)
        ++passed;
      else
        ++other;
    }
  }
  // sigma = sqrt(2000 * 0.3 * 0.7) = 20.49
  const double sigma = std::sqrt(2000 * 0.3 * 0.7);
  CAPTURE(hit);
  CHECK(other == 0);
  CHECK(hit + passed == 2000);
  CHECK(std::abs(hit - 600) <= 3 * sigma);
  CHECK(static_cast<int>(upstream.requests().size()) == passed);
  CHECK(upstream.connections() == 4);
}

TEST_CASE("http proxy: with a seed, the same requests are hit on a second run") {
  const auto a = hits(7, 300, 6);
  CAPTURE(a);
  REQUIRE(a.size() == 300);
  CHECK(a.find('?') == std::string::npos);
  CHECK(a.find('1') != std::string::npos);
  CHECK(a.find('0') != std::string::npos);
  CHECK(hits(7, 300, 6) == a);
  CHECK(hits(8, 300, 6) != a);
}

TEST_CASE("http proxy: 1000 requests over one keep-alive connection with 10% aborts") {
  Harness h;
  Upstream upstream;
  const auto port = http_proxy(h, "ka", upstream.address());
  const std::string abort_body = R"({"error":"try later"})";
  h.toxic("ka", R"({"name":"ten","type":"http_abort","probability":0.1,
                    "attributes":{"status":503,"headers":{"Retry-After":"1"},
                                  "body":"{\"error\":\"try later\"}"}})");
  Client client(port);
  int aborted = 0, passed = 0, broken = 0;
  std::size_t body_bytes_sent = 0;
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < 1000 && seconds_since(t0) < 30; ++i) {
    // Every other request is a POST with a body, which an abort must read
    // and drop for the next request on the connection to parse.
    const bool post = i % 2 == 1;
    const std::string path = "/k/" + std::to_string(i);
    const std::string body = post ? std::string(1000 + static_cast<std::size_t>(i) * 37, 'b') : "";
    const auto r = client.request(post ? "POST" : "GET", path, body);
    if (r.status == 503) {
      ++aborted;
      const bool proper = r.message.body == abort_body &&
                          r.message.field("content-length") == std::to_string(abort_body.size()) &&
                          r.message.field("retry-after") == "1" &&
                          r.message.field("x-brownout-fault") == "ten" &&
                          lower(r.message.field("connection")) != "close";
      if (!proper) ++broken;
    } else if (r.status == 200 && r.message.body == "hello " + std::string(post ? "POST" : "GET") +
                                                        " " + path + "\n") {
      ++passed;
      body_bytes_sent += body.size();
    } else {
      ++broken;
      MESSAGE("request " << i << ": status " << r.status << " body '" << r.message.body << "'");
      break;
    }
  }
  CAPTURE(aborted);
  CHECK(broken == 0);
  CHECK(aborted + passed == 1000);
  // sigma = sqrt(1000 * 0.1 * 0.9) = 9.49
  CHECK(std::abs(aborted - 100) <= 3 * std::sqrt(1000 * 0.1 * 0.9));
  CHECK_FALSE(client.closed_by_peer());
  CHECK(upstream.connections() == 1);
  const auto seen = upstream.requests();
  CHECK(static_cast<int>(seen.size()) == passed);
  std::size_t received = 0;
  for (const auto& s : seen) received += s.body_bytes;
  CHECK(received == body_bytes_sent);
}

TEST_CASE(
    "http proxy: quota 20 per 2 s, request 21 gets 429 and its Retry-After lands in the "
    "next window") {
  Harness h;
  Upstream upstream;
  const auto port = http_proxy(h, "q", upstream.address());
  h.toxic("q", R"({"name":"limit","type":"http_abort",
                   "attributes":{"quota":{"requests":20,"window":2000}}})");
  Client client(port);
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < 20; ++i) {
    const auto r = client.request("GET", "/q/" + std::to_string(i));
    CHECK_MESSAGE(r.status == 200, "request " << i + 1);
  }
  const auto r21 = client.request("GET", "/q/20");
  const double at = seconds_since(t0);
  REQUIRE(at < 1.5);  // still within the window the first request opened
  CHECK(r21.status == 429);
  CHECK(r21.message.field("x-brownout-fault") == "limit");
  const auto retry_after = r21.message.field("retry-after");
  REQUIRE_MESSAGE(!retry_after.empty(), "no Retry-After");
  const int seconds = std::stoi(retry_after);
  CHECK(seconds >= 1);
  CHECK(seconds <= 2);
  // Honoured, it lands past the window's end (2 s after the first request).
  CHECK(at + seconds >= 2.0);
  CHECK(upstream.requests().size() == 20);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const auto after = client.request("GET", "/q/after");
  CHECK(after.status == 200);
  CHECK(after.message.body == "hello GET /q/after\n");
  CHECK(upstream.requests().size() == 21);
  CHECK(upstream.connections() == 1);
}

TEST_CASE("http proxy: first and every count matching requests across connections") {
  Harness h;
  Upstream upstream;
  const auto port = http_proxy(h, "fe", upstream.address());
  h.toxic("fe", R"({"name":"third","type":"http_abort",
                    "attributes":{"status":503,"every":3,"match":{"path_prefix":"/e/"}}})");
  h.toxic("fe", R"({"name":"first4","type":"http_abort",
                    "attributes":{"status":418,"first":4,"match":{"path_prefix":"/f/"}}})");
  std::string every, first;
  for (int c = 0; c < 3; ++c) {
    Client client(port);
    for (int i = 0; i < 5; ++i) {
      // Requests the matchers do not match come in between and are not counted.
      CHECK(client.request("GET", "/other/" + std::to_string(i)).status == 200);
      const auto e = client.request("GET", "/e/" + std::to_string(c * 5 + i));
      every.push_back(e.status == 503 ? '1' : e.status == 200 ? '0' : '?');
      const auto f = client.request("POST", "/f/" + std::to_string(c * 5 + i), "x");
      first.push_back(f.status == 418 ? '1' : f.status == 200 ? '0' : '?');
    }
  }
  CHECK(every == "001001001001001");
  CHECK(first == "111100000000000");
  CHECK(upstream.requests().size() == 15 + 10 + 11);
}
