//! The trace of a run: every engine event, every request a server saw, every fault, in the
//! order they happened, each stamped with the simulated time. It is what the oracles judge,
//! what `--trace` writes (JSON Lines, one event per line, time first) and what the golden
//! snapshots hold (a compact text form).
//!
//! The recorder lives outside the simulated hosts, like a serial console: it survives power
//! losses, which is why it is the only state shared between the hosts and the harness.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use bitsim_engine::core::journal::fnv64;
use bitsim_engine::{Event, Hresult, JobId};

use self::compact::compact_event;
use crate::auth::Seen;
use crate::scenario::ENGINE_HOST;
use serde::Serialize;

mod compact;
mod upload;

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEntry {
    /// Simulated time in microseconds since the start of the run.
    pub t_us: u64,
    /// The host the event happened on (the harness writes faults under the host they hit).
    pub host: String,
    #[serde(flatten)]
    pub event: TraceEvent,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TraceEvent {
    Engine(Event),
    Sim(SimEvent),
}

/// What the simulator itself observes or does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SimEvent {
    LinkDropped {
        peer: String,
    },
    LinkRepaired {
        peer: String,
    },
    LatencySet {
        peer: String,
        latency_us: u64,
    },
    /// A shaped link's rates changed (`a -> b` up, `b -> a` down), in bits per second.
    LinkRateSet {
        peer: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        down_bps: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        up_bps: Option<u64>,
    },
    /// The chaos phase ended: the links still down were repaired, shaped links got their
    /// declared rates and latencies back and plain links the scenario's latency, the hosts
    /// still without power were powered on. Every job must now settle within the liveness
    /// bound (`bound`: its parts).
    Healed {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        repaired: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        restored: Vec<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        powered_on: Vec<String>,
        bound_us: u64,
        bound: String,
    },
    /// Cross-traffic entry `entry` opened its flows.
    CrossTrafficStarted {
        entry: usize,
        flows: u32,
        direction: &'static str,
    },
    CrossTrafficStopped {
        entry: usize,
    },
    /// What the links carried, at the end of the run: the trace hash covers the network too.
    LinkTotals {
        link: String,
        bytes: u64,
        connections: usize,
    },
    PowerLost,
    ProcessRestarted,
    /// The engine's machine lost its network (`network-loss`): every link of its host is
    /// down and the engine was told.
    NetworkLost,
    /// The engine's machine has its network again.
    NetworkReturned,
    /// The host's software started, for the `boot`-th time (1 = first boot).
    Booted {
        boot: u32,
    },
    /// A served file has a new version from now on.
    ContentChanged {
        path: String,
        version: u32,
        size: u64,
    },
    /// A server received a request: ground truth about what went over the wire.
    Served {
        client: String,
        /// The client's port: which connection carried the request.
        port: u16,
        method: String,
        path: String,
        version: u32,
        size: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        range: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        if_range: Option<String>,
        /// The first byte the request asked for: the Range start, or 0 without a Range.
        #[serde(skip_serializing_if = "Option::is_none")]
        start: Option<u64>,
        /// The request asked for at least one byte at or beyond the end of the file.
        past_eof: bool,
        /// The status sent, or 0 when the server closed the connection instead.
        status: u16,
        /// The server's number for the connection, in order of acceptance.
        connection: u64,
        /// Where a redirect sent the client.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
        #[serde(flatten)]
        credentials: Box<Credentials>,
    },
    /// A proxy received a request: ground truth about what the engine sent it.
    Proxied {
        client: String,
        port: u16,
        connection: u64,
        method: String,
        /// The absolute-form request target.
        url: String,
        /// The status sent back: the proxy's own (407, 502) or the server's.
        status: u16,
        /// The proxy's port towards the origin, when it passed the request on.
        #[serde(skip_serializing_if = "Option::is_none")]
        upstream_port: Option<u16>,
        #[serde(flatten)]
        credentials: Box<Credentials>,
    },
    /// The client program read a completed file back from disk.
    FileVerified {
        job: JobId,
        file: usize,
        local: String,
        len: u64,
        hash: String,
    },
    /// A scripted API call (`[[actions]]`, by index) returned `result`.
    ActionDone {
        action: usize,
        call: String,
        caller: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        admin: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        job: Option<JobId>,
        result: Hresult,
        /// `enum-jobs`: the jobs listed.
        #[serde(skip_serializing_if = "Option::is_none")]
        listed: Option<Vec<JobId>>,
    },
    /// An upload server answered a packet; `kept` is the part of a fragment it wrote (bytes
    /// it already had are never written again).
    UploadReceived {
        client: String,
        packet: String,
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        range: Option<String>,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        received: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        kept: Option<[u64; 2]>,
    },
    /// Close-Session moved a complete upload into place: its bytes, and every write the
    /// server made to it in order (`[first, end)`, adjacent writes merged).
    UploadCommitted {
        path: String,
        session: String,
        len: u64,
        hash: String,
        writes: Vec<[u64; 2]>,
    },
    /// Cancel-Session, Close-Session before the last byte, or expiry: the session and its
    /// partial upload are gone.
    UploadDiscarded {
        path: String,
        session: String,
        received: u64,
        reason: String,
    },
    /// The server application's reply to a complete upload, served at `url`.
    ReplyReady {
        path: String,
        session: String,
        url: String,
        len: u64,
        hash: String,
    },
    /// The client program wrote an upload's source durably before creating the job.
    UploadSourceWritten {
        local: String,
        len: u64,
        hash: String,
    },
    /// The client program read an upload-reply job's reply back after Complete.
    ReplyVerified {
        job: JobId,
        local: String,
        len: u64,
        hash: String,
    },
    /// An API call of the client program failed.
    AppCallFailed {
        call: String,
        job: Option<JobId>,
        error: String,
    },
    /// A host's software ended with an error.
    HostFailed {
        error: String,
    },
}

/// What a server or proxy saw of credentials on one request (never a password or a hash).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Credentials {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Seen>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_authorization: Option<Seen>,
    /// Whom the request was served as: credentials that passed, or an authenticated
    /// connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated_as: Option<String>,
    /// Why credentials that came were refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

impl From<Event> for TraceEvent {
    fn from(event: Event) -> Self {
        Self::Engine(event)
    }
}

impl From<SimEvent> for TraceEvent {
    fn from(event: SimEvent) -> Self {
        Self::Sim(event)
    }
}

/// Collects the trace; clones share it.
#[derive(Clone, Debug, Default)]
pub struct Recorder(Rc<RefCell<Vec<TraceEntry>>>);

impl Recorder {
    /// Records an event on `host` at the current simulated time (inside a host).
    pub fn record(&self, host: &str, event: impl Into<TraceEvent>) {
        self.record_at(crate::clock::now(), host, event);
    }

    /// Records an event at an explicit simulated time (from the harness's step loop).
    pub fn record_at(&self, t: Duration, host: &str, event: impl Into<TraceEvent>) {
        let t_us = u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
        self.0.borrow_mut().push(TraceEntry { t_us, host: host.to_owned(), event: event.into() });
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Calls `visit` with every entry from index `from` on.
    pub fn visit_from(&self, from: usize, mut visit: impl FnMut(&TraceEntry)) {
        for entry in &self.0.borrow()[from..] {
            visit(entry);
        }
    }

    pub fn snapshot(&self) -> Trace {
        Trace { entries: self.0.borrow().clone() }
    }
}

/// A finished trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    pub entries: Vec<TraceEntry>,
}

impl Trace {
    /// JSON Lines: one event per line, `t_us` first, fields in a fixed order.
    pub fn jsonl(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&serde_json::to_string(entry).expect("trace entries always serialize"));
            text.push('\n');
        }
        text
    }

    /// FNV-1a of the JSON Lines: equal hashes mean byte-identical traces.
    pub fn hash(&self) -> u64 {
        fnv64(self.jsonl().as_bytes())
    }

    /// One readable line per event, for snapshots and terminals. Progress events are left
    /// out: each follows a checkpoint line that says the same.
    pub fn compact(&self) -> String {
        let mut text = String::new();
        // The background controller's probes (HEADs on their own connections) would drown
        // the transfer in snapshots; the JSON Lines keep them. Through a proxy they reach the
        // origin from the proxy's port for that connection, which only the proxy's record
        // (written after the origin's) tells: a first pass finds those.
        let relayed_probes = self.relayed_probes();
        let mut probe_ports = BTreeSet::new();
        for entry in &self.entries {
            match &entry.event {
                TraceEvent::Engine(Event::Connected { local_port: Some(port), probe, .. }) => {
                    if *probe {
                        probe_ports.insert(*port);
                        continue;
                    }
                    probe_ports.remove(port);
                }
                TraceEvent::Sim(SimEvent::Served { client, port, .. })
                    if client == ENGINE_HOST && probe_ports.contains(port) =>
                {
                    continue;
                }
                TraceEvent::Sim(SimEvent::Proxied { client, port, .. })
                    if client == ENGINE_HOST && probe_ports.contains(port) =>
                {
                    continue;
                }
                TraceEvent::Sim(SimEvent::Served { client, port, .. })
                    if relayed_probes.contains(&(client.clone(), *port)) =>
                {
                    continue;
                }
                _ => {}
            }
            if let Some(line) = compact_event(&entry.event) {
                let seconds = entry.t_us as f64 / 1e6;
                let _ = writeln!(text, "{seconds:>10.3}s {:<8} {line}", entry.host);
            }
        }
        text
    }
}

impl Trace {
    /// `(proxy, port)` of every upstream connection a proxy opened for a probe connection.
    fn relayed_probes(&self) -> BTreeSet<(String, u16)> {
        let mut probe_ports = BTreeSet::new();
        let mut relayed = BTreeSet::new();
        for entry in &self.entries {
            match &entry.event {
                TraceEvent::Engine(Event::Connected { local_port: Some(port), probe, .. }) => {
                    if *probe {
                        probe_ports.insert(*port);
                    } else {
                        probe_ports.remove(port);
                    }
                }
                TraceEvent::Sim(SimEvent::Proxied {
                    client,
                    port,
                    upstream_port: Some(upstream),
                    ..
                }) if client == ENGINE_HOST && probe_ports.contains(port) => {
                    relayed.insert((entry.host.clone(), *upstream));
                }
                _ => {}
            }
        }
        relayed
    }
}

#[cfg(test)]
mod tests {
    use bitsim_engine::JobState;
    use bitsim_engine::core::state::Trigger;

    use super::*;

    fn sample() -> Trace {
        let recorder = Recorder::default();
        recorder.record_at(
            Duration::from_millis(1500),
            "engine",
            Event::StateChanged {
                job: JobId(1),
                from: JobState::Suspended,
                to: JobState::Queued,
                trigger: Trigger::Resume,
                error: None,
            },
        );
        recorder.record_at(
            Duration::from_millis(2000),
            "origin",
            SimEvent::Served {
                client: "engine".into(),
                port: 49152,
                method: "GET".into(),
                path: "/a".into(),
                version: 0,
                size: 10,
                range: Some("bytes=4-9".into()),
                if_range: None,
                start: Some(4),
                past_eof: false,
                status: 206,
                connection: 1,
                location: None,
                credentials: Box::default(),
            },
        );
        recorder.snapshot()
    }

    #[test]
    fn json_lines_put_time_first() {
        let jsonl = sample().jsonl();
        let first = jsonl.lines().next().unwrap();
        assert!(
            first.starts_with(r#"{"t_us":1500000,"host":"engine","event":"state_changed","#),
            "{first}"
        );
        assert_eq!(jsonl.lines().count(), 2);
    }

    #[test]
    fn compact_lines_read_like_a_log() {
        let text = sample().compact();
        assert!(text.contains("1.500s engine   job1 SUSPENDED -> QUEUED (resume)"), "{text}");
        assert!(text.contains("served engine GET /a v0 Range: bytes=4-9 -> 206"), "{text}");
    }

    #[test]
    fn hashes_differ_when_anything_differs() {
        let trace = sample();
        let mut other = trace.clone();
        other.entries[1].t_us += 1;
        assert_eq!(trace.hash(), sample().hash());
        assert_ne!(trace.hash(), other.hash());
    }
}
