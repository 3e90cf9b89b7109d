//! The end of a `[liveness]` scenario's chaos phase: every fault still in force is undone at
//! once, and the liveness bound is fixed from what the trace says at that moment. The step
//! loop then runs at least until the bound ends.

use std::time::Duration;

use super::Stepper;
use crate::liveness;
use crate::scenario::ENGINE_HOST;
use crate::trace::SimEvent;

impl Stepper<'_> {
    pub(super) fn heal(&mut self, now: Duration) {
        let repaired = self.repair_links();
        let mut restored = self.restore_links(now);
        if self.heal_network() {
            restored.push(format!("{ENGINE_HOST} network"));
        }
        let powered_on = self.power_on();
        let entries = self.recorder.snapshot().entries;
        let progress = liveness::progress(self.scenario, &entries);
        let bound = liveness::bound(self.scenario, now, &progress);
        self.liveness_end = Some(now.saturating_add(bound.total()));
        let bound_us = u64::try_from(bound.total().as_micros()).unwrap_or(u64::MAX);
        let healed =
            SimEvent::Healed { repaired, restored, powered_on, bound_us, bound: bound.to_string() };
        self.recorder.record_at(now, ENGINE_HOST, healed);
    }

    /// Repairs every link a drop still holds down, however many drops overlap on it.
    fn repair_links(&mut self) -> Vec<String> {
        let drops = std::mem::take(&mut self.faults.drops);
        let down = drops.into_iter().filter(|(_, count)| *count > 0);
        down.map(|((a, b), _)| {
            self.sim.repair(a.as_str(), b.as_str());
            format!("{a}<->{b}")
        })
        .collect()
    }

    /// Gives shaped links their declared rates and latencies back, and plain links whose
    /// latency a fault set the scenario's `[network] latency` (a range again, if it was one).
    fn restore_links(&mut self, now: Duration) -> Vec<String> {
        let mut restored = Vec::new();
        for (index, decl) in self.scenario.links.iter().enumerate() {
            let (Ok(settings), Some(links)) = (decl.get_ref().settings(), self.net.route(index))
            else {
                continue;
            };
            for (link, declared) in links.iter().zip([settings.up, settings.down]) {
                let mut link = link.borrow_mut();
                let current = link.spec().clone();
                if current.rate_bps != declared.rate_bps {
                    link.set_rate(now, declared.rate_bps);
                }
                if current.latency != declared.latency {
                    link.set_latency(declared.latency);
                }
                if (current.rate_bps, current.latency) != (declared.rate_bps, declared.latency) {
                    restored.push(link.name.clone());
                }
            }
        }
        let latency = self.scenario.network.latency;
        for (a, b) in std::mem::take(&mut self.faults.latency_set) {
            self.sim.set_link_latency(a.as_str(), b.as_str(), latency.min.0);
            self.sim.set_link_max_message_latency(a.as_str(), b.as_str(), latency.max.0);
            restored.push(format!("{a}<->{b}"));
        }
        restored
    }

    /// Boots every host a power loss still holds down.
    fn power_on(&mut self) -> Vec<String> {
        let down = std::mem::take(&mut self.faults.down_until);
        let hosts: Vec<String> = down.into_keys().collect();
        for host in &hosts {
            self.sim.bounce(host.as_str());
        }
        hosts
    }
}
