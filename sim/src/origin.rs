//! Origin servers: hyper HTTP/1.1 servers on simulated hosts, serving deterministic content,
//! honouring or mishandling `Range` as the scenario says, and recording every request they
//! receive (the ground truth the oracles judge the engine by).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use http::header::{
    ACCEPT_RANGES, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE,
    LAST_MODIFIED, LOCATION, PROXY_AUTHORIZATION, RANGE, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::auth::{Admission, ConnectionAuth, Gatekeeper, identify};
use crate::content::ContentKey;
use crate::net::Net;
use crate::scenario::{Behaviour, Redirect, Server};
use crate::trace::{Credentials, Recorder, SimEvent};

mod body;
mod merge;
mod upload;

pub use self::body::ContentBody;

/// The port every origin listens on.
pub const HTTP_PORT: u16 = 80;

/// One origin server's configuration and content.
pub struct Origin {
    name: String,
    behaviour: Behaviour,
    keep_alive: bool,
    bytes_per_sec: Option<f64>,
    files: BTreeMap<String, Vec<Version>>,
    /// Mirrored paths: whose content they serve (server, path).
    mirrors: BTreeMap<String, (String, String)>,
    seed: u64,
    /// Unix time of the simulation's epoch, for Last-Modified dates.
    epoch_unix_secs: u64,
    recorder: Recorder,
    /// Demands credentials for every path (401) when set.
    gate: Option<RefCell<Gatekeeper>>,
    redirects: Vec<Redirect>,
    /// Connections accepted so far: the trace numbers them.
    accepted: Cell<u64>,
    /// The BITS upload directory, if the server has one.
    uploads: Option<upload::UploadServer>,
}

/// One version of a file, valid from `from` (simulated time) on.
struct Version {
    from: Duration,
    size: u64,
}

/// Why a request got no response: the server closed the connection instead.
#[derive(Debug)]
pub struct ClosedConnection;

impl std::fmt::Display for ClosedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("closed the connection instead of answering")
    }
}

impl std::error::Error for ClosedConnection {}

/// What a `Range` header asks of a file of a given size.
#[derive(Clone, Debug, Eq, PartialEq)]
enum RangeAsk {
    /// No usable single range: serve the whole file.
    Whole,
    /// `first..=last` within the file (last already clamped to the end).
    Bytes { first: u64, last: u64 },
    /// Starts at or past the end: 416.
    Unsatisfiable,
}

impl Origin {
    /// `gate` is the server's authentication, built by the caller from the scenario's
    /// accounts.
    pub fn new(
        server: &Server,
        seed: u64,
        epoch_unix_secs: u64,
        recorder: Recorder,
        gate: Option<Gatekeeper>,
    ) -> Self {
        let files = server
            .files
            .iter()
            .map(|file| {
                let first = Version { from: Duration::ZERO, size: file.size.0 };
                let later = file.changes.iter().scan(file.size.0, |size, change| {
                    *size = change.size.map_or(*size, |new| new.0);
                    Some(Version { from: change.at.0, size: *size })
                });
                (file.path.clone(), std::iter::once(first).chain(later).collect())
            })
            .collect();
        let mirrors = server
            .files
            .iter()
            .filter_map(|file| {
                let url =
                    bitsim_engine::core::http::RemoteUrl::parse(file.same_as.as_ref()?).ok()?;
                Some((file.path.clone(), (url.host, url.path_and_query)))
            })
            .collect();
        Self {
            name: server.name.clone(),
            mirrors,
            behaviour: server.behaviour,
            keep_alive: server.keep_alive,
            bytes_per_sec: server.send_rate.map(|rate| rate.bits_per_sec as f64 / 8.0),
            files,
            seed,
            epoch_unix_secs,
            recorder,
            gate: gate.map(RefCell::new),
            redirects: server.redirects.clone(),
            accepted: Cell::new(0),
            uploads: server
                .uploads
                .clone()
                .map(|settings| upload::UploadServer::new(settings, seed)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The content key of `path` in version `version`, if both exist.
    pub fn content(&self, path: &str, version: u32) -> Option<(ContentKey, u64)> {
        let size = self.files.get(path)?.get(version as usize)?.size;
        let (server, path) = match self.mirrors.get(path) {
            Some((server, path)) => (server.as_str(), path.as_str()),
            None => (self.name.as_str(), path),
        };
        Some((ContentKey::new(self.seed, server, path, version, size), size))
    }

    /// Accepts connections forever; the software of the server's host.
    pub async fn serve(self: Rc<Self>, net: Net) -> turmoil::Result {
        let listener = turmoil::net::TcpListener::bind(("0.0.0.0", HTTP_PORT)).await?;
        loop {
            let (stream, peer) = listener.accept().await?;
            let stream = net.wrap(stream, true)?;
            let origin = self.clone();
            let keep_alive = self.keep_alive;
            let connection = self.accepted.get() + 1;
            self.accepted.set(connection);
            tokio::task::spawn_local(async move {
                let port = peer.port();
                let client: Rc<str> = turmoil::reverse_lookup(peer.ip())
                    .unwrap_or_else(|| peer.ip().to_string())
                    .into();
                // NTLM and Negotiate authenticate this connection, not a request.
                let auth = Rc::new(RefCell::new(ConnectionAuth::default()));
                let service = service_fn(move |request| {
                    let (origin, client, auth) = (origin.clone(), client.clone(), auth.clone());
                    async move {
                        let mut facts = Facts::new(client, (port, connection), &request);
                        if let Some(uploads) = origin.uploads.as_ref().filter(|u| u.takes(&request))
                        {
                            return Ok(uploads.respond(&origin, &facts, request).await);
                        }
                        origin.respond(&mut facts, &auth, &request)
                    }
                });
                // The Date header would read the real clock: off, for byte-identical runs.
                let _ = http1::Builder::new()
                    .keep_alive(keep_alive)
                    .timer(crate::clock::HyperTimer::new())
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Answers one request: credentials first (401 until they pass), then redirects, then
    /// the file.
    fn respond(
        &self,
        facts: &mut Facts,
        conn: &RefCell<ConnectionAuth>,
        request: &Request<Incoming>,
    ) -> Result<Response<ContentBody>, ClosedConnection> {
        if let Some(gate) = &self.gate {
            let header = request.headers().get(AUTHORIZATION).map(|value| value.as_bytes());
            let admission = gate.borrow_mut().admit(
                &mut conn.borrow_mut(),
                request.method().as_str(),
                &facts.path,
                header,
            );
            match admission {
                Admission::Allowed { user } => facts.credentials.authenticated_as = Some(user),
                Admission::Challenge { values, rejected } => {
                    facts.credentials.rejected = rejected;
                    self.record(facts, (0, 0), None, false, 401);
                    let mut response = empty(StatusCode::UNAUTHORIZED);
                    for value in values {
                        if let Ok(value) = value.parse() {
                            response.headers_mut().append(WWW_AUTHENTICATE, value);
                        }
                    }
                    return Ok(response);
                }
            }
        }
        if let Some(redirect) = self.redirects.iter().find(|redirect| redirect.path == facts.path) {
            facts.location = Some(redirect.to.clone());
            self.record(facts, (0, 0), None, false, redirect.status);
            let mut response =
                empty(StatusCode::from_u16(redirect.status).unwrap_or(StatusCode::FOUND));
            if let Ok(location) = redirect.to.parse() {
                response.headers_mut().insert(LOCATION, location);
            }
            return Ok(response);
        }
        self.serve_file(facts, request)
    }

    fn serve_file(
        &self,
        facts: &Facts,
        request: &Request<Incoming>,
    ) -> Result<Response<ContentBody>, ClosedConnection> {
        let now = crate::clock::now();
        let path = facts.path.clone();
        let (range, if_range) = (facts.range.clone(), facts.if_range.clone());
        let Some(versions) = self.files.get(&path) else {
            self.record(facts, (0, 0), None, false, 404);
            return Ok(empty(StatusCode::NOT_FOUND));
        };
        let version = versions.iter().rposition(|version| version.from <= now).unwrap_or(0) as u32;
        let (key, size) = self.content(&path, version).expect("the version exists");
        let ask = range.as_deref().map_or(RangeAsk::Whole, |range| parse_range(range, size));
        let start = match &ask {
            RangeAsk::Bytes { first, .. } => Some(*first),
            RangeAsk::Whole if range.is_none() => Some(0),
            RangeAsk::Unsatisfiable => range.as_deref().and_then(range_first),
            RangeAsk::Whole => None,
        };
        let past_eof = range.as_deref().is_some_and(|range| reaches_past_eof(range, size));
        let record = |status| self.record(facts, (version, size), start, past_eof, status);
        if request.method() != Method::GET && request.method() != Method::HEAD {
            record(405);
            return Ok(empty(StatusCode::METHOD_NOT_ALLOWED));
        }
        let strict = matches!(self.behaviour, Behaviour::StrictRange | Behaviour::StrictRangeClose);
        if strict && past_eof {
            // SMS 2003's ISAPI extension failed such requests instead of clamping them.
            if self.behaviour == Behaviour::StrictRangeClose {
                record(0);
                return Err(ClosedConnection);
            }
            record(500);
            return Ok(empty(StatusCode::INTERNAL_SERVER_ERROR));
        }
        let validators = self.validators(key, &path, version);
        let honours_range =
            !matches!(self.behaviour, Behaviour::IgnoresRange | Behaviour::NoContentLength);
        let stale = if_range.as_deref().is_some_and(|v| v != validators.0 && v != validators.1);
        let ask = if honours_range && !stale && request.method() == Method::GET {
            ask
        } else {
            RangeAsk::Whole
        };
        let merged = match (&ask, self.behaviour) {
            (RangeAsk::Bytes { first, last }, Behaviour::MergesRanges) => {
                Some(merge::merge(*first, *last, size))
            }
            _ => None,
        };
        let (status, first, end) = match ask {
            RangeAsk::Whole => (StatusCode::OK, 0, size),
            RangeAsk::Bytes { first: wide, last } => match merged {
                Some(merge::Merged::Widened { first, last }) => {
                    (StatusCode::PARTIAL_CONTENT, first, last + 1)
                }
                _ => (StatusCode::PARTIAL_CONTENT, wide, last + 1),
            },
            RangeAsk::Unsatisfiable => {
                record(416);
                let mut response = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                response
                    .headers_mut()
                    .insert(CONTENT_RANGE, format!("bytes */{size}").parse().expect("ascii"));
                return Ok(response);
            }
        };
        record(status.as_u16());
        let sized = self.behaviour != Behaviour::NoContentLength;
        let head_only = request.method() == Method::HEAD;
        let body_end = if head_only { first } else { end };
        let mut body = ContentBody::new(key, first, body_end, self.bytes_per_sec, sized);
        let multipart = merged == Some(merge::Merged::Multipart);
        let mut framing_len = 0;
        if multipart && !head_only {
            let (before, after) = merge::multipart_framing(first, end - 1, size);
            framing_len = (before.len() + after.len()) as u64;
            body = body.framed(before, after);
        }
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        let content_type = if multipart {
            format!("multipart/byteranges; boundary={}", merge::BOUNDARY)
        } else {
            "application/octet-stream".to_owned()
        };
        headers.insert(CONTENT_TYPE, content_type.parse().expect("ascii"));
        headers.insert(LAST_MODIFIED, validators.1.parse().expect("ascii"));
        headers.insert(ETAG, validators.0.parse().expect("ascii"));
        if honours_range {
            headers.insert(ACCEPT_RANGES, "bytes".parse().expect("ascii"));
        }
        if sized {
            headers.insert(CONTENT_LENGTH, (end - first + framing_len).into());
        }
        // A multipart body carries its Content-Range in the part, not the response head.
        if status == StatusCode::PARTIAL_CONTENT && !multipart {
            headers.insert(
                CONTENT_RANGE,
                format!("bytes {first}-{}/{size}", end - 1).parse().expect("ascii"),
            );
        }
        Ok(response)
    }

    /// `(ETag, Last-Modified)` of a version.
    fn validators(&self, key: ContentKey, path: &str, version: u32) -> (String, String) {
        let from = self.files[path][version as usize].from;
        // Version 0 was written a day before the simulation began; later ones when they change.
        let unix = (self.epoch_unix_secs + from.as_secs()).saturating_sub(if version == 0 {
            86_400
        } else {
            0
        });
        // A mirror's ETag is its own, as IIS farm servers' ETags differ for the same file:
        // only size and Last-Modified identify a version across servers (spec §3.8).
        let etag = if self.mirrors.contains_key(path) {
            format!("\"{:016x}:{}\"", key.0, self.name)
        } else {
            format!("\"{:016x}\"", key.0)
        };
        (etag, http_date(unix))
    }

    fn record(
        &self,
        facts: &Facts,
        (version, size): (u32, u64),
        start: Option<u64>,
        past_eof: bool,
        status: u16,
    ) {
        self.recorder.record(
            &self.name,
            SimEvent::Served {
                client: facts.client.to_string(),
                port: facts.port,
                connection: facts.connection,
                method: facts.method.clone(),
                path: facts.path.clone(),
                version,
                size,
                range: facts.range.clone(),
                if_range: facts.if_range.clone(),
                start,
                past_eof,
                status,
                location: facts.location.clone(),
                credentials: Box::new(facts.credentials.clone()),
            },
        );
    }
}

/// What a server saw of one request, for the trace.
pub struct Facts {
    pub client: Rc<str>,
    pub port: u16,
    /// The server's number for the connection (in order of acceptance).
    pub connection: u64,
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub credentials: Credentials,
    pub location: Option<String>,
}

impl Facts {
    pub fn new(
        client: Rc<str>,
        (port, connection): (u16, u64),
        request: &Request<Incoming>,
    ) -> Self {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let seen = |name| {
            request.headers().get(name).map(|value: &http::HeaderValue| identify(value.as_bytes()))
        };
        Self {
            client,
            port,
            connection,
            method: request.method().as_str().to_owned(),
            path: request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            range: header(RANGE),
            if_range: header(IF_RANGE),
            credentials: Credentials {
                authorization: seen(AUTHORIZATION),
                proxy_authorization: seen(PROXY_AUTHORIZATION),
                ..Credentials::default()
            },
            location: None,
        }
    }
}

fn empty(status: StatusCode) -> Response<ContentBody> {
    let mut response = Response::new(ContentBody::new(ContentKey(0), 0, 0, None, true));
    *response.status_mut() = status;
    response
}

/// A single `bytes=` range (RFC 9110 §14.1.2). Several ranges or a malformed header are
/// answered with the whole file, which RFC 9110 allows.
fn parse_range(header: &str, size: u64) -> RangeAsk {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeAsk::Whole };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else { return RangeAsk::Whole };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // Suffix: the last n bytes.
        (true, _, Some(suffix)) if suffix > 0 && size > 0 => {
            RangeAsk::Bytes { first: size.saturating_sub(suffix), last: size - 1 }
        }
        (true, _, _) => RangeAsk::Unsatisfiable,
        (false, Some(first), _) if first >= size => RangeAsk::Unsatisfiable,
        (false, Some(first), None) if last.trim().is_empty() => {
            RangeAsk::Bytes { first, last: size - 1 }
        }
        (false, Some(first), Some(last)) if last >= first => {
            RangeAsk::Bytes { first, last: last.min(size - 1) }
        }
        _ => RangeAsk::Whole,
    }
}

/// The first byte a `bytes=first-...` header names, even when unsatisfiable.
fn range_first(header: &str) -> Option<u64> {
    header.trim().strip_prefix("bytes=")?.split_once('-')?.0.trim().parse().ok()
}

/// Whether any range in the header names a byte at or past the end of the file.
fn reaches_past_eof(header: &str, size: u64) -> bool {
    let Some(specs) = header.trim().strip_prefix("bytes=") else { return false };
    specs.split(',').any(|spec| {
        let Some((first, last)) = spec.split_once('-') else { return false };
        let (first, last) = (first.trim().parse::<u64>().ok(), last.trim().parse::<u64>().ok());
        first.is_some_and(|first| first >= size)
            || last.is_some_and(|last| first.is_some() && last >= size)
    })
}

/// An IMF-fixdate (`Thu, 01 Jan 2026 00:00:00 GMT`, RFC 9110 §5.6.7).
fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAsk::Bytes { first: 0, last: 9 });
        assert_eq!(parse_range("bytes=90-", 100), RangeAsk::Bytes { first: 90, last: 99 });
        assert_eq!(parse_range("bytes=90-200", 100), RangeAsk::Bytes { first: 90, last: 99 });
        assert_eq!(parse_range("bytes=-10", 100), RangeAsk::Bytes { first: 90, last: 99 });
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAsk::Whole);
    }

    #[test]
    fn past_eof_means_any_byte_at_or_beyond_the_size() {
        assert!(!reaches_past_eof("bytes=0-99", 100));
        assert!(!reaches_past_eof("bytes=50-", 100));
        assert!(!reaches_past_eof("bytes=-500", 100), "a suffix longer than the file is the file");
        assert!(reaches_past_eof("bytes=50-100", 100));
        assert!(reaches_past_eof("bytes=100-", 100));
        assert!(reaches_past_eof("bytes=0-1,99-100", 100));
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_767_225_600), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(http_date(951_782_400 + 3661), "Tue, 29 Feb 2000 01:01:01 GMT");
    }
}
