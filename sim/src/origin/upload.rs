//! The server side of the BITS Upload Protocol (spec §8.2, §8.3, §8.5) on an origin: a
//! virtual directory that takes `BITS_POST` packets, keeps sessions, writes fragments by the
//! overlap rule (bytes already received are never written again, a gap gets 416), moves a
//! complete upload into place at Close-Session, and in upload-reply mode serves the server
//! application's reply by GET. Misbehaviours from the scenario: 413 above a fragment size,
//! sessions forgotten after idling or at given times, a slow server application.
//!
//! The server records what it kept of every fragment and, at Close-Session, the whole file
//! with every write it made: the ground truth of the upload oracles.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use bitsim_engine::core::journal::fnv64;
use bitsim_engine::core::upload::{
    HEADER_ERROR_CODE, HEADER_ERROR_CONTEXT, HEADER_PACKET_TYPE, HEADER_PROTOCOL,
    HEADER_RECEIVED_RANGE, HEADER_SESSION_ID, HEADER_SUPPORTED_PROTOCOLS, PROTOCOL_GUID,
    SESSION_NOT_FOUND,
};
use http::header::{CONTENT_LENGTH, CONTENT_RANGE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{ContentBody, Facts, Origin, empty};
use crate::content::ContentKey;
use crate::scenario::upload::UploadSettings;
use crate::trace::SimEvent;

/// `E_INVALIDARG`: the packet breaks the protocol's syntax (spec §8.3).
const INVALID_ARG: &str = "0x80070057";
/// The error context of errors the BITS server extension itself finds (spec §8.1).
const CONTEXT_SERVER: &str = "0x5";
/// The reply's file name under the session's reply directory, as in [MC-BUP] §4.
const REPLY_FILE: &str = "responsefile.bin";

/// One upload virtual directory and its sessions.
pub(super) struct UploadServer {
    settings: UploadSettings,
    seed: u64,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    sessions: BTreeMap<String, Session>,
    /// Sessions created so far: names the next one.
    created: u64,
    /// Reply URL path (percent-encoded, as requested) -> content and size.
    replies: BTreeMap<String, (ContentKey, u64)>,
}

struct Session {
    path: String,
    total: Option<u64>,
    data: Vec<u8>,
    /// Every write, `[first, end)`, adjacent ones merged.
    writes: Vec<[u64; 2]>,
    created: Duration,
    touched: Duration,
    /// Upload-reply: (the BITS-Reply-URL header, the URL path it resolves to).
    reply: Option<(String, String)>,
}

/// What a packet's answer carries besides its status.
#[derive(Default)]
struct Answer {
    headers: Vec<(&'static str, String)>,
    error_code: Option<&'static str>,
    received: Option<u64>,
    kept: Option<[u64; 2]>,
}

impl UploadServer {
    pub(super) fn new(settings: UploadSettings, seed: u64) -> Self {
        Self { settings, seed, state: RefCell::default() }
    }

    /// Whether this directory answers the request: `BITS_POST` inside it, or a GET of a reply.
    pub(super) fn takes(&self, request: &Request<Incoming>) -> bool {
        let path = request.uri().path();
        if request.method().as_str().eq_ignore_ascii_case("BITS_POST") {
            return self.settings.takes(path);
        }
        request.method() == Method::GET && self.state.borrow().replies.contains_key(path)
    }

    pub(super) async fn respond(
        &self,
        origin: &Origin,
        facts: &Facts,
        request: Request<Incoming>,
    ) -> Response<ContentBody> {
        if request.method() == Method::GET {
            return self.serve_reply(origin, facts);
        }
        let header = |name: &str| {
            request.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
        };
        let packet = header(HEADER_PACKET_TYPE).unwrap_or_default();
        let session = header(HEADER_SESSION_ID);
        let range = header(CONTENT_RANGE.as_str());
        let (status, answer) = match packet.to_ascii_lowercase().as_str() {
            "create-session" => self.create_session(&facts.path, request.headers()),
            "ping" => (StatusCode::OK, Answer::default()),
            "fragment" => self.fragment(origin, session.as_deref(), request).await,
            "close-session" => self.end_session(origin, session.as_deref(), true),
            "cancel-session" => self.end_session(origin, session.as_deref(), false),
            _ => invalid(),
        };
        origin.recorder.record(
            &origin.name,
            SimEvent::UploadReceived {
                client: facts.client.to_string(),
                packet,
                path: facts.path.clone(),
                session: answer
                    .headers
                    .iter()
                    .find(|(name, _)| *name == HEADER_SESSION_ID)
                    .map(|(_, id)| id.clone())
                    .or(session),
                range,
                status: status.as_u16(),
                received: answer.received,
                error_code: answer.error_code.map(str::to_owned),
                kept: answer.kept,
            },
        );
        ack(status, &answer)
    }

    fn create_session(&self, path: &str, headers: &HeaderMap) -> (StatusCode, Answer) {
        let offered = headers.get(HEADER_SUPPORTED_PROTOCOLS).and_then(|v| v.to_str().ok());
        let supported = offered.is_some_and(|list| {
            list.split([' ', ',']).any(|guid| guid.trim().eq_ignore_ascii_case(PROTOCOL_GUID))
        });
        if !supported {
            return invalid();
        }
        let now = crate::clock::now();
        let mut state = self.state.borrow_mut();
        state.created += 1;
        let id = session_guid(self.seed, path, state.created);
        let session = Session {
            path: path.to_owned(),
            total: None,
            data: Vec::new(),
            writes: Vec::new(),
            created: now,
            touched: now,
            reply: None,
        };
        state.sessions.insert(id.clone(), session);
        let headers = vec![
            (HEADER_PROTOCOL, PROTOCOL_GUID.to_owned()),
            (HEADER_SESSION_ID, id),
            ("Accept-Encoding", "Identity".to_owned()),
        ];
        (StatusCode::OK, Answer { headers, ..Answer::default() })
    }

    /// Forgets the session if it idled past the timeout or an expiry time passed since it
    /// was created; says whether it is (still) there.
    fn session_alive(&self, origin: Option<&Origin>, id: &str) -> bool {
        let now = crate::clock::now();
        let mut state = self.state.borrow_mut();
        let Some(session) = state.sessions.get(id) else { return false };
        let idle = self.settings.session_timeout.is_some_and(|t| now - session.touched >= t.0);
        let expired =
            self.settings.expire_at.iter().any(|at| session.created < at.0 && at.0 <= now);
        if !(idle || expired) {
            return true;
        }
        let session = state.sessions.remove(id).expect("looked up above");
        if let Some(origin) = origin {
            let reason = if idle { "idle past session_timeout" } else { "expire_at" };
            origin.recorder.record(
                &origin.name,
                SimEvent::UploadDiscarded {
                    path: session.path,
                    session: id.to_owned(),
                    received: session.data.len() as u64,
                    reason: reason.to_owned(),
                },
            );
        }
        false
    }
}

/// Answers the packet with 400 E_INVALIDARG (spec §8.3).
fn invalid() -> (StatusCode, Answer) {
    (StatusCode::BAD_REQUEST, Answer { error_code: Some(INVALID_ARG), ..Answer::default() })
}

/// 500 BG_E_SESSION_NOT_FOUND (spec §8.3).
fn not_found() -> (StatusCode, Answer) {
    let answer = Answer { error_code: Some(SESSION_NOT_FOUND_TEXT), ..Answer::default() };
    (StatusCode::INTERNAL_SERVER_ERROR, answer)
}

const SESSION_NOT_FOUND_TEXT: &str = "0x8020001F";
const _: () = assert!(SESSION_NOT_FOUND.0 == 0x8020_001F);

/// An Ack: `BITS-Packet-Type: Ack`, `Content-Length: 0`, the answer's headers, and the error
/// headers on failures (spec §8.1).
fn ack(status: StatusCode, answer: &Answer) -> Response<ContentBody> {
    let mut response = empty(status);
    let headers = response.headers_mut();
    let mut put = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value))
        {
            headers.insert(name, value);
        }
    };
    put(HEADER_PACKET_TYPE, "Ack");
    for (name, value) in &answer.headers {
        put(name, value);
    }
    if let Some(received) = answer.received {
        put(HEADER_RECEIVED_RANGE, &received.to_string());
    }
    if let Some(code) = answer.error_code {
        put(HEADER_ERROR_CODE, code);
        put(HEADER_ERROR_CONTEXT, CONTEXT_SERVER);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// A session id in GUID form, from the seed, the upload's path and a counter.
fn session_guid(seed: u64, path: &str, counter: u64) -> String {
    let mut bytes = seed.to_le_bytes().to_vec();
    bytes.extend_from_slice(path.as_bytes());
    bytes.extend_from_slice(&counter.to_le_bytes());
    let high = fnv64(&bytes);
    bytes.push(0xA5);
    let low = fnv64(&bytes);
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:04x}-{:012x}}}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFFF,
        low >> 48,
        low & 0xFFFF_FFFF_FFFF
    )
}

/// `bytes a-b/total` -> `(a, b + 1, total)`, or `None` when it breaks the syntax.
fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, total): (u64, u64, u64) =
        (first.trim().parse().ok()?, last.trim().parse().ok()?, total.trim().parse().ok()?);
    (first <= last && last < total).then_some((first, last + 1, total))
}

mod packets;

#[cfg(test)]
mod tests;
