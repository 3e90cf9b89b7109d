//! The queue driven like the engine drives it, without IO: stories of one job each, then the
//! scheduler's choices, then persistence.

use super::*;
use crate::core::http::Validators;
use crate::core::journal::Journal;

const SECOND: Duration = Duration::from_secs(1);

fn remote(size: u64) -> RemoteInfo {
    RemoteInfo {
        size,
        validators: Validators { last_modified: Some("v1".into()), etag: None },
        accepts_ranges: true,
    }
}

fn queue_with_job(files: usize, priority: Priority) -> (Queue, JobId) {
    let mut queue = Queue::new();
    let id = queue.create_job("user", "job", JobType::Download).unwrap();
    for index in 0..files {
        queue.add_file(id, &format!("http://origin/f{index}"), &format!("/d/f{index}")).unwrap();
    }
    queue.set_priority(id, priority).unwrap();
    (queue, id)
}

fn states(queue: &mut Queue) -> Vec<(JobState, JobState)> {
    queue
        .take_events()
        .into_iter()
        .filter_map(|event| match event {
            Event::StateChanged { from, to, .. } => Some((from, to)),
            _ => None,
        })
        .collect()
}

fn transient() -> TransferError {
    TransferError::transport(Hresult::WINHTTP_TIMEOUT, "timed out")
}

#[test]
fn a_job_walks_the_happy_path_to_acknowledged() {
    use JobState::*;
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.resume(id).unwrap();
    let start = queue.poll_start(Duration::ZERO).unwrap();
    assert_eq!((start.job, start.file, start.durable.offset), (id, 0, 0));
    queue.handle_connected(id);
    queue.handle_remote_info(id, 0, &remote(10));
    queue.handle_checkpoint(id, 0, 10);
    queue.handle_file_transferred(id, 0);
    let plan = queue.complete_plan(id).unwrap();
    assert_eq!(plan.renames, vec![("/d/BIT1_0.tmp".to_owned(), "/d/f0".to_owned())]);
    assert_eq!(plan.result(), Hresult::S_OK);
    queue.finish_complete(id, plan.result());
    assert_eq!(
        states(&mut queue),
        [
            (Suspended, Queued),
            (Queued, Connecting),
            (Connecting, Transferring),
            (Transferring, Transferred),
            (Transferred, Acknowledged)
        ]
    );
    assert!(queue.job(id).is_none());
}

#[test]
fn resume_without_files_is_empty_and_changes_nothing() {
    let (mut queue, id) = queue_with_job(0, Priority::Normal);
    assert_eq!(queue.resume(id).unwrap_err().code, Hresult::BG_E_EMPTY);
    assert_eq!(queue.job(id).unwrap().state, JobState::Suspended);
}

#[test]
fn final_jobs_refuse_every_call_and_unknown_jobs_are_not_found() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.cancel(id).unwrap();
    assert_eq!(queue.resume(id).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    let add = queue.add_file(id, "http://o/x", "/d/x");
    assert_eq!(add.unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    assert_eq!(queue.resume(JobId(99)).unwrap_err().code, Hresult::BG_E_NOT_FOUND);
}

#[test]
fn bad_files_are_invalid_arguments() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    for (remote, local) in [
        ("https://o/x", "/d/x"),
        ("http://o/x", "relative"),
        ("http://o/x", "/d/"),
        ("http://o/y", "/d/f0"),
    ] {
        assert_eq!(
            queue.add_file(id, remote, local).unwrap_err().code,
            Hresult::E_INVALIDARG,
            "{remote} {local}"
        );
    }
}

#[test]
fn transient_failures_retry_after_the_minimum_retry_delay() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.set_minimum_retry_delay(id, SECOND).unwrap();
    assert_eq!(queue.job(id).unwrap().retry_delay, RETRY_DELAY_MIN, "raised to the floor");
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_failure(10 * SECOND, id, 0, transient());
    assert_eq!(queue.job(id).unwrap().state, JobState::TransientError);
    assert_eq!(queue.poll_timeout(), Some(15 * SECOND));
    assert_eq!(queue.poll_start(Duration::ZERO), None, "no retry before the timer");
    queue.handle_timeout(14 * SECOND);
    assert_eq!(queue.job(id).unwrap().state, JobState::TransientError);
    queue.handle_timeout(15 * SECOND);
    assert_eq!(queue.job(id).unwrap().state, JobState::Queued);
    assert!(queue.poll_start(Duration::ZERO).is_some());
}

#[test]
fn no_progress_timeout_ends_in_error_and_progress_resets_it() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.set_minimum_retry_delay(id, 10 * SECOND).unwrap();
    queue.set_no_progress_timeout(id, 25 * SECOND).unwrap();
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_failure(Duration::ZERO, id, 0, transient());
    queue.handle_timeout(10 * SECOND);
    queue.poll_start(Duration::ZERO).unwrap();
    // Progress clears the no-progress clock; the next failure starts a new one.
    queue.handle_checkpoint(id, 0, 5);
    queue.handle_failure(12 * SECOND, id, 0, transient());
    assert_eq!(queue.job(id).unwrap().no_progress_deadline, Some(37 * SECOND));
    queue.handle_timeout(22 * SECOND);
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_failure(30 * SECOND, id, 0, transient());
    assert_eq!(queue.poll_timeout(), Some(37 * SECOND), "the deadline comes before the retry");
    queue.handle_timeout(37 * SECOND);
    let job = queue.job(id).unwrap();
    assert_eq!(job.state, JobState::Error);
    assert_eq!(job.error.as_ref().unwrap().error.code, Hresult::WINHTTP_TIMEOUT);
}

#[test]
fn fatal_failures_go_straight_to_error() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    let fatal = TransferError::remote(Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT, "200");
    queue.handle_failure(SECOND, id, 0, fatal);
    assert_eq!(queue.job(id).unwrap().state, JobState::Error);
    assert_eq!(queue.poll_timeout(), None);
    queue.resume(id).unwrap();
    assert_eq!(queue.job(id).unwrap().state, JobState::Queued, "Resume after ERROR retries");
}

#[test]
fn files_transfer_one_at_a_time_in_order() {
    let (mut queue, id) = queue_with_job(2, Priority::Normal);
    queue.resume(id).unwrap();
    assert_eq!(queue.poll_start(Duration::ZERO).unwrap().file, 0);
    assert_eq!(queue.poll_start(Duration::ZERO), None, "one transfer per job");
    queue.handle_connected(id);
    queue.handle_file_transferred(id, 0);
    assert_eq!(queue.job(id).unwrap().state, JobState::Transferring);
    assert_eq!(queue.poll_start(Duration::ZERO).unwrap().file, 1);
    queue.handle_file_transferred(id, 1);
    assert_eq!(queue.job(id).unwrap().state, JobState::Transferred);
}

#[test]
fn foreground_jobs_run_together_and_background_jobs_one_at_a_time() {
    let mut queue = Queue::new();
    let mut ids = Vec::new();
    for (name, priority) in [
        ("fg1", Priority::Foreground),
        ("low", Priority::Low),
        ("fg2", Priority::Foreground),
        ("high", Priority::High),
    ] {
        let id = queue.create_job("user", name, JobType::Download).unwrap();
        queue.add_file(id, "http://o/x", &format!("/d/{name}")).unwrap();
        queue.set_priority(id, priority).unwrap();
        queue.resume(id).unwrap();
        ids.push(id);
    }
    let started: Vec<JobId> =
        std::iter::from_fn(|| queue.poll_start(Duration::ZERO).map(|start| start.job)).collect();
    assert_eq!(started, [ids[0], ids[2], ids[3]], "both foreground jobs, then HIGH before LOW");
    queue.handle_connected(ids[3]);
    queue.handle_file_transferred(ids[3], 0);
    assert_eq!(
        queue.poll_start(Duration::ZERO).map(|start| start.job),
        Some(ids[1]),
        "LOW runs once HIGH is done"
    );
}

#[test]
fn complete_before_transfer_is_partial() {
    let (mut queue, id) = queue_with_job(2, Priority::Normal);
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_connected(id);
    queue.handle_file_transferred(id, 0);
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_stopped(id);
    let plan = queue.complete_plan(id).unwrap();
    assert_eq!(plan.renames.len(), 1);
    assert_eq!(plan.deletions, vec!["/d/BIT1_1.tmp".to_owned()]);
    assert_eq!(plan.result(), Hresult::BG_S_PARTIAL_COMPLETE);
}

#[test]
fn ranged_files_are_checked_when_added_and_count_their_range_bytes() {
    use crate::core::ranges::FileRange;
    let mut queue = Queue::new();
    let id = queue.create_job("user", "job", JobType::Download).unwrap();
    let add = |queue: &mut Queue, local: &str, ranges: &[FileRange]| {
        queue.add_file_with_ranges(id, "http://origin/f", local, ranges).map_err(|e| e.code)
    };
    let overlapping = [FileRange::new(0, 100), FileRange::new(50, 10)];
    assert_eq!(add(&mut queue, "/d/a", &overlapping), Err(Hresult::BG_E_OVERLAPPING_RANGES));
    let at_eof = [FileRange::new(crate::core::ranges::LENGTH_TO_EOF, 1)];
    assert_eq!(add(&mut queue, "/d/a", &at_eof), Err(Hresult::BG_E_INVALID_RANGE));
    assert!(queue.job(id).unwrap().files.is_empty(), "a refused file is not added");
    // The AddFileWithRanges example: 300 bytes, known before any HEAD.
    let example = [FileRange::new(100, 100), FileRange::new(900, 100), FileRange::new(400, 100)];
    assert_eq!(add(&mut queue, "/d/a", &example), Ok(0));
    assert_eq!(queue.job(id).unwrap().progress().bytes_total, 300);
    // A range to EOF leaves the total unknown until the size is.
    assert_eq!(add(&mut queue, "/d/b", &[FileRange::to_eof(10)]), Ok(1));
    assert_eq!(queue.job(id).unwrap().progress().bytes_total, crate::core::job::SIZE_UNKNOWN);
    queue.handle_remote_info(id, 1, &remote(110));
    assert_eq!(queue.job(id).unwrap().progress().bytes_total, 400);
    let added = queue.take_events().into_iter().find_map(|event| match event {
        Event::FileAdded { file: 0, ranges, .. } => Some(ranges),
        _ => None,
    });
    assert_eq!(added, Some(example.to_vec()));
}

#[test]
fn restarts_drop_durable_progress() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_remote_info(id, 0, &remote(100));
    queue.handle_checkpoint(id, 0, 60);
    queue.handle_restart(
        id,
        0,
        RestartReason::SizeChanged { old: 100, new: 120 },
        Some(&remote(120)),
    );
    let file = &queue.job(id).unwrap().files[0];
    assert_eq!((file.durable.offset, file.durable.size), (0, Some(120)));
}

#[test]
fn the_journal_round_trip_keeps_jobs_and_parks_active_ones_in_queued() {
    let (mut queue, id) = queue_with_job(1, Priority::High);
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_connected(id);
    queue.handle_remote_info(id, 0, &remote(100));
    queue.handle_checkpoint(id, 0, 40);
    let unix = Duration::from_secs(1_700_000_000);
    let journal = queue.to_journal(5 * SECOND, unix);
    let decoded = Journal::decode(&journal.encode()).unwrap();
    let mut restored = Queue::restore(decoded, Duration::ZERO, unix + 30 * SECOND, None);
    let job = restored.job(id).unwrap();
    assert_eq!(
        (job.state, job.priority, job.files[0].durable.offset),
        (JobState::Queued, Priority::High, 40)
    );
    assert_eq!(
        restored.part_files(),
        vec![PartFile { job: id, file: 0, temp_name: "/d/BIT1_0.tmp".into(), journal_offset: 40 }]
    );
    assert!(matches!(
        restored.take_events()[..],
        [Event::Restored { state: JobState::Queued, .. }]
    ));
    let next = restored.create_job("user", "next", JobType::Download).unwrap();
    assert_eq!(next, JobId(id.0 + 1), "ids are never reused");
}

#[test]
fn restored_timers_follow_the_wall_clock_but_never_grow() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.set_minimum_retry_delay(id, 60 * SECOND).unwrap();
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_failure(100 * SECOND, id, 0, transient());
    let unix = Duration::from_secs(1_000_000);
    let journal = queue.to_journal(100 * SECOND, unix);
    // Down for 20 s: 40 s of the retry delay remain.
    let restored = Queue::restore(journal.clone(), Duration::ZERO, unix + 20 * SECOND, None);
    assert_eq!(restored.job(id).unwrap().retry_at, Some(40 * SECOND));
    // The wall clock went back a day: the wait is capped at one full retry delay.
    let restored = Queue::restore(journal, Duration::ZERO, unix - 86_400 * SECOND, None);
    assert_eq!(restored.job(id).unwrap().retry_at, Some(60 * SECOND));
}

#[test]
fn only_durable_changes_dirty_the_queue() {
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.resume(id).unwrap();
    assert!(queue.take_dirty());
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_connected(id);
    assert!(!queue.take_dirty(), "CONNECTING and TRANSFERRING are stored as QUEUED");
    queue.handle_checkpoint(id, 0, 1);
    assert!(queue.take_dirty());
}

#[test]
fn a_held_job_is_not_restarted_while_its_api_call_runs() {
    let (mut queue, id) = queue_with_job(2, Priority::Normal);
    queue.resume(id).unwrap();
    queue.poll_start(Duration::ZERO).unwrap();
    queue.handle_connected(id);
    queue.hold(id).unwrap();
    queue.handle_stopped(id);
    assert_eq!(queue.poll_start(Duration::ZERO), None, "the stopped transfer must stay stopped");
    queue.release(id);
    assert_eq!(
        queue.poll_start(Duration::ZERO).map(|start| start.file),
        Some(0),
        "released, it continues"
    );
    queue.handle_stopped(id);
    queue.hold(id).unwrap();
    queue.suspend(id).unwrap();
    queue.resume(id).unwrap();
    assert!(queue.poll_start(Duration::ZERO).is_some(), "Suspend ends the hold");
}

/// Creates and resumes a one-file job of `priority` in `queue`.
fn add_job(queue: &mut Queue, name: &str, priority: Priority) -> JobId {
    let id = queue.create_job("user", name, JobType::Download).unwrap();
    queue.add_file(id, &format!("http://origin/{name}"), &format!("/d/{name}")).unwrap();
    queue.set_priority(id, priority).unwrap();
    queue.resume(id).unwrap();
    id
}

#[test]
fn a_higher_priority_preempts_and_the_preempted_job_keeps_its_place() {
    let mut queue = Queue::new();
    let low = add_job(&mut queue, "low", Priority::Low);
    let other_low = add_job(&mut queue, "other", Priority::Low);
    assert_eq!(queue.poll_start(Duration::ZERO).unwrap().job, low);
    assert_eq!(queue.poll_preempt(SECOND), None, "nothing outranks it");
    let high = add_job(&mut queue, "high", Priority::High);
    assert_eq!(queue.poll_preempt(SECOND), Some((low, Trigger::Preempt)));
    queue.handle_stopped(low);
    queue.handle_yield(low, Trigger::Preempt);
    assert_eq!(queue.job(low).unwrap().state, JobState::Queued);
    assert_eq!(queue.poll_start(SECOND).unwrap().job, high);
    queue.handle_connected(high);
    queue.handle_file_transferred(high, 0);
    assert_eq!(queue.poll_start(2 * SECOND).unwrap().job, low, "back before the other LOW job");
    assert!(queue.job(other_low).unwrap().state == JobState::Queued);
}

#[test]
fn an_equal_priority_takes_its_turn_when_the_slice_ends() {
    let mut queue = Queue::new();
    queue.set_time_slice(10 * SECOND);
    let a = add_job(&mut queue, "a", Priority::Normal);
    assert_eq!(queue.poll_start(Duration::ZERO).unwrap().job, a);
    assert_eq!(queue.poll_timeout(), None, "no slice to end while nobody waits");
    let b = add_job(&mut queue, "b", Priority::Normal);
    assert_eq!(queue.poll_timeout(), Some(10 * SECOND));
    assert_eq!(queue.poll_preempt(9 * SECOND), None);
    assert_eq!(queue.poll_preempt(10 * SECOND), Some((a, Trigger::TimeSlice)));
    queue.handle_stopped(a);
    queue.handle_yield(a, Trigger::TimeSlice);
    assert_eq!(queue.poll_start(10 * SECOND).unwrap().job, b);
    assert_eq!(queue.poll_timeout(), Some(20 * SECOND), "b's slice, a waiting behind it");
}

#[test]
fn a_blocking_policy_parks_background_jobs_without_a_timer_and_spares_foreground() {
    let mut queue = Queue::new();
    let background = add_job(&mut queue, "bg", Priority::Normal);
    let waiting = add_job(&mut queue, "bg2", Priority::Normal);
    let foreground = add_job(&mut queue, "fg", Priority::Foreground);
    queue.poll_start(Duration::ZERO);
    queue.poll_start(Duration::ZERO);
    queue.set_background_blocked(true);
    assert_eq!(queue.job(waiting).unwrap().state, JobState::TransientError);
    let error = queue.job(waiting).unwrap().error.clone().unwrap();
    assert_eq!(error.error.code, Hresult::BG_E_BLOCKED_BY_POLICY);
    assert_eq!(queue.poll_preempt(SECOND), Some((background, Trigger::PolicyBlocked)));
    queue.handle_stopped(background);
    queue.handle_yield(background, Trigger::PolicyBlocked);
    assert_eq!(queue.job(background).unwrap().state, JobState::TransientError);
    assert_eq!(queue.poll_timeout(), None, "no retry timer while the policy blocks");
    assert_eq!(queue.poll_start(SECOND), None, "no background job starts");
    assert!(queue.job(foreground).unwrap().state.is_active(), "foreground is exempt");
    queue.set_background_blocked(false);
    for id in [background, waiting] {
        assert_eq!(queue.job(id).unwrap().state, JobState::Queued);
    }
}

#[test]
fn credentials_come_back_from_the_journal_only_with_the_machine_key() {
    use crate::core::auth::credentials::Credential;
    use crate::core::auth::seal::{MachineKey, seal};
    use crate::core::auth::{AuthScheme, AuthTarget};
    let (mut queue, id) = queue_with_job(1, Priority::Normal);
    queue.set_credentials(id, AuthTarget::Proxy, AuthScheme::Ntlm, Credential::implicit()).unwrap();
    let key = MachineKey([9; 32]);
    let credentials = queue.job(id).unwrap().access.credentials.clone();
    queue.set_sealed_credentials(id, seal(&key, [3; 16], &credentials));
    let unix = Duration::from_secs(1_700_000_000);
    let encoded = queue.to_journal(SECOND, unix).encode();
    let restore = |key: Option<&MachineKey>| {
        let journal = Journal::decode(&encoded).unwrap();
        Queue::restore(journal, Duration::ZERO, unix, key)
            .job(id)
            .unwrap()
            .access
            .credentials
            .clone()
    };
    assert_eq!(restore(Some(&key)), credentials);
    assert!(restore(Some(&MachineKey([1; 32]))).is_empty(), "another machine cannot read them");
    assert!(restore(None).is_empty());
}
