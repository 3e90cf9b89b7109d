//! The step loop of one run: applies the fault timeline at exact simulated times, heals at
//! the end of a `[liveness]` chaos phase, leaps over idle stretches (`clock`), and stops when
//! every job has settled or the run's end has passed.

mod heal;
mod network;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::RunOutcome;
use crate::book::JobBook;
use crate::clock::Clock;
use crate::env::{DiskLedger, NetworkSwitch};
use crate::net::{Net, NetReport};
use crate::scenario::{ENGINE_HOST, STEPS_MAX, Scenario};
use crate::timeline::Action;
use crate::trace::{Recorder, SimEvent};

/// Fault state that outlives a single action: links can be dropped by overlapping faults
/// and hosts can lose power while already off.
#[derive(Default)]
struct Faults {
    /// How many drops currently hold each link down.
    drops: BTreeMap<(String, String), u32>,
    /// Hosts without power, and when they boot again.
    down_until: BTreeMap<String, Duration>,
    /// Plain (turmoil) links whose latency a fault changed.
    latency_set: BTreeSet<(String, String)>,
    /// How many `network-loss` faults currently hold the engine's network down.
    network_losses: u32,
}

pub(super) struct Stepper<'a> {
    sim: turmoil::Sim<'a>,
    recorder: Recorder,
    scenario: &'a Scenario,
    faults: Faults,
    net: Net,
    clock: Rc<Clock>,
    /// Leap over idle stretches (off only to compare against a run without leaps).
    leaps: bool,
    /// When the liveness bound ends, once the chaos phase has been healed.
    liveness_end: Option<Duration>,
    /// The engine machine's network adapter, which `network-loss` switches off.
    network: Rc<NetworkSwitch>,
}

/// A leap needs this many idle ticks ahead. The steps around it run as they would have
/// (one wakes every timer to re-arm itself, then the one in which the next deadline falls),
/// so a leap costs a few steps' work: shorter ones, as between the paced pieces of a
/// transfer, are not worth it.
const LEAP_TICKS_MIN: u32 = 16;

/// Ticks left before the next deadline after a leap: one to re-arm the timers, one spare.
const LEAP_TICKS_LEFT: u32 = 2;

/// Consecutive quiet steps before a leap. A message turmoil delivers without waking anyone
/// (a reset for a closed socket) is invisible until the step after; two quiet steps in a
/// row prove nothing is on its way.
const QUIET_STEPS_BEFORE_LEAP: u32 = 2;

impl<'a> Stepper<'a> {
    pub(super) fn new(
        sim: turmoil::Sim<'a>,
        recorder: Recorder,
        scenario: &'a Scenario,
        net: Net,
        clock: Rc<Clock>,
        leaps: bool,
        network: Rc<NetworkSwitch>,
    ) -> Self {
        let faults = Faults::default();
        let liveness_end = None;
        Self { sim, recorder, scenario, faults, net, clock, leaps, liveness_end, network }
    }

    /// Simulated time: turmoil's plus every leap.
    fn now(&self) -> Duration {
        self.sim.elapsed() + self.clock.warp()
    }

    pub(super) fn drive(mut self, timeline: Vec<(Duration, Action)>) -> RunOutcome {
        let mut timeline = timeline.into_iter().peekable();
        let mut book = JobBook::default();
        let (mut seen, mut steps, mut quiet_steps) = (0, 0u64, 0u32);
        let (settled, host_error) = loop {
            // The run goes on until the liveness bound ends, if that is after the deadline.
            let stop_at = self.scenario.deadline.0.max(self.liveness_end.unwrap_or_default());
            let now = self.now();
            while let Some((at, _)) = timeline.peek()
                && *at <= now
            {
                let (_, action) = timeline.next().expect("peeked");
                self.apply(now, action);
            }
            self.boot_due(now);
            self.net.sample(now);
            self.recorder.visit_from(seen, |entry| book.update(entry));
            seen = self.recorder.len();
            if book.settled(self.scenario) {
                break (true, None);
            }
            if now >= stop_at {
                break (false, None);
            }
            if steps >= STEPS_MAX {
                let error = format!(
                    "the run took {STEPS_MAX} steps without leaping past the deadline: choose a \
                     coarser tick"
                );
                self.recorder.record_at(
                    now,
                    ENGINE_HOST,
                    SimEvent::HostFailed { error: error.clone() },
                );
                break (false, Some(error));
            }
            steps += 1;
            let activity = self.clock.activity();
            if let Err(error) = self.sim.step() {
                let error = error.to_string();
                self.recorder.record_at(
                    self.now(),
                    ENGINE_HOST,
                    SimEvent::HostFailed { error: error.clone() },
                );
                break (false, Some(error));
            }
            let quiet = self.clock.activity() == activity && self.recorder.len() == seen;
            quiet_steps = if quiet { quiet_steps + 1 } else { 0 };
            if self.leaps && quiet_steps >= QUIET_STEPS_BEFORE_LEAP {
                let next_action = timeline.peek().map(|(at, _)| *at);
                if self.leap(next_action.map_or(stop_at, |at| at.min(stop_at))) {
                    quiet_steps = 0;
                }
            }
        };
        let end = self.now();
        for link in self.net.report().links {
            let bytes = link.stats.departed.values().flatten().map(|(_, bytes)| bytes).sum();
            let connections = link.stats.departed.len();
            self.recorder.record_at(
                end,
                &link.from,
                SimEvent::LinkTotals { link: link.name, bytes, connections },
            );
        }
        let trace = self.recorder.snapshot();
        RunOutcome {
            trace,
            end,
            steps,
            settled,
            host_error,
            disk: DiskLedger::default(),
            net: NetReport::default(),
        }
    }

    /// Skips the idle ticks before the next thing that can happen: a timer's deadline, a
    /// fault, a host's boot, or `limit`. Nothing ran in the last steps and no message is on
    /// its way, so until then every step would do nothing. Says whether it leapt.
    fn leap(&mut self, limit: Duration) -> bool {
        let now = self.now();
        let mut next = limit;
        next = self.clock.next_deadline().map_or(next, |deadline| deadline.min(next));
        next = self.faults.down_until.values().fold(next, |next, boot| next.min(*boot));
        let tick = self.scenario.tick.0;
        let idle_ticks = next.saturating_sub(now).as_nanos() / tick.as_nanos().max(1);
        if idle_ticks <= u128::from(LEAP_TICKS_MIN) {
            return false;
        }
        let mut in_flight = false;
        self.sim.links(|mut links| in_flight = links.any(|mut link| link.next().is_some()));
        if in_flight {
            return false;
        }
        let ticks = u32::try_from(idle_ticks - u128::from(LEAP_TICKS_LEFT)).unwrap_or(u32::MAX);
        if std::env::var("SHOWLEAPS").is_ok() {
            eprintln!("leap at {now:?} by {:?} next {next:?}", tick * ticks);
        }
        self.clock.leap(tick * ticks);
        true
    }

    fn apply(&mut self, now: Duration, action: Action) {
        match action {
            Action::DropLink { a, b } => {
                if self.drop_link(&a, &b) {
                    self.recorder.record_at(now, &a, SimEvent::LinkDropped { peer: b });
                }
            }
            Action::RepairLink { a, b } => {
                if self.repair_link(&a, &b) {
                    self.recorder.record_at(now, &a, SimEvent::LinkRepaired { peer: b });
                }
            }
            Action::NetworkLoss => self.lose_network(now),
            Action::NetworkReturn => self.return_network(now),
            Action::PowerLoss { host, down } => {
                let until = now + down;
                if let Some(current) = self.faults.down_until.get_mut(&host) {
                    *current = (*current).max(until);
                } else {
                    self.sim.crash(host.as_str());
                    self.recorder.record_at(now, &host, SimEvent::PowerLost);
                    self.faults.down_until.insert(host, until);
                }
            }
            Action::ProcessRestart { host } => {
                // A host without power has no process to restart.
                if !self.faults.down_until.contains_key(&host) {
                    self.recorder.record_at(now, &host, SimEvent::ProcessRestarted);
                    self.sim.bounce(host.as_str());
                }
            }
            Action::SetLatency { a, b, latency } => {
                match self.net.link(&a, &b) {
                    Some(up) => {
                        up.borrow_mut().set_latency(latency);
                        let down = self.net.link(&b, &a).expect("links have two directions");
                        down.borrow_mut().set_latency(latency);
                    }
                    None => {
                        self.sim.set_link_latency(a.as_str(), b.as_str(), latency);
                        self.faults.latency_set.insert(link(&a, &b));
                    }
                }
                let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.recorder.record_at(now, &a, SimEvent::LatencySet { peer: b, latency_us });
            }
            Action::SetLinkRate { a, b, down_bps, up_bps } => {
                let directions =
                    [(self.net.link(&a, &b), up_bps), (self.net.link(&b, &a), down_bps)];
                for (link, rate) in directions {
                    if let (Some(link), Some(rate)) = (link, rate) {
                        link.borrow_mut().set_rate(now, rate);
                    }
                }
                self.recorder.record_at(
                    now,
                    &a,
                    SimEvent::LinkRateSet { peer: b, down_bps, up_bps },
                );
            }
            Action::Heal => self.heal(now),
            Action::ContentChange { server, path, version, size } => {
                self.recorder.record_at(
                    now,
                    &server,
                    SimEvent::ContentChanged { path, version, size },
                );
            }
        }
    }

    /// One more drop holds the link down; says whether it just went down.
    fn drop_link(&mut self, a: &str, b: &str) -> bool {
        let count = self.faults.drops.entry(link(a, b)).or_default();
        *count += 1;
        if *count == 1 {
            self.sim.partition(a, b);
        }
        *count == 1
    }

    /// One drop less holds the link down; says whether it just came back.
    fn repair_link(&mut self, a: &str, b: &str) -> bool {
        let count = self.faults.drops.entry(link(a, b)).or_default();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.sim.repair(a, b);
        }
        *count == 0
    }

    /// Powers on the hosts whose outage is over.
    fn boot_due(&mut self, now: Duration) {
        let due: Vec<String> = self
            .faults
            .down_until
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(host, _)| host.clone())
            .collect();
        for host in due {
            self.faults.down_until.remove(&host);
            self.sim.bounce(host.as_str());
        }
    }
}

/// A link's key, the same whichever end is named first.
fn link(a: &str, b: &str) -> (String, String) {
    if a <= b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) }
}
