//! `notifications`: the program hears what BITS promises (spec §2.9), judged from the trace's
//! `notified` events against the job states around them and the flags the scenario set.
//!
//! - JobTransferred only while the job is TRANSFERRED, JobError only while it is ERROR (never
//!   for TRANSIENT_ERROR), and neither nor JobModification unless the job's flags ask for it;
//! - a JobModification only after a modification (progress, a file added, a change into a
//!   state other than ERROR and TRANSFERRED) since the job's previous one: a change into ERROR
//!   or TRANSFERRED alone is no modification. Property changes are not in the trace; the
//!   program makes them only together with AddFile and Resume, which are;
//! - every JobTransferred and JobError the job is owed (it entered the state, or came back in
//!   it after a restart) is acknowledged (S_OK) unless the job leaves the state first: one
//!   still owed at the end of the run, with a retry interval (and a second of slack) gone by
//!   since it was owed or last failed, was not delivered at least once.

use std::collections::BTreeMap;
use std::time::Duration;

use bitsim_engine::core::notify::NOTIFY_RETRY_INTERVAL;
use bitsim_engine::{Event, Hresult, JobId, JobState, Notification, NotifyFlags};

use super::{Oracle, Violation, violation};
use crate::scenario::Scenario;
use crate::trace::{TraceEntry, TraceEvent};

/// Time the engine is allowed past the retry interval before an owed notification counts as
/// lost: one driver iteration, with room for a leap's last ticks.
const OWED_SLACK: Duration = Duration::from_secs(1);

/// What the oracle knows of one job.
struct Watched {
    state: JobState,
    flags: NotifyFlags,
    /// The JobTransferred or JobError owed, since when (µs): entering the state, a restart,
    /// or the last failed call.
    owed: Option<(Notification, u64)>,
    /// Something that is a modification happened since the last JobModification.
    modified: bool,
}

pub(super) fn notifications(
    scenario: &Scenario,
    entries: &[TraceEntry],
    end: Duration,
    out: &mut Vec<Violation>,
) {
    let flags_of = |name: &str| {
        let bits = scenario.jobs.iter().map(|job| job.get_ref()).find(|job| job.name == name);
        let bits = bits.and_then(|job| job.notify_flags);
        bits.and_then(|bits| NotifyFlags::new(bits).ok()).unwrap_or_default()
    };
    let mut jobs: BTreeMap<JobId, Watched> = BTreeMap::new();
    for entry in entries {
        let TraceEvent::Engine(event) = &entry.event else { continue };
        match event {
            Event::JobCreated { job, name, .. } => {
                let flags = flags_of(name);
                let watched =
                    Watched { state: JobState::Suspended, flags, owed: None, modified: true };
                jobs.insert(*job, watched);
            }
            Event::Restored { job, state } | Event::StateChanged { job, to: state, .. } => {
                let Some(watched) = jobs.get_mut(job) else { continue };
                let restored = matches!(event, Event::Restored { .. });
                if restored || watched.state != *state {
                    let owed = Notification::on_entering(*state, watched.flags);
                    watched.owed = owed.map(|notification| (notification, entry.t_us));
                }
                watched.state = *state;
                if !matches!(state, JobState::Error | JobState::Transferred) {
                    watched.modified = true;
                }
            }
            Event::Progress { job, .. } | Event::FileAdded { job, .. } => {
                if let Some(watched) = jobs.get_mut(job) {
                    watched.modified = true;
                }
            }
            Event::Notified { job, notification, result } => {
                let Some(watched) = jobs.get_mut(job) else { continue };
                if let Some(problem) = misdelivered(watched, *notification) {
                    out.push(violation(Oracle::Notifications, entry, format!("{job}: {problem}")));
                }
                if *notification == Notification::JobModification {
                    watched.modified = false;
                }
                if watched.owed.is_some_and(|(owed, _)| owed == *notification) {
                    watched.owed =
                        (*result != Hresult::S_OK).then_some((*notification, entry.t_us));
                }
            }
            _ => {}
        }
    }
    let end_us = u64::try_from(end.as_micros()).unwrap_or(u64::MAX);
    let patience = u64::try_from((NOTIFY_RETRY_INTERVAL + OWED_SLACK).as_micros()).unwrap_or(0);
    for (job, watched) in &jobs {
        if let Some((notification, since)) = watched.owed
            && end_us.saturating_sub(since) >= patience
        {
            out.push(Violation {
                oracle: Oracle::Notifications,
                t_us: Some(since),
                detail: format!(
                    "{job} was owed {notification} from {:.3}s (it stayed {}) and never heard it acknowledged",
                    since as f64 / 1e6,
                    watched.state
                ),
            });
        }
    }
}

/// Why delivering `notification` to a job in this state breaks the rules, if it does.
fn misdelivered(watched: &Watched, notification: Notification) -> Option<String> {
    let flags = watched.flags.bits();
    if !watched.flags.wants(notification) {
        return Some(format!("{notification} delivered though its notify flags are {flags:#x}"));
    }
    let state = watched.state;
    match notification {
        Notification::JobTransferred if state != JobState::Transferred => {
            Some(format!("JobTransferred delivered while the job is {state}"))
        }
        Notification::JobError if state != JobState::Error => {
            Some(format!("JobError delivered while the job is {state} (only ERROR calls JobError)"))
        }
        Notification::JobModification if !watched.modified => Some(
            "JobModification delivered with no modification since the last one (a change into ERROR or TRANSFERRED is none)"
                .to_owned(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bitsim_engine::core::state::Trigger;

    use super::*;
    use crate::trace::Recorder;

    const SCENARIO: &str = r#"
description = "notifications fixture"
[[servers]]
name = "origin"
files = [{ path = "/a", size = "1KiB" }]
[[jobs]]
name = "a"
notify_flags = 0xB
files = [{ remote = "http://origin/a", local = "/d/a" }]
expect = { state = "ACKNOWLEDGED" }
[[jobs]]
name = "b"
files = [{ remote = "http://origin/b", local = "/d/b" }]
expect = { state = "ERROR" }
"#;

    const A: JobId = JobId(1);
    const B: JobId = JobId(2);

    fn judge(events: &[(u64, Event)], end_s: u64) -> Vec<String> {
        let scenario = Scenario::parse(SCENARIO, "fixture.toml").unwrap();
        let recorder = Recorder::default();
        for (name, job) in [("a", A), ("b", B)] {
            let created = Event::JobCreated { job, name: name.into(), owner: "user".into() };
            recorder.record_at(Duration::ZERO, "engine", created);
        }
        for (t, event) in events {
            recorder.record_at(Duration::from_secs(*t), "engine", event.clone());
        }
        let mut out = Vec::new();
        notifications(
            &scenario,
            &recorder.snapshot().entries,
            Duration::from_secs(end_s),
            &mut out,
        );
        out.into_iter().map(|violation| violation.detail).collect()
    }

    fn change(job: JobId, from: JobState, to: JobState) -> Event {
        Event::StateChanged { job, from, to, trigger: Trigger::Resume, error: None }
    }

    fn told(job: JobId, notification: Notification, result: Hresult) -> Event {
        Event::Notified { job, notification, result }
    }

    #[test]
    fn a_retried_then_acknowledged_job_transferred_and_a_job_error_are_clean() {
        let events = [
            (1, change(A, JobState::Suspended, JobState::Queued)),
            (1, told(A, Notification::JobModification, Hresult::S_OK)),
            (2, change(A, JobState::Queued, JobState::Transferred)),
            (2, told(A, Notification::JobTransferred, Hresult::E_FAIL)),
            (3, change(B, JobState::Suspended, JobState::Error)),
            (3, told(B, Notification::JobError, Hresult::S_OK)),
            (62, told(A, Notification::JobTransferred, Hresult::S_OK)),
        ];
        assert_eq!(judge(&events, 500), Vec::<String>::new());
    }

    #[test]
    fn fires_on_job_error_for_a_transient_error() {
        let events = [
            (1, change(B, JobState::Suspended, JobState::TransientError)),
            (1, told(B, Notification::JobError, Hresult::S_OK)),
        ];
        let found = judge(&events, 2);
        assert!(
            found[0].contains("JobError delivered while the job is TRANSIENT_ERROR"),
            "{found:?}"
        );
    }

    #[test]
    fn fires_on_a_notification_never_acknowledged() {
        let events = [
            (1, change(A, JobState::Suspended, JobState::Transferred)),
            (1, told(A, Notification::JobTransferred, Hresult::E_FAIL)),
        ];
        assert_eq!(judge(&events, 30), Vec::<String>::new(), "too early to tell");
        let found = judge(&events, 100);
        assert!(found[0].contains("never heard it acknowledged"), "{found:?}");
        let lost = [(1, change(B, JobState::Suspended, JobState::Error))];
        assert_eq!(judge(&lost, 100).len(), 1, "a JobError never delivered");
    }

    #[test]
    fn fires_on_a_modification_for_entering_transferred_and_on_unwanted_flags() {
        let events = [
            (1, told(A, Notification::JobModification, Hresult::S_OK)),
            (2, change(A, JobState::Suspended, JobState::Transferred)),
            (2, told(A, Notification::JobModification, Hresult::S_OK)),
            (2, told(A, Notification::JobTransferred, Hresult::S_OK)),
            (3, told(B, Notification::JobModification, Hresult::S_OK)),
        ];
        let found = judge(&events, 4);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("no modification since the last one"), "{found:?}");
        assert!(found[1].contains("notify flags are 0x3"), "{found:?}");
    }
}
