#include "faults/chain.hpp"

#include <algorithm>

#include "faults/db.hpp"
#include "faults/http.hpp"

namespace brownout::faults {

namespace {

// Runs one fault's hook and, when it decided how the stream ends, tags the
// end with the fault's id so the data plane can say who ended a link.
template <class Hook>
void tagged(const FaultInstance& instance, Plan& plan, Hook&& hook) {
  const End before = plan.end;
  hook();
  if (plan.end.kind != EndKind::none && plan.end.kind != EndKind::fin &&
      plan.end.kind != before.kind)
    plan.end.fault_id = instance.id;
}

}  // namespace

std::uint64_t FaultInstance::acted() const {
  if (http) return http->shared ? http->shared->acted.load(std::memory_order_relaxed) : 0;
  if (db) return db->shared ? db->shared->acted.load(std::memory_order_relaxed) : 0;
  return fired->load(std::memory_order_relaxed);
}

const FaultInstance* ChainRunner::find(std::uint64_t id) const {
  for (const auto& slot : slots_)
    if (slot.instance && slot.instance->id == id) return slot.instance.get();
  return nullptr;
}

bool ChainRunner::rebind(const Chain& chain, Context& ctx, Plan& plan,
                         std::vector<const FaultInstance*>* picked) {
  std::vector<Slot> next;
  next.reserve(chain.size());
  for (const auto& instance : chain) {
    auto old = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) {
      return s.instance && s.instance->id == instance->id;
    });
    if (old != slots_.end() && old->instance == instance) {
      next.push_back(std::move(*old));
      continue;
    }
    Slot slot;
    slot.instance = instance;
    if (old != slots_.end() && old->instance->type == instance->type) {
      slot.state = std::move(old->state);
      // The old settings may have needed no per-link state where the new do
      // (latency without jitter, bandwidth shared by the proxy).
      if (!slot.state) slot.state = instance->fault->make_state();
      // An update draws toxicity again (Toxiproxy's behaviour) but is not
      // a new action for `count`.
      slot.picked =
          client_matches(instance->clients, client_) && ctx.rng.chance(instance->toxicity);
      old->instance.reset();  // consumed: not a removal
    } else {
      slot.state = instance->fault->make_state();
      slot.picked = client_matches(instance->clients, client_) &&
                    ctx.rng.chance(instance->toxicity) && instance->fire();
    }
    if (slot.picked) {
      ctx.shared = instance->shared.get();
      tagged(*instance, plan, [&] { instance->fault->on_attach(slot.state.get(), ctx, plan); });
      if (picked) picked->push_back(instance.get());
    }
    next.push_back(std::move(slot));
  }
  bool keep = true;
  for (const auto& old : slots_) {
    if (!old.instance || !old.picked) continue;
    const bool still_there = std::any_of(next.begin(), next.end(), [&](const Slot& s) {
      return s.instance->id == old.instance->id;
    });
    if (!still_there && old.instance->fault->ends_link_on_removal()) keep = false;
  }
  slots_ = std::move(next);
  return keep;
}

void ChainRunner::on_data(Context& ctx, Plan& plan) {
  for (auto& slot : slots_) {
    if (!slot.picked) continue;
    const FaultInstance& f = *slot.instance;
    if (f.probability < 1.0 && !ctx.rng.chance(f.probability)) continue;  // this chunk goes by
    ctx.shared = f.shared.get();
    tagged(f, plan, [&] { f.fault->on_data(slot.state.get(), ctx, plan); });
  }
}

void ChainRunner::on_eof(Context& ctx, Plan& plan) {
  for (auto& slot : slots_) {
    if (!slot.picked) continue;
    ctx.shared = slot.instance->shared.get();
    tagged(*slot.instance, plan,
           [&] { slot.instance->fault->on_eof(slot.state.get(), ctx, plan); });
  }
}

}  // namespace brownout::faults
