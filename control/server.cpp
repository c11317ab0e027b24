#include "control/server.hpp"

#include <fmt/ranges.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <random>
#include <sstream>

#include "control/api.hpp"
#include "control/events.hpp"
#include "control/http_server.hpp"
#include "control/profile.hpp"
#include "proxy/engine.hpp"

namespace brownout::control {

namespace {

// %* in a pattern: the message escaped for a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

}  // namespace

std::string configure_logging(const std::string& level, const std::string& format) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return "unknown log level '" + level +
           "' (expected trace, debug, info, warn, error, critical or off)";
  if (format != "text" && format != "json")
    return "unknown log format '" + format + "' (expected text or json)";
  auto logger = std::make_shared<spdlog::logger>("brownout",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    formatter->add_flag<JsonMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

struct Server::Impl {
  explicit Impl(const ServerOptions& o)
      : options(o),
        events(std::make_shared<EventLog>()),
        engine(proxy::EngineOptions{o.workers, o.seed ? *o.seed : random_seed(), o.max_inflight,
                                    events}),
        registry(engine, events.get()),
        timeline(registry, events.get()),
        api(registry, events.get(), &timeline),
        http([this](const ApiRequest& r) { return api.handle(r); }) {}

  static std::uint64_t random_seed() {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }

  ServerOptions options;
  std::shared_ptr<EventLog> events;
  proxy::Engine engine;
  Registry registry;
  Timeline timeline;
  Api api;
  HttpServer http;
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(options)) {}
Server::~Server() = default;

Registry& Server::registry() {
  return impl_->registry;
}
std::uint64_t Server::seed() const {
  return impl_->engine.seed();
}

std::string Server::start() {
  if (auto err = impl_->events->open(impl_->options.events); !err.empty()) return err;
  if (!impl_->options.config.empty()) {
    std::ifstream in(impl_->options.config);
    if (!in) return "cannot read config " + impl_->options.config;
    std::stringstream text;
    text << in.rdbuf();
    if (auto err = load_toxiproxy_config(impl_->registry, text.str()); !err.empty())
      return "config " + impl_->options.config + ": " + err;
  }
  if (!impl_->options.profiles.empty()) {
    auto loaded = load_profiles(impl_->options.profiles);
    if (!loaded) {
      auto text = loaded.error_text();
      if (!text.empty()) text.pop_back();
      return text;
    }
    impl_->registry.set_actor("profile");
    auto applied = apply_profile(impl_->registry, impl_->timeline, *loaded.profile);
    if (auto* e = std::get_if<ApiError>(&applied)) return e->message;
  }
  auto bound = impl_->http.listen(impl_->options.host, impl_->options.port);
  if (!bound) return bound.error.message;
  api_address_ = *bound.value;
  spdlog::info("brownout API on http://{} ({} workers, seed {})", api_address_,
               impl_->engine.workers(), impl_->engine.seed());
  return {};
}

std::string Server::reload() {
  if (impl_->options.profiles.empty()) return "no --profile to reload";
  auto loaded = load_profiles(impl_->options.profiles);
  if (!loaded) return loaded.error_text();
  impl_->registry.set_actor("reload");
  auto applied = apply_profile(impl_->registry, impl_->timeline, *loaded.profile, true);
  if (auto* e = std::get_if<ApiError>(&applied)) return e->message;
  return {};
}

void Server::run(bool handle_signals) {
  impl_->http.run(handle_signals, [this] {
    spdlog::info("SIGHUP: reloading {}", fmt::join(impl_->options.profiles, ", "));
    if (auto err = reload(); !err.empty())
      spdlog::error("reload refused, nothing changed:\n{}", err);
    else
      spdlog::info("reload applied");
  });
}
void Server::stop() {
  impl_->http.stop();
}

}  // namespace brownout::control
