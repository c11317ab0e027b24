// The brownout executable: parses arguments and calls the layers below.
#include <CLI/CLI.hpp>
#include <iostream>

#include "control/server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"brownout: a chaos and fault-injection proxy, Toxiproxy-compatible"};
  app.set_version_flag("--version", std::string("brownout ") + BROWNOUT_VERSION);
  app.require_subcommand(1);

  brownout::control::ServerOptions options;
  std::uint64_t seed = 0;
  std::string log_level = "info", log_format = "text";
  auto* serve = app.add_subcommand("serve", "Run the proxy server and its control API");
  serve->add_option("--host", options.host, "API bind host")->capture_default_str();
  serve->add_option("--port", options.port, "API bind port")->capture_default_str()->check(CLI::Range(0, 65535));
  serve->add_option("--config", options.config, "Toxiproxy JSON proxy list to load at start")
      ->check(CLI::ExistingFile);
  auto* seed_opt = serve->add_option("--seed", seed, "Seed for every random decision (repeatable runs)");
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->capture_default_str();
  serve->add_option("--log-format", log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  serve->add_option("--workers", options.workers, "Worker threads (default: one per core)")
      ->check(CLI::Range(1u, 256u));
  serve->add_option("--max-inflight", options.max_inflight,
                    "Bytes a faulted direction may buffer before it stops reading")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{65536}, std::size_t{1} << 32));
  serve->footer("Example:\n  brownout serve --port 8474 --config toxiproxy.json --seed 42");

  CLI11_PARSE(app, argc, argv);

  if (*serve) {
    if (auto err = brownout::control::configure_logging(log_level, log_format); !err.empty()) {
      std::cerr << "brownout: " << err << "\n";
      return 2;
    }
    if (*seed_opt) options.seed = seed;
    brownout::control::Server server(options);
    if (auto err = server.start(); !err.empty()) {
      std::cerr << "brownout: " << err << "\n";
      return 1;
    }
    server.run(true);
  }
  return 0;
}
