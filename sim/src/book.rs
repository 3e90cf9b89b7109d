//! What the trace says about each job so far: its id, name, state, error and verified files.
//! The step loop reads it to know when a run has settled; the oracles read it at the end.

use std::collections::BTreeMap;

use bitsim_engine::{Event, Hresult, JobId, JobState};

use crate::scenario::{Job, Scenario};
use crate::trace::{SimEvent, TraceEntry, TraceEvent};

#[derive(Clone, Debug, Default)]
pub struct JobBook {
    /// The latest job created under each display name.
    pub ids: BTreeMap<String, JobId>,
    pub jobs: BTreeMap<JobId, JobRecord>,
}

#[derive(Clone, Debug, Default)]
pub struct JobRecord {
    pub name: String,
    /// The last state the engine reported (None before the first report).
    pub state: Option<JobState>,
    /// The error of the last transition into ERROR.
    pub error: Option<Hresult>,
    /// What `Complete` returned, once it did.
    pub completed: Option<Hresult>,
    /// How many files the client program read back after Complete.
    pub verified_files: usize,
    /// How many times a file of the job started again from byte 0.
    pub restarts: u32,
}

impl JobBook {
    pub fn from_entries(entries: &[TraceEntry]) -> Self {
        let mut book = Self::default();
        for entry in entries {
            book.update(entry);
        }
        book
    }

    pub fn update(&mut self, entry: &TraceEntry) {
        match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, name, .. }) => {
                self.ids.insert(name.clone(), *job);
                let record = JobRecord {
                    name: name.clone(),
                    state: Some(JobState::Suspended),
                    ..JobRecord::default()
                };
                self.jobs.insert(*job, record);
            }
            TraceEvent::Engine(Event::StateChanged { job, to, error, .. }) => {
                let record = self.jobs.entry(*job).or_default();
                record.state = Some(*to);
                if *to == JobState::Error {
                    record.error = error.as_ref().map(|error| error.error.code);
                }
            }
            TraceEvent::Engine(Event::Restored { job, state }) => {
                self.jobs.entry(*job).or_default().state = Some(*state);
            }
            TraceEvent::Engine(Event::Completed { job, result }) => {
                self.jobs.entry(*job).or_default().completed = Some(*result);
            }
            TraceEvent::Engine(Event::FileRestarted { job, .. }) => {
                self.jobs.entry(*job).or_default().restarts += 1;
            }
            TraceEvent::Sim(
                SimEvent::FileVerified { job, .. } | SimEvent::ReplyVerified { job, .. },
            ) => {
                self.jobs.entry(*job).or_default().verified_files += 1;
            }
            _ => {}
        }
    }

    /// The record of the scenario job called `name`.
    pub fn job(&self, name: &str) -> Option<(JobId, &JobRecord)> {
        let id = *self.ids.get(name)?;
        Some((id, &self.jobs[&id]))
    }

    /// Every job of the scenario has reached an end: ERROR or CANCELLED, or ACKNOWLEDGED with
    /// every file read back.
    pub fn settled(&self, scenario: &Scenario) -> bool {
        scenario.jobs.iter().all(|job| self.is_settled(job.get_ref()))
    }

    /// The scenario job `spec` has reached an end, as [`JobBook::settled`] means it.
    pub fn is_settled(&self, spec: &Job) -> bool {
        match self.job(&spec.name) {
            Some((_, record)) => match record.state {
                Some(JobState::Error | JobState::Cancelled) => true,
                Some(JobState::Acknowledged) => record.verified_files >= spec.files_read_back(),
                _ => false,
            },
            None => false,
        }
    }
}
