//! Who used the bottleneck, and when: the bytes each class of traffic (background jobs and
//! their probes, foreground jobs, cross traffic) sent through the engine's downlink per
//! bucket of time, what waited in its queue, and what each job was doing meanwhile. Built from
//! the links' ground truth and the trace; the bandwidth oracles and `bitsim profile` read it.

use std::collections::BTreeMap;
use std::time::Duration;

use bitsim_engine::{Event, JobId, JobState, Priority};

use crate::net::LinkReport;
use crate::net::link::ConnId;
use crate::net::stats::{BUCKET, bucket_of};
use crate::scenario::{CROSS_HOST, ENGINE_HOST, Scenario};
use crate::trace::{SimEvent, TraceEntry, TraceEvent};
use crate::world::RunOutcome;

/// What a connection carried.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Class {
    /// A job's data connection, and whether the job is a background one.
    Job {
        job: JobId,
        background: bool,
    },
    /// The background controller's probe connection of a job.
    Probe {
        job: JobId,
    },
    Cross,
    Other,
}

impl Class {
    pub fn is_background(self) -> bool {
        matches!(self, Self::Job { background: true, .. } | Self::Probe { .. })
    }
}

/// Every job's priority, name and states over time, from the trace.
#[derive(Clone, Debug, Default)]
pub struct JobTimeline {
    pub priorities: BTreeMap<JobId, Priority>,
    pub names: BTreeMap<JobId, String>,
    /// Per job: `(t_us, state)` from creation on.
    pub states: BTreeMap<JobId, Vec<(u64, JobState)>>,
}

impl JobTimeline {
    pub fn from_trace(scenario: &Scenario, entries: &[TraceEntry]) -> Self {
        let mut timeline = Self::default();
        for entry in entries {
            timeline.read(scenario, entry);
        }
        timeline
    }

    fn read(&mut self, scenario: &Scenario, entry: &TraceEntry) {
        match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, name, .. }) => {
                let priority = scenario
                    .jobs
                    .iter()
                    .map(|spec| spec.get_ref())
                    .find(|spec| &spec.name == name)
                    .map_or_else(Priority::default, |spec| spec.priority);
                self.priorities.insert(*job, priority);
                self.names.insert(*job, name.clone());
                self.states.entry(*job).or_default().push((entry.t_us, JobState::Suspended));
            }
            TraceEvent::Engine(Event::StateChanged { job, to, .. }) => {
                self.states.entry(*job).or_default().push((entry.t_us, *to));
            }
            TraceEvent::Engine(Event::Restored { job, state }) => {
                self.states.entry(*job).or_default().push((entry.t_us, *state));
            }
            _ => {}
        }
    }

    /// A job's state at `t_us` (`None` before it exists).
    pub fn state_at(&self, job: JobId, t_us: u64) -> Option<JobState> {
        let states = self.states.get(&job)?;
        let index = states.partition_point(|(t, _)| *t <= t_us);
        index.checked_sub(1).map(|index| states[index].1)
    }
}

pub struct Traffic<'a> {
    /// The engine's downlink: the bottleneck every download crosses.
    pub link: &'a LinkReport,
    pub buckets: usize,
    pub classes: BTreeMap<ConnId, Class>,
    pub jobs: JobTimeline,
    /// Cross-traffic flows were open, per bucket.
    pub cross_active: Vec<bool>,
}

impl<'a> Traffic<'a> {
    /// `None` when no shaped link leads to the engine.
    pub fn analyse(scenario: &Scenario, outcome: &'a RunOutcome) -> Option<Self> {
        let link = outcome.net.links.iter().find(|link| link.to == ENGINE_HOST)?;
        let buckets = bucket_of(outcome.end) as usize + 1;
        let entries = &outcome.trace.entries;
        let mut traffic = Self {
            link,
            buckets,
            classes: BTreeMap::new(),
            jobs: JobTimeline::default(),
            cross_active: vec![false; buckets],
        };
        for conn in &outcome.net.conns {
            let class = if conn.server.0 == CROSS_HOST { Class::Cross } else { Class::Other };
            traffic.classes.insert(conn.id, class);
        }
        let mut cross_open: BTreeMap<usize, u64> = BTreeMap::new();
        for entry in entries {
            traffic.read(scenario, outcome, entry, &mut cross_open);
        }
        for from in cross_open.into_values() {
            traffic.mark_cross(from, outcome.end.as_micros() as u64);
        }
        Some(traffic)
    }

    fn read(
        &mut self,
        scenario: &Scenario,
        outcome: &RunOutcome,
        entry: &TraceEntry,
        cross_open: &mut BTreeMap<usize, u64>,
    ) {
        self.jobs.read(scenario, entry);
        match &entry.event {
            TraceEvent::Engine(Event::Connected { job, local_port: Some(port), probe, .. }) => {
                let t = Duration::from_micros(entry.t_us);
                let conn = outcome.net.conns.iter().rev().find(|conn| {
                    conn.client == (ENGINE_HOST.to_owned(), *port) && conn.opened <= t
                });
                if let Some(conn) = conn {
                    let background =
                        self.jobs.priorities.get(job).is_none_or(|p| p.is_background());
                    let class = if *probe {
                        Class::Probe { job: *job }
                    } else {
                        Class::Job { job: *job, background }
                    };
                    self.classes.insert(conn.id, class);
                }
            }
            TraceEvent::Sim(SimEvent::CrossTrafficStarted { entry: index, .. }) => {
                cross_open.insert(*index, entry.t_us);
            }
            TraceEvent::Sim(SimEvent::CrossTrafficStopped { entry: index }) => {
                if let Some(from) = cross_open.remove(index) {
                    self.mark_cross(from, entry.t_us);
                }
            }
            _ => {}
        }
    }

    fn mark_cross(&mut self, from_us: u64, to_us: u64) {
        let (from, to) =
            (bucket_of(Duration::from_micros(from_us)), bucket_of(Duration::from_micros(to_us)));
        for active in self.cross_active.iter_mut().take(to as usize + 1).skip(from as usize) {
            *active = true;
        }
    }

    /// Bytes the picked connections sent through the bottleneck, per bucket.
    pub fn departed(&self, pick: impl Fn(Class) -> bool) -> Vec<u64> {
        self.link.stats.departed_series(self.buckets, |conn| pick(self.class(conn)))
    }

    /// Bytes of the picked connections waiting in the bottleneck's queue, per bucket.
    pub fn queued(&self, pick: impl Fn(Class) -> bool) -> Vec<u64> {
        self.link.stats.queued_series(self.buckets, |conn| pick(self.class(conn)))
    }

    pub fn class(&self, conn: ConnId) -> Class {
        self.classes.get(&conn).copied().unwrap_or(Class::Other)
    }

    /// Bits the bottleneck could carry in bucket `bucket`.
    pub fn capacity_bits(&self, bucket: usize) -> f64 {
        let start = BUCKET * bucket as u32;
        self.link.stats.capacity_bits(start, start + BUCKET)
    }

    /// Per bucket: some job whose priority `pick` accepts was TRANSFERRING for all of it.
    pub fn transferring(&self, pick: impl Fn(Priority) -> bool) -> Vec<bool> {
        let mut out = vec![false; self.buckets];
        for (job, priority) in &self.jobs.priorities {
            if !pick(*priority) {
                continue;
            }
            for (bucket, slot) in out.iter_mut().enumerate() {
                let start = (BUCKET * bucket as u32).as_micros() as u64;
                let end = start + BUCKET.as_micros() as u64;
                let during = self.jobs.states[job].iter().any(|(t, _)| *t > start && *t < end);
                if !during && self.jobs.state_at(*job, start) == Some(JobState::Transferring) {
                    *slot = true;
                }
            }
        }
        out
    }
}
