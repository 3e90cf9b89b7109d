//! The engine on real sockets and files (`TokioEnv`): the conformance arm that shows the
//! simulator's engine is the real one. A small hyper server on 127.0.0.1 (on its own thread,
//! so it outlives engine "processes") serves files with ranges; the first GET of each path
//! stalls part-way, as over a dropped link.
//!
//! Each test takes well under a second of real time: stalls are ended by Suspend, Cancel or
//! killing the engine's runtime (a killed process), never by waiting for a timeout.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bitsim_engine::core::resume::CheckpointPolicy;
use bitsim_engine::{Engine, EngineConfig, Event, EventSink, Hresult, JobId, JobState, TokioEnv};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use tokio::sync::Notify;

const FILE_LEN: u64 = 1_000_000;
/// Where the first GET of each path stalls.
const STALL_AT: u64 = 300_000;

fn content(range: std::ops::Range<u64>) -> Vec<u8> {
    range.map(|i| (i.wrapping_mul(31).wrapping_add(7) % 251) as u8).collect()
}

/// What the server received: (method, path, Range header).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// Starts the server on its own thread for the rest of the test process.
fn start_server() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let server_seen = seen.clone();
    // The real-world arm: the server runs on its own thread so it outlives engine "processes".
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            let stalled = Rc::new(RefCell::new(BTreeSet::new()));
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (seen, stalled) = (server_seen.clone(), stalled.clone());
                tokio::task::spawn_local(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let response = respond(&seen, &stalled, &request);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
    (port_rx.recv().unwrap(), seen)
}

fn respond(
    seen: &Seen,
    stalled: &RefCell<BTreeSet<String>>,
    request: &Request<hyper::body::Incoming>,
) -> Response<TestBody> {
    let range = request.headers().get("range").map(|value| value.to_str().unwrap().to_owned());
    let path = request.uri().path().to_owned();
    seen.lock().unwrap().push((request.method().to_string(), path.clone(), range.clone()));
    let builder = Response::builder()
        .header("last-modified", "Thu, 01 Jan 2026 00:00:00 GMT")
        .header("accept-ranges", "bytes");
    if request.method() == hyper::Method::HEAD {
        return builder
            .header("content-length", FILE_LEN)
            .body(TestBody { data: None, stall: false, len: 0 })
            .unwrap();
    }
    let bounds = range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.split_once('-'));
    let start: u64 = bounds.and_then(|(first, _)| first.parse().ok()).unwrap_or(0);
    let end: u64 =
        bounds.and_then(|(_, last)| last.parse::<u64>().ok()).map_or(FILE_LEN, |last| last + 1);
    let stall = stalled.borrow_mut().insert(path);
    let sent = if stall { start..STALL_AT.clamp(start, end) } else { start..end };
    let body = TestBody { data: Some(Bytes::from(content(sent))), stall, len: end - start };
    let builder = builder.header("content-length", end - start);
    let builder = match range {
        Some(_) => builder
            .status(206)
            .header("content-range", format!("bytes {start}-{}/{FILE_LEN}", end - 1)),
        None => builder.status(200),
    };
    builder.body(body).unwrap()
}

/// A body that sends its bytes, then (if `stall`) never ends, as a wedged connection does.
struct TestBody {
    data: Option<Bytes>,
    stall: bool,
    len: u64,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.data.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None if self.stall => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Collects the engine's events and wakes waiters.
#[derive(Default)]
struct Events {
    seen: RefCell<Vec<Event>>,
    changed: Notify,
}

impl EventSink for Events {
    fn on_event(&self, event: &Event) {
        self.seen.borrow_mut().push(event.clone());
        self.changed.notify_waiters();
    }
}

impl Events {
    async fn until(&self, done: impl Fn(&Event) -> bool) {
        loop {
            let changed = self.changed.notified();
            if self.seen.borrow().iter().any(&done) {
                return;
            }
            changed.await;
        }
    }

    fn durable_offset(&self, job: JobId) -> u64 {
        let seen = self.seen.borrow();
        let mut offsets = seen.iter().filter_map(|event| match event {
            Event::Checkpoint { job: j, offset, .. } if *j == job => Some(*offset),
            _ => None,
        });
        offsets.next_back().unwrap_or(0)
    }
}

fn checkpointed_at_least(job: JobId, bytes: u64) -> impl Fn(&Event) -> bool {
    move |event| matches!(event, Event::Checkpoint { job: j, offset, .. } if *j == job && *offset >= bytes)
}

fn reached(job: JobId, state: JobState) -> impl Fn(&Event) -> bool {
    move |event| matches!(event, Event::StateChanged { job: j, to, .. } if *j == job && *to == state)
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bitsim-engine-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `work` as one "process" of the engine: dropping the runtime at the end kills every
/// task, as a killed process would (the page cache keeps unsynced writes).
fn process<T>(work: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tokio::task::LocalSet::new().block_on(&runtime, work)
}

async fn start_engine(state: &Path, events: Rc<Events>) -> Engine<TokioEnv> {
    let mut config = EngineConfig::new(state.to_str().unwrap());
    // Checkpoint often, so a stalled body has durable progress to resume from.
    config.checkpoint = CheckpointPolicy { bytes: 64 << 10, ..CheckpointPolicy::default() };
    let engine = Engine::start(TokioEnv, config, events).await.unwrap();
    let driver = engine.clone();
    tokio::task::spawn_local(async move { driver.run().await });
    engine
}

async fn new_job(engine: &Engine<TokioEnv>, port: u16, path: &str, dest: &Path) -> JobId {
    let job = engine.create_job(path).await.unwrap();
    engine
        .add_file(job, &format!("http://127.0.0.1:{port}{path}"), dest.to_str().unwrap())
        .await
        .unwrap();
    engine.resume(job).await.unwrap();
    job
}

fn ranges_of(seen: &Seen, path: &str) -> Vec<Option<String>> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(method, p, _)| method == "GET" && p == path)
        .map(|(_, _, range)| range.clone())
        .collect()
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("BIT") && name.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_download_survives_a_killed_process_and_resumes_at_the_exact_byte() {
    let (port, seen) = start_server();
    let dir = scratch("restart");
    let (state, dest) = (dir.join("state"), dir.join("file.bin"));
    let durable = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&state, events.clone()).await;
        let job = new_job(&engine, port, "/restart.bin", &dest).await;
        events.until(checkpointed_at_least(job, 128 << 10)).await;
        events.durable_offset(job)
    });
    let result = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&state, events.clone()).await;
        let job = engine.jobs()[0].id;
        events.until(reached(job, JobState::Transferred)).await;
        engine.complete(job).await
    });
    assert_eq!(result, Ok(Hresult::S_OK));
    assert_eq!(
        ranges_of(&seen, "/restart.bin"),
        [None, Some(format!("bytes={durable}-{}", FILE_LEN - 1))]
    );
    assert!(
        std::fs::read(&dest).unwrap() == content(0..FILE_LEN),
        "the completed file differs from the server's"
    );
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn suspend_keeps_progress_and_resume_continues_from_it() {
    let (port, seen) = start_server();
    let dir = scratch("suspend");
    let dest = dir.join("file.bin");
    let (durable, result) = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = new_job(&engine, port, "/suspend.bin", &dest).await;
        events.until(checkpointed_at_least(job, 128 << 10)).await;
        engine.suspend(job).await.unwrap();
        assert_eq!(engine.job(job).unwrap().state, JobState::Suspended);
        assert!(!dest.exists(), "the destination appears only at Complete");
        let durable = events.durable_offset(job);
        engine.resume(job).await.unwrap();
        events.until(reached(job, JobState::Transferred)).await;
        (durable, engine.complete(job).await)
    });
    assert_eq!(result, Ok(Hresult::S_OK));
    // Suspend made every received byte durable before stopping.
    assert_eq!(durable, STALL_AT);
    assert_eq!(
        ranges_of(&seen, "/suspend.bin"),
        [None, Some(format!("bytes={STALL_AT}-{}", FILE_LEN - 1))]
    );
    assert!(std::fs::read(&dest).unwrap() == content(0..FILE_LEN));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_ranged_file_resumes_inside_a_range_and_holds_the_ranges_in_the_given_order() {
    use bitsim_engine::FileRange;
    let (port, seen) = start_server();
    let dir = scratch("ranges");
    let dest = dir.join("file.part");
    // The first range holds STALL_AT, where the first GET stalls.
    let ranges = [
        FileRange::new(200_000, 200_000),
        FileRange::new(700_000, 100_000),
        FileRange::new(0, 1_000),
    ];
    let (durable, result) = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = engine.create_job("ranges").await.unwrap();
        let remote = format!("http://127.0.0.1:{port}/ranges.bin");
        engine.add_file_with_ranges(job, &remote, dest.to_str().unwrap(), &ranges).await.unwrap();
        assert_eq!(engine.job(job).unwrap().files[0].ranges, ranges);
        engine.resume(job).await.unwrap();
        events.until(checkpointed_at_least(job, 64 << 10)).await;
        engine.suspend(job).await.unwrap();
        let durable = events.durable_offset(job);
        engine.resume(job).await.unwrap();
        events.until(reached(job, JobState::Transferred)).await;
        (durable, engine.complete(job).await)
    });
    assert_eq!(result, Ok(Hresult::S_OK));
    assert_eq!(durable, STALL_AT - 200_000, "every received byte of the range was durable");
    assert_eq!(
        ranges_of(&seen, "/ranges.bin"),
        [
            Some("bytes=200000-399999".to_owned()),
            Some(format!("bytes={STALL_AT}-399999")),
            Some("bytes=700000-799999".to_owned()),
            Some("bytes=0-999".to_owned()),
        ]
    );
    let mut want = content(200_000..400_000);
    want.extend(content(700_000..800_000));
    want.extend(content(0..1_000));
    assert!(std::fs::read(&dest).unwrap() == want, "the file is not the ranges in order");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cancel_deletes_the_temporary_file_and_ends_the_job() {
    let (port, _) = start_server();
    let dir = scratch("cancel");
    let dest = dir.join("file.bin");
    process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = new_job(&engine, port, "/cancel.bin", &dest).await;
        events.until(checkpointed_at_least(job, 64 << 10)).await;
        assert_eq!(temp_files(&dir).len(), 1);
        engine.cancel(job).await.unwrap();
        assert!(engine.job(job).is_none());
        assert_eq!(engine.resume(job).await.unwrap_err().code, Hresult::BG_E_INVALID_STATE);
    });
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    assert!(!dest.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn complete_before_the_transfer_ends_is_partial_and_keeps_nothing() {
    let (port, _) = start_server();
    let dir = scratch("partial");
    let dest = dir.join("file.bin");
    let result = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = new_job(&engine, port, "/partial.bin", &dest).await;
        events.until(checkpointed_at_least(job, 64 << 10)).await;
        engine.complete(job).await
    });
    assert_eq!(result, Ok(Hresult::BG_S_PARTIAL_COMPLETE));
    assert!(!dest.exists());
    assert_eq!(temp_files(&dir), Vec::<String>::new());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_journal_stops_the_start_instead_of_losing_jobs() {
    let dir = scratch("corrupt");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("queue.journal"), b"bitsim-journal 1 2 0000000000000000\n{}\n")
        .unwrap();
    let error = process(async {
        let events = Rc::new(Events::default());
        Engine::start(TokioEnv, EngineConfig::new(state.to_str().unwrap()), events)
            .await
            .err()
            .expect("must refuse")
    });
    let message = error.to_string();
    assert!(message.contains("queue.journal") && message.contains("checksum"), "{message}");
    std::fs::remove_dir_all(&dir).ok();
}

/// An HTTP/1.0 server as Python's `http.server` is one: it answers one request per
/// connection, honours no Range, and closes the connection after every response.
fn start_http10_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let is_head = head.starts_with(b"HEAD ");
            let mut response =
                format!("HTTP/1.0 200 OK\r\nContent-Length: {FILE_LEN}\r\n\r\n").into_bytes();
            if !is_head {
                response.extend(content(0..FILE_LEN));
            }
            let _ = stream.write_all(&response);
            // Dropping the stream closes the connection.
        }
    });
    port
}

#[test]
fn a_server_that_closes_after_every_response_gets_a_new_connection_per_request() {
    let port = start_http10_server();
    let dir = scratch("close");
    let dest = dir.join("file.bin");
    let (result, errors) = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = new_job(&engine, port, "/close.bin", &dest).await;
        events
            .until(|event| {
                matches!(
                    event,
                    Event::StateChanged {
                        to: JobState::Transferred | JobState::TransientError | JobState::Error,
                        ..
                    }
                )
            })
            .await;
        let errors: Vec<String> = events
            .seen
            .borrow()
            .iter()
            .filter_map(|event| match event {
                Event::StateChanged { error: Some(error), .. } => Some(error.error.to_string()),
                _ => None,
            })
            .collect();
        (engine.complete(job).await, errors)
    });
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "a closed connection is not an error: the next request opens another"
    );
    assert_eq!(result, Ok(Hresult::S_OK));
    assert!(std::fs::read(&dest).unwrap() == content(0..FILE_LEN));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn suspending_the_running_background_job_lets_the_next_one_start() {
    let (port, seen) = start_server();
    let dir = scratch("slot");
    let result = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let first = new_job(&engine, port, "/slot-first.bin", &dir.join("first.bin")).await;
        let second = new_job(&engine, port, "/slot-second.bin", &dir.join("second.bin")).await;
        events.until(checkpointed_at_least(first, 64 << 10)).await;
        assert_eq!(
            engine.job(second).unwrap().state,
            JobState::Queued,
            "one background job at a time"
        );
        engine.suspend(first).await.unwrap();
        // The second job's first GET stalls too, after some of its bytes became durable.
        #[allow(clippy::disallowed_methods)] // real sockets, real time: no simulator here
        let started = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            events.until(checkpointed_at_least(second, 64 << 10)),
        );
        started.await
    });
    assert!(result.is_ok(), "the freed background slot was never given to the next job");
    assert_eq!(ranges_of(&seen, "/slot-second.bin"), [None]);
    std::fs::remove_dir_all(&dir).ok();
}

/// Acknowledges every notification and counts JobTransferred calls.
#[derive(Default)]
struct Acknowledging {
    transferred: std::cell::Cell<u32>,
}

impl bitsim_engine::NotifyCallback for Acknowledging {
    fn job_transferred(&self, _job: JobId) -> Result<(), Hresult> {
        self.transferred.set(self.transferred.get() + 1);
        Ok(())
    }
    fn job_error(&self, _job: JobId, _error: &bitsim_engine::JobError) -> Result<(), Hresult> {
        Ok(())
    }
    fn job_modification(&self, _job: JobId) -> Result<(), Hresult> {
        Ok(())
    }
}

#[test]
fn a_callback_registered_after_the_transfer_still_hears_job_transferred() {
    let (port, _) = start_server();
    let dir = scratch("notify");
    let dest = dir.join("file.bin");
    let calls = process(async {
        let events = Rc::new(Events::default());
        let engine = start_engine(&dir.join("state"), events.clone()).await;
        let job = new_job(&engine, port, "/notify.bin", &dest).await;
        assert_eq!(engine.notify_flags(job), Ok(0x3), "the default flags");
        events.until(checkpointed_at_least(job, 64 << 10)).await;
        engine.suspend(job).await.unwrap();
        engine.resume(job).await.unwrap();
        events.until(reached(job, JobState::Transferred)).await;
        let callback = Rc::new(Acknowledging::default());
        engine.set_notify_interface(Some(callback.clone()));
        let acknowledged = |event: &Event| matches!(event, Event::Notified { job: j, result, .. } if *j == job && *result == Hresult::S_OK);
        events.until(acknowledged).await;
        assert_eq!(engine.complete(job).await, Ok(Hresult::S_OK));
        callback.transferred.get()
    });
    assert_eq!(calls, 1);
    std::fs::remove_dir_all(&dir).ok();
}
