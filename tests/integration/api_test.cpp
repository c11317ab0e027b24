// The control API against the real registry and engine: bad input gets
// Toxiproxy's status and error body and changes nothing.
#include "support/harness.hpp"

using namespace brownout::test;

namespace {
std::string error_of(const Reply& r) {
  return std::string(r.json().at("error").as_string());
}
}  // namespace

TEST_CASE("refused requests leave the registry exactly as it was") {
  Harness h;
  Server upstream(echo);
  const auto port = h.proxy("db", upstream.address());
  h.toxic("db", R"({"type":"latency","name":"lag","attributes":{"latency":10}})");
  const auto before = h.call("GET", "/proxies").body;

  struct Case {
    std::string method, path, body;
    int status;
    std::string error;
  };
  std::uint16_t held = 0;
  Fd holder = listen_tcp(held);
  const std::vector<Case> cases = {
      {"POST", "/proxies", "{not json", 400, ""},
      {"POST", "/proxies", "", 400, "bad request body: EOF"},
      {"POST", "/proxies", R"({"name":"x"})", 400, "missing required field: upstream"},
      {"POST", "/proxies", R"({"upstream":"127.0.0.1:1"})", 400, "missing required field: name"},
      {"POST", "/proxies", R"({"name":"db","upstream":"127.0.0.1:1"})", 409,
       "proxy already exists"},
      {"POST", "/proxies",
       R"({"name":"busy","listen":"127.0.0.1:)" + std::to_string(held) +
           R"(","upstream":"127.0.0.1:1"})",
       500, "listen tcp 127.0.0.1:" + std::to_string(held) + ": bind: address already in use"},
      {"POST", "/proxies/db/toxics", R"({"type":"nope"})", 400, "invalid toxic type"},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","stream":"sideways"})", 400,
       "stream was invalid, can be either upstream or downstream"},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","name":"lag"})", 409,
       "toxic already exists"},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","attributes":{"latency":"slow"}})", 400,
       ""},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","attributes":{"latency":1.5}})", 400, ""},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","attributes":{"latency":-5}})", 400, ""},
      {"POST", "/proxies/db/toxics", R"({"type":"latency","toxicity":1.5})", 400, ""},
      {"POST", "/proxies/db/toxics", R"({"type":"slicer","attributes":{"average_size":0}})", 400,
       ""},
      {"POST", "/proxies/nope/toxics", R"({"type":"latency"})", 404, "proxy not found"},
      {"PATCH", "/proxies/db/toxics/lag", R"({"attributes":{"latency":-1}})", 400, ""},
      {"PATCH", "/proxies/db/toxics/nope", R"({"attributes":{"latency":1}})", 404,
       "toxic not found"},
      {"DELETE", "/proxies/nope", "", 404, "proxy not found"},
      {"POST", "/populate", R"([{"name":"ok","upstream":"127.0.0.1:1"},{"name":"bad"}])", 400,
       "missing required field: upstream at proxy 2"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    CAPTURE(c.body);
    const auto r = h.call(c.method, c.path, c.body);
    CHECK(r.status == c.status);
    if (!c.error.empty()) CHECK(error_of(r) == c.error);
    CHECK(r.json().at("status").as_int64() == c.status);
    CHECK(h.call("GET", "/proxies").body == before);
  }
  // Attribute errors name the attribute.
  CHECK(error_of(h.call("POST", "/proxies/db/toxics",
                        R"({"type":"slicer","attributes":{"average_size":0}})"))
            .find("average_size") != std::string::npos);
  CHECK(error_of(h.call("POST", "/proxies/db/toxics", R"({"type":"latency","toxicity":-0.1})"))
            .find("toxicity") != std::string::npos);
  // The proxy still works.
  Fd c = connect_tcp(port);
  send_all(c.get(), "ok");
  CHECK(recv_exact(c.get(), 2) == "ok");
}

TEST_CASE("toxics are listed upstream first, with every attribute filled") {
  Harness h;
  h.proxy("p", "127.0.0.1:1");
  h.toxic("p", R"({"type":"slicer","attributes":{"average_size":10}})");
  h.toxic("p", R"({"type":"bandwidth","stream":"UPSTREAM","attributes":{"rate":5}})");
  auto r = h.call("GET", "/proxies/p/toxics");
  REQUIRE(r.status == 200);
  const auto doc = r.json();
  const auto& a = doc.as_array();
  REQUIRE(a.size() == 2);
  CHECK(a[0].at("name").as_string() == "bandwidth_UPSTREAM");
  CHECK(a[0].at("stream").as_string() == "UPSTREAM");
  CHECK(a[1].at("attributes").at("size_variation").as_int64() == 0);
  CHECK(a[1].at("attributes").at("delay").as_int64() == 0);
  CHECK(a[1].at("toxicity").to_number<double>() == 1.0);
  // A partial update keeps the other attributes.
  r = h.call("PATCH", "/proxies/p/toxics/slicer_downstream",
             R"({"attributes":{"delay":7},"toxicity":0.5})");
  CHECK(r.status == 200);
  CHECK(r.json().at("attributes").at("average_size").as_int64() == 10);
  CHECK(r.json().at("attributes").at("delay").as_int64() == 7);
  CHECK(r.json().at("toxicity").to_number<double>() == 0.5);
}

TEST_CASE("populate creates, keeps unchanged proxies and replaces changed ones") {
  Harness h;
  auto r = h.call("POST", "/populate",
                  R"([{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}])");
  REQUIRE(r.status == 201);
  const std::string listen(r.json().at("proxies").at(0).at("listen").as_string());
  h.toxic("a", R"({"type":"latency"})");
  // Same listen and upstream: untouched, its toxic kept.
  r = h.call("POST", "/populate",
             R"([{"name":"a","listen":")" + listen + R"(","upstream":"127.0.0.1:1"}])");
  CHECK(r.status == 201);
  CHECK(r.json().at("proxies").at(0).at("toxics").as_array().size() == 1);
  // Another upstream: replaced, toxics gone.
  r = h.call("POST", "/populate",
             R"([{"name":"a","listen":")" + listen + R"(","upstream":"127.0.0.1:2"}])");
  CHECK(r.status == 201);
  CHECK(r.json().at("proxies").at(0).at("toxics").as_array().empty());
  CHECK(r.json().at("proxies").at(0).at("upstream").as_string() == "127.0.0.1:2");
  // Empty input.
  r = h.call("POST", "/populate", "[]");
  CHECK(r.status == 201);
  CHECK(r.body == R"({"proxies":null})");
}

TEST_CASE("reset re-enables proxies and removes every toxic") {
  Harness h;
  h.proxy("r", "127.0.0.1:1");
  h.toxic("r", R"({"type":"latency"})");
  CHECK(h.call("POST", "/proxies/r", R"({"enabled":false})").status == 200);
  CHECK(h.call("POST", "/reset").status == 204);
  auto r = h.call("GET", "/proxies/r");
  CHECK(r.json().at("enabled").as_bool());
  CHECK(r.json().at("toxics").as_array().empty());
}
