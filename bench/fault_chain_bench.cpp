// Micro-benchmark of the fault chain: the cost per chunk of running a plan
// through 0, 1 and 5 faults, as the data plane's planned path does for every
// read (Plan::reset_for, then ChainRunner::on_data). No sockets, no clock
// reads inside the timed loop except where named.
//
//   BM_Chain_Latency0/N   N latency faults of 0 ms (the "0 ms latency" setup has one per stream)
//   BM_Chain_Mixed/N      the first N of: latency 0 ms, bandwidth (far above any real rate),
//                         limit_data (never reached), latency 1 ms +/- 1 ms jitter, noop
//   BM_Chain_Eof/N        on_eof through N latency faults
//   BM_ClockNow           one steady_clock::now(), which the data plane reads per chunk
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "faults/chain.hpp"
#include "faults/registry.hpp"

namespace {

namespace f = brownout::faults;

constexpr std::uint32_t kChunk = 16 * 1024;

std::shared_ptr<const f::FaultInstance> instance(std::uint64_t id, const std::string& type,
                                                 const std::map<std::string, f::Value>& attrs) {
  const f::FaultType* t = f::find_type(type);
  if (!t) throw std::runtime_error("unknown fault type " + type);
  auto built = f::build(*t, attrs);
  if (!built) throw std::runtime_error(type + ": " + built.error.message);
  auto inst = std::make_shared<f::FaultInstance>();
  inst->id = id;
  inst->name = type + "_" + std::to_string(id);
  inst->type = type;
  inst->stream_text = "downstream";
  inst->stream = f::Stream::downstream;
  inst->toxicity = 1.0;
  inst->values = std::move(built.value->values);
  inst->fault = std::move(built.value->fault);
  return inst;
}

f::Chain latency_chain(int n) {
  f::Chain chain;
  for (int i = 0; i < n; ++i)
    chain.push_back(
        instance(static_cast<std::uint64_t>(i + 1), "latency", {{"latency", std::int64_t{0}}}));
  return chain;
}

f::Chain mixed_chain(int n) {
  const std::vector<std::pair<std::string, std::map<std::string, f::Value>>> all = {
      {"latency", {{"latency", std::int64_t{0}}}},
      {"bandwidth", {{"rate", std::int64_t{1'000'000'000}}}},
      {"limit_data", {{"bytes", std::int64_t{1} << 60}}},
      {"latency", {{"latency", std::int64_t{1}}, {"jitter", std::int64_t{1}}}},
      {"noop", {}},
  };
  f::Chain chain;
  for (int i = 0; i < n && i < static_cast<int>(all.size()); ++i)
    chain.push_back(instance(static_cast<std::uint64_t>(i + 1),
                             all[static_cast<std::size_t>(i)].first,
                             all[static_cast<std::size_t>(i)].second));
  return chain;
}

// One link's direction: a runner bound to `chain`, its rng, scratch and plan.
struct Direction {
  f::Rng rng{42};
  std::vector<f::Piece> scratch;
  f::Plan plan;
  f::ChainRunner runner;
  f::TimePoint now = f::Clock::now();

  explicit Direction(const f::Chain& chain) {
    f::Context ctx{now, rng, scratch};
    plan.reset_empty();
    if (!runner.rebind(chain, ctx, plan)) throw std::runtime_error("rebind refused the chain");
  }
};

void run_chunks(benchmark::State& state, const f::Chain& chain) {
  Direction d(chain);
  std::uint64_t offset = 0;
  for (auto _ : state) {
    f::Context ctx{d.now, d.rng, d.scratch};
    d.plan.reset_for(offset, kChunk, d.now);
    d.runner.on_data(ctx, d.plan);
    benchmark::DoNotOptimize(d.plan.pieces.data());
    benchmark::ClobberMemory();
    offset += kChunk;
  }
  state.SetItemsProcessed(state.iterations());  // chunks (each names 16 KiB; no byte is copied)
  state.counters["faults"] = static_cast<double>(chain.size());
}

void BM_Chain_Latency0(benchmark::State& state) {
  run_chunks(state, latency_chain(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_Chain_Latency0)->Arg(0)->Arg(1)->Arg(5);

void BM_Chain_Mixed(benchmark::State& state) {
  run_chunks(state, mixed_chain(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_Chain_Mixed)->Arg(0)->Arg(1)->Arg(5);

void BM_Chain_Eof(benchmark::State& state) {
  Direction d(latency_chain(static_cast<int>(state.range(0))));
  for (auto _ : state) {
    f::Context ctx{d.now, d.rng, d.scratch};
    d.plan.reset_for_eof(d.now);
    d.runner.on_eof(ctx, d.plan);
    benchmark::DoNotOptimize(d.plan.end);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Chain_Eof)->Arg(0)->Arg(1)->Arg(5);

void BM_ClockNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(f::Clock::now());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClockNow);

}  // namespace

BENCHMARK_MAIN();
