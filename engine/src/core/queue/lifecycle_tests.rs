//! Complete and Cancel in every state, network loss, the job inactivity timeout and the
//! notifications a job is owed, driven without IO.

use super::*;
use crate::core::journal::Journal;
use crate::core::notify::{Delivery, Notification};

const SECOND: Duration = Duration::from_secs(1);

fn transient() -> TransferError {
    TransferError::transport(Hresult::WINHTTP_TIMEOUT, "timed out")
}

/// A one-file job driven into `state` the way the engine would, with no transfer running.
fn job_in(state: JobState) -> (Queue, JobId) {
    let mut queue = Queue::new();
    let id = queue.create_job("user", "job", JobType::Download).unwrap();
    queue.add_file(id, "http://origin/f", "/d/f").unwrap();
    if state == JobState::Suspended {
        return (queue, id);
    }
    queue.resume(id).unwrap();
    if state == JobState::Queued {
        return (queue, id);
    }
    queue.poll_start(Duration::ZERO).unwrap();
    match state {
        JobState::Connecting => queue.handle_stopped(id),
        JobState::Transferring => {
            queue.handle_connected(id);
            queue.handle_stopped(id);
        }
        JobState::TransientError => queue.handle_failure(SECOND, id, 0, transient()),
        JobState::Error => {
            let fatal = TransferError::remote(Hresult::http_status(404), "gone");
            queue.handle_failure(SECOND, id, 0, fatal);
        }
        JobState::Transferred => {
            queue.handle_connected(id);
            queue.handle_checkpoint(id, 0, 10);
            queue.handle_file_transferred(id, 0);
        }
        other => unreachable!("{other} is not reached by transfers"),
    }
    (queue, id)
}

const NON_FINAL: [JobState; 7] = [
    JobState::Suspended,
    JobState::Queued,
    JobState::Connecting,
    JobState::Transferring,
    JobState::TransientError,
    JobState::Error,
    JobState::Transferred,
];

/// Every call the API offers on a job, each with the code it returned.
fn every_call(queue: &mut Queue, id: JobId) -> Vec<(&'static str, Result<(), ApiError>)> {
    vec![
        ("resume", queue.resume(id)),
        ("suspend", queue.suspend(id)),
        ("cancel", queue.cancel(id).map(drop)),
        ("complete", queue.complete_plan(id).map(drop)),
        ("add_file", queue.add_file(id, "http://origin/g", "/d/g").map(drop)),
        ("set_priority", queue.set_priority(id, Priority::High)),
        ("set_minimum_retry_delay", queue.set_minimum_retry_delay(id, SECOND)),
        ("set_no_progress_timeout", queue.set_no_progress_timeout(id, SECOND)),
        ("set_notify_flags", queue.set_notify_flags(id, 0x3)),
        ("set_rate_limit", queue.set_rate_limit(id, Some(1000))),
    ]
}

#[test]
fn complete_acknowledges_a_download_job_in_every_non_final_state() {
    for state in NON_FINAL {
        let (mut queue, id) = job_in(state);
        assert_eq!(queue.job(id).unwrap().state, state);
        queue.hold(id).unwrap();
        let plan = queue.complete_plan(id).unwrap();
        let want = if state == JobState::Transferred {
            Hresult::S_OK
        } else {
            Hresult::BG_S_PARTIAL_COMPLETE
        };
        assert_eq!(plan.result(), want, "Complete in {state}");
        queue.finish_complete(id, plan.result());
        let last = queue.take_events().into_iter().rev().find_map(|event| match event {
            Event::StateChanged { from, to, trigger, .. } => Some((from, to, trigger)),
            _ => None,
        });
        assert_eq!(last, Some((state, JobState::Acknowledged, Trigger::Complete)));
        for (call, result) in every_call(&mut queue, id) {
            assert_eq!(
                result.unwrap_err().code,
                Hresult::BG_E_INVALID_STATE,
                "{call} after Complete"
            );
        }
    }
}

#[test]
fn cancel_ends_a_job_in_every_non_final_state() {
    for state in NON_FINAL {
        let (mut queue, id) = job_in(state);
        queue.hold(id).unwrap();
        assert_eq!(queue.cancel(id).unwrap(), vec!["/d/BIT1_0.tmp".to_owned()], "in {state}");
        assert!(queue.job(id).is_none());
        for (call, result) in every_call(&mut queue, id) {
            assert_eq!(
                result.unwrap_err().code,
                Hresult::BG_E_INVALID_STATE,
                "{call} after Cancel"
            );
        }
    }
}

#[test]
fn a_lost_network_parks_jobs_without_a_retry_timer_until_it_returns() {
    for state in [JobState::Queued, JobState::Connecting, JobState::Transferring] {
        let (mut queue, id) = job_in(state);
        queue.set_minimum_retry_delay(id, 5 * SECOND).unwrap();
        queue.take_events();
        queue.set_network_available(10 * SECOND, false);
        let job = queue.job(id).unwrap();
        assert_eq!(job.state, JobState::TransientError, "from {state}");
        assert_eq!(job.error.as_ref().unwrap().error.code, Hresult::BG_E_NETWORK_DISCONNECTED);
        assert_eq!(job.retry_at, None, "no timed retry");
        assert_eq!(queue.poll_start(20 * SECOND), None);
        queue.handle_timeout(Duration::from_secs(3600));
        assert_eq!(queue.job(id).unwrap().state, JobState::TransientError);
        queue.set_network_available(3601 * SECOND, true);
        assert_eq!(queue.job(id).unwrap().state, JobState::Queued);
        let triggers: Vec<Trigger> = queue
            .take_events()
            .into_iter()
            .filter_map(|event| match event {
                Event::StateChanged { trigger, .. } => Some(trigger),
                _ => None,
            })
            .collect();
        assert_eq!(triggers, [Trigger::NetworkLost, Trigger::NetworkRestored]);
        assert!(queue.poll_start(3601 * SECOND).is_some());
    }
}

#[test]
fn network_loss_cancels_pending_retries_and_its_return_requeues_every_transient_error() {
    let (mut queue, id) = job_in(JobState::TransientError);
    assert!(queue.job(id).unwrap().retry_at.is_some());
    let (suspended, _) = (queue.create_job("user", "other", JobType::Download).unwrap(), ());
    queue.set_network_available(2 * SECOND, false);
    assert_eq!(queue.job(id).unwrap().retry_at, None);
    assert_eq!(queue.job(suspended).unwrap().state, JobState::Suspended, "not a transfer");
    queue.set_network_available(3 * SECOND, true);
    assert_eq!(queue.job(id).unwrap().state, JobState::Queued);
}

#[test]
fn the_no_progress_clock_runs_during_a_network_loss() {
    let (mut queue, id) = job_in(JobState::Transferring);
    queue.set_no_progress_timeout(id, 60 * SECOND).unwrap();
    queue.set_network_available(10 * SECOND, false);
    assert_eq!(queue.poll_timeout(), Some(70 * SECOND));
    queue.handle_timeout(70 * SECOND);
    let job = queue.job(id).unwrap();
    assert_eq!(job.state, JobState::Error);
    assert_eq!(job.error.as_ref().unwrap().error.code, Hresult::BG_E_NETWORK_DISCONNECTED);
    let (mut strict, id) = job_in(JobState::Queued);
    strict.set_no_progress_timeout(id, Duration::ZERO).unwrap();
    strict.set_network_available(SECOND, false);
    assert_eq!(strict.job(id).unwrap().state, JobState::Error, "NoProgressTimeout 0: no retries");
}

#[test]
fn inactivity_cancels_a_job_unless_progress_or_its_owner_moves_it() {
    let (mut queue, id) = job_in(JobState::TransientError);
    queue.set_inactivity_timeout(Duration::ZERO, 100 * SECOND);
    queue.stamp_activity(10 * SECOND);
    assert_eq!(queue.job(id).unwrap().inactivity_deadline, Some(110 * SECOND));
    // Retries by the service are no activity.
    queue.handle_timeout(50 * SECOND);
    queue.stamp_activity(50 * SECOND);
    assert_eq!(queue.poll_timeout(), Some(110 * SECOND));
    // A property change is.
    queue.set_priority(id, Priority::Low).unwrap();
    queue.stamp_activity(60 * SECOND);
    assert_eq!(queue.poll_inactive(159 * SECOND), None);
    assert_eq!(queue.poll_inactive(160 * SECOND), Some(id));
    assert_eq!(queue.cancel_inactive(id).unwrap(), vec!["/d/BIT1_0.tmp".to_owned()]);
    assert!(queue.take_events().iter().any(|event| matches!(
        event,
        Event::StateChanged { to: JobState::Cancelled, trigger: Trigger::InactivityTimeout, .. }
    )));
}

#[test]
fn the_inactivity_deadline_survives_a_restart_and_a_shorter_timeout_caps_it() {
    let (mut queue, id) = job_in(JobState::Suspended);
    queue.set_inactivity_timeout(Duration::ZERO, 100 * SECOND);
    queue.stamp_activity(10 * SECOND);
    let unix = Duration::from_secs(1_700_000_000);
    let journal = Journal::decode(&queue.to_journal(10 * SECOND, unix).encode()).unwrap();
    let mut restored = Queue::restore(journal.clone(), Duration::ZERO, unix + 30 * SECOND, None);
    restored.set_inactivity_timeout(Duration::ZERO, 100 * SECOND);
    assert_eq!(restored.job(id).unwrap().inactivity_deadline, Some(70 * SECOND));
    let mut shorter = Queue::restore(journal, Duration::ZERO, unix, None);
    shorter.set_inactivity_timeout(Duration::ZERO, 5 * SECOND);
    assert_eq!(shorter.job(id).unwrap().inactivity_deadline, Some(5 * SECOND));
}

#[test]
fn transferred_and_error_are_owed_and_transient_error_is_not() {
    let (mut queue, id) = job_in(JobState::TransientError);
    assert_eq!(queue.poll_notification(Duration::ZERO), None);
    let (mut queue2, id2) = job_in(JobState::Error);
    let delivery = queue2.poll_notification(Duration::ZERO).unwrap();
    assert_eq!(delivery, Delivery { job: id2, notification: Notification::JobError });
    let (mut done, id3) = job_in(JobState::Transferred);
    let delivery = done.poll_notification(Duration::ZERO).unwrap();
    assert_eq!(delivery.notification, Notification::JobTransferred);
    done.handle_notification_result(SECOND, delivery, Hresult::E_FAIL);
    assert_eq!(done.poll_notification(SECOND), None);
    assert_eq!(
        done.poll_notification_timeout(),
        Some(SECOND + crate::core::notify::NOTIFY_RETRY_INTERVAL)
    );
    assert!(done.take_events().iter().any(|event| matches!(
        event,
        Event::Notified { job, notification: Notification::JobTransferred, result }
            if *job == id3 && *result == Hresult::E_FAIL
    )));
    let _ = (&mut queue, id);
}

#[test]
fn flags_persist_and_what_is_owed_is_recomputed_at_start_up() {
    let (mut queue, id) = job_in(JobState::Transferred);
    queue
        .set_notify_flags(id, NotifyFlags::JOB_TRANSFERRED | NotifyFlags::JOB_MODIFICATION)
        .unwrap();
    let delivery = queue.poll_notification(Duration::ZERO).unwrap();
    queue.handle_notification_result(Duration::ZERO, delivery, Hresult::S_OK);
    assert_eq!(queue.poll_notification(Duration::MAX), None);
    let unix = Duration::from_secs(1_700_000_000);
    let journal = Journal::decode(&queue.to_journal(SECOND, unix).encode()).unwrap();
    let mut restored = Queue::restore(journal, Duration::ZERO, unix, None);
    assert_eq!(restored.notify_flags(id).unwrap().bits(), 0x9);
    let again = restored.poll_notification(Duration::ZERO).unwrap();
    assert_eq!(again.notification, Notification::JobTransferred, "at least once: owed again");
    assert_eq!(queue.set_notify_flags(id, 0x40).unwrap_err().code, Hresult::E_NOTIMPL);
}

#[test]
fn modifications_are_owed_for_progress_and_changes_but_not_for_entering_error() {
    let (mut queue, id) = job_in(JobState::Queued);
    queue.set_notify_flags(id, NotifyFlags::JOB_MODIFICATION).unwrap();
    queue.stamp_activity(Duration::ZERO);
    let modified = Delivery { job: id, notification: Notification::JobModification };
    assert_eq!(queue.poll_notification(Duration::ZERO), Some(modified));
    assert_eq!(queue.poll_notification(Duration::ZERO), None);
    queue.poll_start(Duration::ZERO).unwrap();
    assert_eq!(queue.poll_notification(Duration::ZERO), Some(modified), "QUEUED -> CONNECTING");
    let fatal = TransferError::remote(Hresult::http_status(403), "no");
    queue.handle_failure(SECOND, id, 0, fatal);
    queue.stamp_activity(SECOND);
    assert_eq!(queue.poll_notification(SECOND), None, "entering ERROR is no modification");
}
