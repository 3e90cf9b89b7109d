//! Upload jobs in the queue: one file, Complete only when TRANSFERRED, the session and the
//! acknowledged offset survive the journal.

use std::time::Duration;

use crate::core::hresult::Hresult;
use crate::core::journal::Journal;
use crate::core::queue::Queue;
use crate::core::state::{JobState, JobType};

fn upload_job(job_type: JobType) -> (Queue, crate::core::job::JobId) {
    let mut queue = Queue::new();
    let id = queue.create_job("user", "up", job_type).unwrap();
    queue.add_file(id, "http://server/up/a.bin", "/out/a.bin").unwrap();
    (queue, id)
}

#[test]
fn an_upload_job_takes_exactly_one_file() {
    let (mut queue, id) = upload_job(JobType::Upload);
    let second = queue.add_file(id, "http://server/up/b.bin", "/out/b.bin").unwrap_err();
    assert_eq!(second.code, Hresult::BG_E_TOO_MANY_FILES);
}

#[test]
fn complete_before_transferred_is_invalid_state() {
    let (mut queue, id) = upload_job(JobType::Upload);
    assert_eq!(queue.complete_plan(id).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    queue.resume(id).unwrap();
    assert_eq!(queue.complete_plan(id).unwrap_err().code, Hresult::BG_E_INVALID_STATE);
}

#[test]
fn the_reply_sits_beside_its_name_and_moves_at_complete() {
    let (mut queue, id) = upload_job(JobType::UploadReply);
    queue.set_reply_name(id, "/replies/a.reply").unwrap();
    let file = &queue.job(id).unwrap().files[0];
    assert_eq!(file.temp_name, "/replies/BIT1_0.tmp");
    queue.jobs.get_mut(&id).unwrap().state = JobState::Transferred;
    let plan = queue.complete_plan(id).unwrap();
    assert_eq!(plan.renames, vec![("/replies/BIT1_0.tmp".into(), "/replies/a.reply".into())]);
    assert!(plan.deletions.is_empty(), "the source is never deleted");
    let (mut plain, plain_id) = upload_job(JobType::Upload);
    assert!(plain.set_reply_name(plain_id, "/r").is_err());
}

#[test]
fn the_session_and_acknowledged_offset_survive_the_journal() {
    let (mut queue, id) = upload_job(JobType::UploadReply);
    queue.handle_upload_session(id, 0, Some("{s1}".into()));
    queue.handle_upload_size(id, 0, 1000);
    queue.handle_upload_acknowledged(id, 0, 1000, Some("http://server/up/r".into()));
    let bytes = queue.to_journal(Duration::ZERO, Duration::ZERO).encode();
    let restored =
        Queue::restore(Journal::decode(&bytes).unwrap(), Duration::ZERO, Duration::ZERO, None);
    let file = &restored.job(id).unwrap().files[0];
    let upload = file.upload.as_ref().unwrap();
    assert_eq!(upload.session_id.as_deref(), Some("{s1}"));
    assert_eq!(upload.reply_url.as_deref(), Some("http://server/up/r"));
    assert_eq!((file.durable.offset, file.durable.size), (1000, Some(1000)));
    assert_eq!(restored.job(id).unwrap().job_type, JobType::UploadReply);
    assert!(restored.part_files().is_empty(), "no download part file to recover");
}

#[test]
fn a_forgotten_session_starts_over_at_zero() {
    let (mut queue, id) = upload_job(JobType::Upload);
    queue.handle_upload_session(id, 0, Some("{s1}".into()));
    queue.handle_upload_acknowledged(id, 0, 500, None);
    queue.handle_upload_session(id, 0, None);
    let file = &queue.job(id).unwrap().files[0];
    assert_eq!(file.durable.offset, 0);
    assert_eq!(file.upload.as_ref().unwrap().session_id, None);
}

#[test]
fn journals_without_upload_state_still_load() {
    let old = r#"{"next_job_id":2,"next_queue_seq":1,"jobs":[{"id":1,"name":"j","job_type":"download","priority":"normal","state":"QUEUED","files":[{"remote_name":"http://o/f","local_name":"/d/f","temp_name":"/d/BIT1_0.tmp","durable":{"size":null,"offset":0},"transferred":false}],"retry_delay_ms":600000,"no_progress_timeout_ms":1209600000,"queue_seq":0}]}"#;
    let journal: Journal = serde_json::from_str(old).unwrap();
    assert_eq!(journal.jobs[0].files[0].upload, None);
}
