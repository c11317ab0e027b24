// The judge: a pure function from recorded evidence (samples, windows, fault
// events) to verdicts. No clock, no I/O: unit tests feed it made-up runs.
#pragma once

#include <span>
#include <vector>

#include "drill/model.hpp"

namespace brownout::drill {

// Percentile (0..100) of `values` by nearest rank on a sorted copy; 0 when empty.
double percentile(std::vector<double> values, double p);

// The samples of `probe` whose intended start lies in one of the windows the
// scope names, after `skip` from each window's start. Skipped samples
// (saturated) are left out.
std::vector<const Sample*> in_scope(std::span<const Sample> samples, const std::string& probe,
                                    std::span<const Window> windows,
                                    std::span<const std::string> during, Ms skip);

double measure(Metric m, std::span<const Sample* const> samples);

// When the faults of the phase ended: the last fault_removed event at or after
// the phase's planned end (the proxy's own record), or the planned end.
Ms faults_cleared_at(const Window& phase, std::span<const FaultEvent> events);

// Time from `t0` until the probe's samples are all ok for `stable_for` (a
// failure, or a degraded answer unless `degraded_recovers`, restarts the
// wait); nothing when that never happens within the samples recorded.
// `judged` (optional) gets how many samples it looked at.
std::optional<double> recovery_time(std::span<const Sample> samples, const std::string& probe,
                                    Ms t0, Ms stable_for, bool degraded_recovers = false,
                                    std::int64_t* judged = nullptr);

HypothesisResult judge(const Hypothesis& h, std::span<const Sample> samples,
                       std::span<const Window> windows, std::span<const FaultEvent> events);

// The run's exit: any failing hypothesis fails it; else any inconclusive one
// makes it inconclusive (or what `inconclusive_as` says).
Exit overall(std::span<const HypothesisResult> results, Exit inconclusive_as = Exit::inconclusive);

// Failures of `probe` in scope, by the faults active while each was in flight
// (on at its planned start, or turned on before its answer; from the proxy's
// fault events), "" when none was.
// A failed sample whose trace id the proxy recorded with a fault decision is
// linked to exactly those faults.
std::vector<Attribution> attribute(std::span<const Sample* const> failed,
                                   std::span<const FaultEvent> events);

// Every fault the events name: times it acted (summed over its lives, from
// fault_removed / fault_expired), and how many probe failures it surfaced as:
// per probe, the failures while it was on beyond the probe's own failure rate
// with no fault on (never fewer than those traced to it). Sorted by name.
std::vector<FaultImpact> impact(std::span<const Sample> samples,
                                std::span<const FaultEvent> events);

}  // namespace brownout::drill
