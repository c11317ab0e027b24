// The brownout executable: parses arguments and calls the layers below.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>

#include "control/commands.hpp"
#include "control/server.hpp"
#include "drill/run.hpp"

namespace cmd = brownout::control::commands;

namespace {

// Words of every command and option, for shell completion.
void collect(const CLI::App* app, std::vector<std::string>* commands,
             std::vector<std::string>& options) {
  for (const auto* sub : app->get_subcommands({})) {
    if (commands) commands->push_back(sub->get_name());  // top level only: `fault add` is not `add`
    collect(sub, nullptr, options);
  }
  for (const auto* opt : app->get_options({}))
    for (const auto& n : opt->get_lnames()) options.push_back("--" + n);
}

std::string completion_script(const CLI::App& app, const std::string& shell) {
  std::vector<std::string> commands, options;
  collect(&app, &commands, options);
  std::sort(options.begin(), options.end());
  options.erase(std::unique(options.begin(), options.end()), options.end());
  std::string words, opts;
  for (const auto& c : commands) words += c + " ";
  for (const auto& o : options) opts += o + " ";
  // Second words: `fault add`, `profile check`, `timeline stop`, ...
  std::string nested;
  for (const auto* sub : app.get_subcommands({})) {
    std::string second;
    for (const auto* s : sub->get_subcommands({})) second += s->get_name() + " ";
    if (second.empty()) continue;
    nested += "  if [[ \"${COMP_WORDS[1]}\" == " + sub->get_name() +
              " && $COMP_CWORD -eq 2 ]]; then\n    COMPREPLY=($(compgen -W \"" + second +
              "\" -- \"$cur\")); return; fi\n";
  }
  std::string script;
  if (shell == "zsh") script += "autoload -U +X bashcompinit && bashcompinit\n";
  script +=
      "_brownout() {\n"
      "  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
      "  if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"" +
      opts + "\" -- \"$cur\")); return; fi\n" + nested +
      "  if [[ \"${COMP_WORDS[1]}\" == completion && $COMP_CWORD -eq 2 ]]; then\n"
      "    COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")); return; fi\n"
      "  if [[ $COMP_CWORD -eq 1 ]]; then COMPREPLY=($(compgen -W \"" +
      words +
      "\" -- \"$cur\")); fi\n"
      "}\n"
      "complete -F _brownout brownout\n";
  return script;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"brownout: a chaos and fault-injection proxy, Toxiproxy-compatible"};
  app.set_version_flag("--version", std::string("brownout ") + BROWNOUT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Examples:\n"
      "  brownout serve --config proxies.json\n"
      "  brownout create db --listen 127.0.0.1:25432 --upstream 127.0.0.1:5432\n"
      "  brownout fault add db latency --latency 300ms --jitter 50ms\n"
      "  brownout serve --profile profiles/black-friday.toml\n"
      "  brownout list");

  std::string server = "http://127.0.0.1:8474";
  bool json = false;
  app.add_option("-s,--server", server, "URL of a running brownout server")
      ->envname("BROWNOUT_SERVER")
      ->capture_default_str();
  app.add_flag("--json", json, "Print JSON for scripts instead of tables");

  // serve
  brownout::control::ServerOptions options;
  std::uint64_t seed = 0;
  std::string log_level = "info", log_format = "text";
  auto* serve = app.add_subcommand("serve", "Run the proxy server and its control API");
  serve->add_option("--host", options.host, "API bind host")->capture_default_str();
  serve->add_option("--port", options.port, "API bind port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  serve->add_option("--config", options.config, "Toxiproxy JSON proxy list to load at start")
      ->check(CLI::ExistingFile);
  serve
      ->add_option("--profile", options.profiles,
                   "TOML profile to run (repeatable; reloaded on SIGHUP; see docs/profiles.md)")
      ->check(CLI::ExistingFile);
  auto* seed_opt =
      serve->add_option("--seed", seed, "Seed for every random decision (repeatable runs)");
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off")
      ->capture_default_str();
  serve->add_option("--log-format", log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  serve
      ->add_option("--workers", options.workers,
                   "Data-plane threads (default: one per two cores, at least one)")
      ->check(CLI::Range(1u, 256u));
  serve
      ->add_option("--max-inflight", options.max_inflight,
                   "Bytes a faulted direction may buffer before it stops reading")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{65536}, std::size_t{1} << 32));
  serve->add_option("--events", options.events,
                    "Write fault events as JSON lines to FILE (- for stdout)");
  serve->footer(
      "Examples:\n  brownout serve --profile profiles/demo.toml\n"
      "  brownout serve --port 8474 --config toxiproxy.json --seed 42 --events events.jsonl");

  // client commands
  std::string name, listen, upstream;
  auto* list =
      app.add_subcommand("list", "One row per proxy: addresses, state, connections, faults");
  list->footer("Example:\n  brownout list\n  brownout list --json");
  auto* inspect =
      app.add_subcommand("inspect", "A proxy and each of its faults with every attribute");
  inspect->add_option("name", name, "Proxy name")->required();
  inspect->footer("Example:\n  brownout inspect db");
  auto* create = app.add_subcommand("create", "Create a proxy");
  create->add_option("name", name, "Proxy name")->required();
  create->add_option("--listen", listen, "Address to listen on (port 0 picks one)")->required();
  create->add_option("--upstream", upstream, "Address to forward to")->required();
  std::string create_protocol;
  create->add_option("--protocol", create_protocol,
                     "tcp (default), http, postgres, redis or mysql: what faults can see");
  create->footer(
      "Example:\n  brownout create db --listen 127.0.0.1:25432 --upstream 127.0.0.1:5432 "
      "--protocol postgres");
  std::map<std::string, std::optional<bool>> switches = {
      {"toggle", std::nullopt}, {"enable", true}, {"disable", false}};
  std::map<std::string, CLI::App*> switch_cmds;
  for (const auto& [word, value] : switches) {
    auto* sub = app.add_subcommand(
        word, word == "toggle"   ? "Enable a disabled proxy, disable an enabled one"
              : word == "enable" ? "Enable a proxy (listen again)"
                                 : "Disable a proxy: close its listener and connections");
    sub->add_option("name", name, "Proxy name")->required();
    sub->footer("Example:\n  brownout " + word + " db");
    switch_cmds[word] = sub;
  }
  auto* del = app.add_subcommand("delete", "Delete a proxy");
  del->add_option("name", name, "Proxy name")->required();
  del->footer("Example:\n  brownout delete db");
  auto* reset = app.add_subcommand("reset", "Enable every proxy and remove every fault");
  reset->footer("Example:\n  brownout reset");

  // fault commands
  cmd::FaultArgs fa;
  std::string stream, fault_name;
  double toxicity = 1.0;
  std::map<std::string, std::string> attr_values;
  auto* fault = app.add_subcommand("fault", "Add, update, remove faults; list fault types");
  fault->require_subcommand(1);
  fault->footer(
      "Examples:\n  brownout fault add db latency --latency 300ms --jitter 50ms\n  brownout fault "
      "types");
  auto add_attr_options = [&](CLI::App* sub) {
    for (const auto& attr : cmd::attribute_names())
      sub->add_option("--" + attr, attr_values[attr],
                      "Attribute " + attr + " (see `brownout fault types`)")
          ->group("Fault attributes");
  };
  auto* fadd =
      fault->add_subcommand("add", "Add a fault to a proxy; it acts on open connections too");
  fadd->add_option("proxy", fa.proxy, "Proxy name")->required();
  fadd->add_option("type", fa.type, "Fault type (see `brownout fault types`)")->required();
  auto* fadd_name = fadd->add_option("--name", fault_name, "Fault name (default TYPE_STREAM)");
  auto* fadd_stream =
      fadd->add_option("--stream", stream, "up (client to server) or down (default)");
  auto* fadd_tox =
      fadd->add_option("--toxicity", toxicity, "Share of connections affected, 0..1 (default 1)");
  add_attr_options(fadd);
  auto add_http_options = [&](CLI::App* sub) {
    sub->add_option("--set", fa.set, "HTTP faults: any attribute, KEY=VALUE (repeatable)")
        ->group("HTTP fault options");
    sub->add_option("--header", fa.header, "HTTP faults: a header of the answer, NAME=VALUE")
        ->group("HTTP fault options");
    sub->add_option("--match", fa.match,
                    "HTTP faults: which requests, KEY=VALUE (method, path, path_prefix, "
                    "path_regex, body_contains, header.NAME)")
        ->group("HTTP fault options");
  };
  auto add_control_options = [&](CLI::App* sub) {
    const char* group = "Every fault";
    sub->add_option("--probability", fa.probability,
                    "Chance per chunk (per request for HTTP faults), 0..1")
        ->group(group)
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--clients", fa.clients,
                    "Only clients in these CIDR blocks (repeatable), e.g. 10.0.0.0/8")
        ->group(group)
        ->delimiter(',');
    sub->add_option("--after", fa.after, "Start acting after this long, e.g. 30s")->group(group);
    sub->add_option("--for", fa.for_, "Remove the fault after it acted this long, e.g. 2m")
        ->group(group);
    sub->add_option("--count", fa.count, "Remove the fault after it acted N times")
        ->group(group)
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--flap", fa.flap, "Turn on and off in turn: ON/OFF, e.g. 5s/10s")
        ->group(group);
  };
  add_http_options(fadd);
  add_control_options(fadd);
  fadd->footer(
      "Examples:\n  brownout fault add db latency --latency 300ms --jitter 50ms\n"
      "  brownout fault add api bandwidth --rate 64KiB/s --stream up --toxicity 0.5\n"
      "  brownout fault add gw http_abort --set status=503 --header Retry-After=2 \\\n"
      "      --match method=POST --match 'path=/v1/charges*' --probability 0.3");
  auto* fupd = fault->add_subcommand("update", "Change a fault's attributes or toxicity");
  fupd->add_option("proxy", fa.proxy, "Proxy name")->required();
  fupd->add_option("fault", fa.fault, "Fault name")->required();
  auto* fupd_tox = fupd->add_option("--toxicity", toxicity, "Share of connections affected, 0..1");
  add_attr_options(fupd);
  add_http_options(fupd);
  add_control_options(fupd);
  fupd->footer("Example:\n  brownout fault update db latency_downstream --latency 800ms");
  auto* frm = fault->add_subcommand("remove", "Remove a fault");
  frm->add_option("proxy", fa.proxy, "Proxy name")->required();
  frm->add_option("fault", fa.fault, "Fault name")->required();
  frm->footer("Example:\n  brownout fault remove db latency_downstream");
  auto* ftypes =
      fault->add_subcommand("types", "Every fault type with its attributes, units and defaults");
  ftypes->footer("Example:\n  brownout fault types --json");

  // profiles and the timeline
  std::vector<std::string> profile_files;
  std::string profile_file;
  auto* profile = app.add_subcommand("profile", "Validate profiles, convert Toxiproxy configs");
  profile->require_subcommand(1);
  profile->footer(
      "Examples:\n  brownout profile check profiles/black-friday.toml\n"
      "  brownout profile import toxiproxy.json > mine.toml");
  auto* pcheck = profile->add_subcommand(
      "check", "Validate profiles (all errors, with file:line:column) and print the timeline");
  pcheck->add_option("files", profile_files, "Profile files (merged, as serve --profile does)")
      ->required();
  pcheck->footer("Example:\n  brownout profile check profiles/black-friday.toml");
  auto* pimport =
      profile->add_subcommand("import", "Print a Toxiproxy JSON config as a TOML profile");
  pimport->add_option("file", profile_file, "toxiproxy.json, or saved GET /proxies output")
      ->required();
  pimport->footer("Example:\n  brownout profile import toxiproxy.json > mine.toml");
  auto* apply = app.add_subcommand(
      "apply", "Validate a profile and apply it to the running server (all or nothing)");
  apply->add_option("file", profile_file, "Profile file")->required();
  apply->footer("Example:\n  brownout apply profiles/redis-flaky.toml");
  auto* timeline = app.add_subcommand("timeline", "Show the running timeline; `stop` stops it");
  auto* tstop = timeline->add_subcommand("stop", "Stop the timeline and remove its faults");
  tstop->footer("Example:\n  brownout timeline stop");
  timeline->footer("Examples:\n  brownout timeline\n  brownout timeline stop");

  brownout::drill::DrillOptions drill_options;
  std::string drill_reports;
  std::uint64_t drill_seed = 0;
  auto* drill = app.add_subcommand(
      "drill", "Run a profile's drill: steady state, timeline, probes, verdicts, reports");
  auto* drill_profile_opt = drill
                                ->add_option("profile", drill_options.profile,
                                             "Profile with [[probe]] and [[hypothesis]]")
                                ->check(CLI::ExistingFile);
  std::string drill_replay;
  auto* drill_replay_opt =
      drill
          ->add_option("--replay", drill_replay,
                       "Run again the profile and seed embedded in an earlier report.json")
          ->check(CLI::ExistingFile)
          ->excludes(drill_profile_opt);
  drill->require_subcommand(0, 1);
  std::string diff_a, diff_b;
  auto* drill_diff = drill->add_subcommand(
      "diff", "Compare two runs' report.json; exit 1 when the second is significantly worse");
  drill_diff->add_option("a", diff_a, "The earlier run's report.json")
      ->required()
      ->check(CLI::ExistingFile);
  drill_diff->add_option("b", diff_b, "The later run's report.json")
      ->required()
      ->check(CLI::ExistingFile);
  drill_diff->footer(
      "Worse means: a verdict from PASS to FAIL; a rate moved the wrong way (by the threshold's\n"
      "direction) by at least 0.01 and beyond chance (two-proportion z >= 2); a latency or the\n"
      "recovery grown by more than 20% and 5 ms (recovery: 500 ms).\n"
      "Exit codes: 0 not worse, 1 significantly worse, 2 unreadable input.\n"
      "Example:\n  brownout drill diff main/report.json branch/report.json");
  auto* drill_reports_opt = drill->add_option("--reports", drill_reports,
                                              "Folder for the reports (default: [drill] reports)");
  auto* drill_seed_opt = drill->add_option("--seed", drill_seed, "Seed for every fault decision");
  drill->add_flag("--quiet", drill_options.quiet, "Print the verdicts only, no progress");
  drill->add_option("--server", drill_options.server,
                    "Drive this brownout serve (http://host:port) under a lease instead of "
                    "running the proxies here");
  drill->footer(
      "Exit codes: 0 pass, 1 a hypothesis failed, 2 bad profile (nothing ran), 3 not steady\n"
      "before faults (nothing injected), 4 aborted by a guard or a signal, 5 inconclusive.\n"
      "Examples:\n  brownout drill profiles/black-friday.toml --reports out/\n"
      "  brownout drill --replay out/report.json --reports again/\n"
      "  brownout drill diff out/report.json again/report.json");

  std::string shell;
  auto* completion = app.add_subcommand("completion", "Print a shell completion script");
  completion->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
  completion->footer("Example:\n  source <(brownout completion bash)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return cmd::kUsage;
  }

  if (*serve) {
    if (auto err = brownout::control::configure_logging(log_level, log_format); !err.empty()) {
      std::cerr << "brownout: " << err << "\n";
      return cmd::kUsage;
    }
    if (*seed_opt) options.seed = seed;
    brownout::control::Server server_instance(options);
    if (auto err = server_instance.start(); !err.empty()) {
      std::cerr << "brownout: " << err << "\n";
      return 1;
    }
    server_instance.run(true);
    return 0;
  }
  if (*completion) {
    std::cout << completion_script(app, shell);
    return 0;
  }

  const cmd::Context ctx{server, json, std::cout, std::cerr};
  if (*list) return cmd::list(ctx);
  if (*inspect) return cmd::inspect(ctx, name);
  if (*create) return cmd::create(ctx, name, listen, upstream, create_protocol);
  for (const auto& [word, sub] : switch_cmds)
    if (*sub) return cmd::set_enabled(ctx, name, switches[word]);
  if (*del) return cmd::remove(ctx, name);
  if (*reset) return cmd::reset(ctx);
  if (*ftypes) return cmd::fault_types(ctx);
  if (*pcheck) return cmd::profile_check(ctx, profile_files);
  if (*pimport) return cmd::profile_import(ctx, profile_file);
  if (*apply) return cmd::apply(ctx, profile_file);
  if (*drill_diff) return brownout::drill::diff_drills(diff_a, diff_b, std::cout, std::cerr);
  if (*drill) {
    if (*drill_reports_opt) drill_options.reports = drill_reports;
    if (*drill_seed_opt) drill_options.seed = drill_seed;
    spdlog::set_level(spdlog::level::warn);  // the drill's own output says what happens
    if (*drill_replay_opt)
      return brownout::drill::replay_drill(drill_replay, drill_options, std::cout, std::cerr);
    if (drill_options.profile.empty()) {
      std::cerr << "brownout drill: give a PROFILE, --replay REPORT, or diff A B\n";
      return cmd::kUsage;
    }
    return brownout::drill::run_drill(drill_options, std::cout, std::cerr);
  }
  if (*tstop) return cmd::timeline_stop(ctx);
  if (*timeline) return cmd::timeline(ctx);

  for (const auto* sub : {fadd, fupd})
    if (*sub)
      for (const auto& attr : cmd::attribute_names())
        if (sub->get_option("--" + attr)->count() > 0)
          fa.attributes.emplace_back(attr, attr_values[attr]);
  if (*fadd) {
    if (*fadd_name) fa.name = fault_name;
    if (*fadd_stream) fa.stream = stream;
    if (*fadd_tox) fa.toxicity = toxicity;
    return cmd::fault_add(ctx, fa);
  }
  if (*fupd) {
    if (*fupd_tox) fa.toxicity = toxicity;
    return cmd::fault_update(ctx, fa);
  }
  if (*frm) return cmd::fault_remove(ctx, fa);
  return cmd::kUsage;
}
