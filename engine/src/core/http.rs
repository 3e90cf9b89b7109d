//! The HTTP rules of a BITS download, as pure functions: which URL we accept, what a HEAD must
//! say, which `Range` to ask for, and whether a GET response may be written to disk.
//!
//! Ranges are half-open (`start..end`) everywhere inside the engine; HTTP's inclusive
//! `first-last` form appears only in [`range_header`] and [`ContentRange::parse`].

use std::ops::Range;

use http::HeaderMap;
use http::header::{
    ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    LAST_MODIFIED, TRANSFER_ENCODING,
};
use serde::{Deserialize, Serialize};

use super::defect::{Defect, Defects};
use super::error::{ApiError, TransferError, TransportFailure};
use super::hresult::Hresult;

/// A remote name may be at most this long (spec §2.5, RemoteName: 2,200 characters).
pub const REMOTE_NAME_LEN_MAX: usize = 2_200;

/// A parsed `http://host[:port]/path` remote name.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RemoteUrl {
    pub host: String,
    pub port: u16,
    /// The value for the `Host` header: the host, plus the port when it is not 80.
    pub authority: String,
    /// Path and query, as sent in the request line.
    pub path_and_query: String,
}

impl RemoteUrl {
    /// Parses a remote name as `AddFile` does, refusing what we cannot transfer.
    pub fn parse(url: &str) -> Result<Self, ApiError> {
        if url.len() > REMOTE_NAME_LEN_MAX {
            return Err(ApiError::invalid_arg(format!(
                "remote name is {} characters; BITS allows {REMOTE_NAME_LEN_MAX}",
                url.len()
            )));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|error| ApiError::invalid_arg(format!("remote name `{url}`: {error}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(ApiError::invalid_arg(format!(
                    "remote name `{url}`: scheme `{other}` is not supported (only http)"
                )));
            }
            None => {
                return Err(ApiError::invalid_arg(format!(
                    "remote name `{url}` is not an absolute http:// URL"
                )));
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| ApiError::invalid_arg(format!("remote name `{url}` has no host")))?;
        if authority.as_str().contains('@') {
            return Err(ApiError::invalid_arg(format!(
                "remote name `{}` carries credentials; they are not supported yet",
                uri.host().unwrap_or_default()
            )));
        }
        let host = authority.host().to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let authority = if port == 80 { host.clone() } else { format!("{host}:{port}") };
        Ok(Self { host, port, authority, path_and_query })
    }
}

/// What identifies one version of a remote file besides its size. BITS itself compares only
/// Last-Modified (spec §3.4); we also compare a strong ETag when the server sends one.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Validators {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub etag: Option<String>,
}

impl Validators {
    fn from_headers(headers: &HeaderMap) -> Self {
        Self { last_modified: text(headers, LAST_MODIFIED), etag: text(headers, ETAG) }
    }

    /// Which validator proves `other` is a different version, if any. A validator missing on
    /// either side proves nothing.
    pub fn changed_in(&self, other: &Self) -> Option<&'static str> {
        let differs =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if differs(&self.last_modified, &other.last_modified) {
            Some("Last-Modified")
        } else if differs(&self.etag, &other.etag) {
            Some("ETag")
        } else {
            None
        }
    }

    /// The value for `If-Range`: a strong ETag if we have one, else the Last-Modified date.
    fn if_range(&self) -> Option<String> {
        match &self.etag {
            Some(etag) if !etag.starts_with("W/") => Some(etag.clone()),
            _ => self.last_modified.clone(),
        }
    }
}

/// What the server says about the remote file: its size and version.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RemoteInfo {
    pub size: u64,
    pub validators: Validators,
    /// `Accept-Ranges: bytes`: the server says it can continue a transfer where another
    /// stopped (what SetRemoteName needs to keep progress, spec §3.8).
    pub accepts_ranges: bool,
}

/// Reads a HEAD response. BITS needs the size up front: no Content-Length is
/// BG_E_MISSING_FILE_SIZE (spec §3.1, §10 #2).
pub fn parse_head(status: u16, headers: &HeaderMap) -> Result<RemoteInfo, TransferError> {
    if status != 200 {
        return Err(status_error(status));
    }
    check_identity_encoding(headers)?;
    let size = match headers.get(CONTENT_LENGTH) {
        None => {
            return Err(TransferError::remote(
                Hresult::BG_E_MISSING_FILE_SIZE,
                "HEAD response has no Content-Length",
            ));
        }
        Some(value) => parse_length(value.to_str().ok()).ok_or_else(|| {
            invalid_response(format!("HEAD Content-Length `{}` is not a number", show(value)))
        })?,
    };
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(invalid_response(
            "HEAD response has both Content-Length and Transfer-Encoding",
        ));
    }
    let accepts_ranges = headers
        .get_all(ACCEPT_RANGES)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"));
    Ok(RemoteInfo { size, validators: Validators::from_headers(headers), accepts_ranges })
}

/// One GET: the byte range we want (`None` = the whole file, no `Range` header) and the
/// `If-Range` validator that makes a changed file come back as a plain 200.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GetPlan {
    pub range: Option<Range<u64>>,
    pub if_range: Option<String>,
}

impl GetPlan {
    /// The first byte this GET asks for.
    pub fn start(&self) -> u64 {
        self.range.as_ref().map_or(0, |range| range.start)
    }
}

/// The GET that fetches the remote bytes `wanted` (not empty, inside the file): the rest of
/// the file from the offset reached, or the rest of one requested range of a ranged file.
///
/// The range never reaches past the end of the file: BITS 2.0 sometimes asked for bytes beyond
/// EOF and broke ISAPI servers such as SMS 2003 (KB 842309 known issue 1). A request for the
/// whole file carries no `Range`, as [MC-BUP] 3.6.5.2.4 recommends.
pub fn plan_get(remote: &RemoteInfo, wanted: Range<u64>, defects: Defects) -> GetPlan {
    let mut end = wanted.end;
    if defects.contains(Defect::RangeOnePastEof) {
        end += 1;
    }
    if wanted.start == 0 && end == remote.size {
        return GetPlan { range: None, if_range: None };
    }
    GetPlan { range: Some(wanted.start..end), if_range: remote.validators.if_range() }
}

/// Whether a request that failed with `failure` before any answer is sent again on a new
/// connection. Only when the connection was reused: servers close idle or HTTP/1.0
/// connections after a response, and the client can notice only when its next request dies.
/// HEAD and GET are idempotent, so sending once more is safe; a fresh connection that fails
/// is a real error.
pub fn resend_on_new_connection(reused_connection: bool, failure: TransportFailure) -> bool {
    reused_connection && failure == TransportFailure::Closed
}

/// The `Range` header value for a half-open range: `bytes=first-last`.
pub fn range_header(range: &Range<u64>) -> String {
    format!("bytes={}-{}", range.start, range.end - 1)
}

/// What to do with a GET response that passed validation.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BodyPlan {
    /// Write `length` body bytes at file offset `start`.
    Accept { start: u64, length: u64 },
    /// The remote file is a different version now: restart the file from byte 0.
    RemoteChanged { reason: String },
}

/// Checks a GET response against the plan and what HEAD said ([MC-BUP] 3.6.5.2.4.2):
/// a 206 must carry a Content-Range starting exactly at the requested offset; a 200 is fine
/// only for a whole-file request; a 200 to a ranged request means the server (or a proxy)
/// ignores `Range`, BG_E_INSUFFICIENT_RANGE_SUPPORT, unless its validators show that the file
/// changed (our `If-Range` made the server send the new version whole).
pub fn check_get_response(
    plan: &GetPlan,
    known: &RemoteInfo,
    status: u16,
    headers: &HeaderMap,
) -> Result<BodyPlan, TransferError> {
    if status != 200 && status != 206 {
        return Err(status_error(status));
    }
    check_identity_encoding(headers)?;
    let validators = Validators::from_headers(headers);
    if let Some(which) = known.validators.changed_in(&validators) {
        return Ok(BodyPlan::RemoteChanged { reason: format!("{which} changed since HEAD") });
    }
    let content_length = match headers.get(CONTENT_LENGTH) {
        None => None,
        Some(value) => Some(parse_length(value.to_str().ok()).ok_or_else(|| {
            invalid_response(format!("Content-Length `{}` is not a number", show(value)))
        })?),
    };
    match (status, &plan.range) {
        (200, None) => match content_length {
            Some(length) if length == known.size => Ok(BodyPlan::Accept { start: 0, length }),
            Some(length) => Ok(BodyPlan::RemoteChanged {
                reason: format!("GET length {length} differs from HEAD size {}", known.size),
            }),
            None => Err(invalid_response("200 response without Content-Length")),
        },
        (200, Some(range)) => Err(TransferError::remote(
            Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT,
            format!("server answered `Range: {}` with 200 and the whole file", range_header(range)),
        )),
        (206, None) => Err(invalid_response("206 response to a request without Range")),
        (_, Some(range)) => check_partial(range, known, headers, content_length),
        _ => unreachable!("status is 200 or 206"),
    }
}

/// The 206 half of [`check_get_response`].
fn check_partial(
    range: &Range<u64>,
    known: &RemoteInfo,
    headers: &HeaderMap,
    content_length: Option<u64>,
) -> Result<BodyPlan, TransferError> {
    if let Some(kind) = headers.get(CONTENT_TYPE)
        && kind.as_bytes().starts_with(b"multipart/byteranges")
    {
        return Err(invalid_response("multipart response to a single-range request"));
    }
    let value = headers
        .get(CONTENT_RANGE)
        .ok_or_else(|| invalid_response("206 response without Content-Range"))?;
    let served = ContentRange::parse(value.to_str().unwrap_or(""))
        .ok_or_else(|| invalid_response(format!("malformed Content-Range `{}`", show(value))))?;
    if served.complete_length != Some(known.size) {
        return Ok(BodyPlan::RemoteChanged {
            reason: format!("Content-Range `{}` shows a new size", show(value)),
        });
    }
    if served.range.start != range.start {
        return Err(invalid_response(format!(
            "asked for {} but Content-Range is `{}`",
            range_header(range),
            show(value)
        )));
    }
    if served.range.end > range.end.min(known.size) {
        return Err(invalid_response(format!(
            "Content-Range `{}` goes past the requested {}",
            show(value),
            range_header(range)
        )));
    }
    let length = served.range.end - served.range.start;
    if content_length.is_some_and(|declared| declared != length) {
        return Err(invalid_response(format!(
            "Content-Length {} disagrees with Content-Range `{}`",
            content_length.unwrap_or_default(),
            show(value)
        )));
    }
    Ok(BodyPlan::Accept { start: served.range.start, length })
}

/// A parsed `Content-Range: bytes first-last/complete` header (RFC 9110 §14.4).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ContentRange {
    /// Half-open.
    pub range: Range<u64>,
    /// `None` when the server sent `*`.
    pub complete_length: Option<u64>,
}

impl ContentRange {
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix("bytes ")?;
        let (range, complete) = rest.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let first = parse_length(Some(first))?;
        let last = parse_length(Some(last))?;
        if last < first {
            return None;
        }
        let complete_length = match complete {
            "*" => None,
            digits => Some(parse_length(Some(digits))?),
        };
        if complete_length.is_some_and(|total| last >= total) {
            return None;
        }
        Some(Self { range: first..last.checked_add(1)?, complete_length })
    }
}

/// BITS asks for identity encoding; a compressed body would break every length check.
fn check_identity_encoding(headers: &HeaderMap) -> Result<(), TransferError> {
    match headers.get(CONTENT_ENCODING) {
        Some(value) if !value.as_bytes().eq_ignore_ascii_case(b"identity") => {
            Err(invalid_response(format!("Content-Encoding `{}` instead of identity", show(value))))
        }
        _ => Ok(()),
    }
}

/// An HTTP status other than the one we need, as `BG_E_HTTP_ERROR_xxx`.
pub fn status_error(status: u16) -> TransferError {
    TransferError::remote(Hresult::http_status(status), format!("server answered HTTP {status}"))
}

fn invalid_response(detail: impl Into<String>) -> TransferError {
    TransferError::remote(Hresult::BG_E_INVALID_SERVER_RESPONSE, detail)
}

/// Digits only: no sign, no spaces inside, at most `u64`.
fn parse_length(text: Option<&str>) -> Option<u64> {
    let text = text?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn text(headers: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

/// A header value for an error message, cut short so a hostile server cannot flood the trace.
fn show(value: &http::HeaderValue) -> String {
    /// Enough for any honest Content-Range or Content-Length.
    const SHOWN_LEN_MAX: usize = 80;
    let text = String::from_utf8_lossy(value.as_bytes());
    text.chars().take(SHOWN_LEN_MAX).collect()
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn remote(size: u64) -> RemoteInfo {
        RemoteInfo {
            size,
            validators: Validators {
                last_modified: Some("Thu, 01 Jan 2026 00:00:00 GMT".into()),
                etag: Some("\"v1\"".into()),
            },
            accepts_ranges: true,
        }
    }

    #[test]
    fn urls_parse_with_default_and_explicit_ports() {
        let url = RemoteUrl::parse("http://origin/files/a.bin?x=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("origin", 80));
        assert_eq!(url.authority, "origin");
        assert_eq!(url.path_and_query, "/files/a.bin?x=1");
        let url = RemoteUrl::parse("http://origin:8080").unwrap();
        assert_eq!(
            (url.port, url.authority.as_str(), url.path_and_query.as_str()),
            (8080, "origin:8080", "/")
        );
    }

    #[test]
    fn unsupported_urls_are_invalid_arguments() {
        for bad in ["https://origin/a", "origin/a", "http://user:pw@origin/a", "ftp://x/y"] {
            let error = RemoteUrl::parse(bad).unwrap_err();
            assert_eq!(error.code, Hresult::E_INVALIDARG, "{bad}");
            assert!(!error.message.contains("pw"), "credentials leak into `{}`", error.message);
        }
        let long = format!("http://origin/{}", "a".repeat(REMOTE_NAME_LEN_MAX));
        assert_eq!(RemoteUrl::parse(&long).unwrap_err().code, Hresult::E_INVALIDARG);
    }

    #[test]
    fn head_without_length_is_missing_file_size() {
        let error = parse_head(200, &headers(&[("transfer-encoding", "chunked")])).unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_MISSING_FILE_SIZE);
        assert!(!error.is_transient());
    }

    #[test]
    fn head_reads_size_and_validators() {
        let info = parse_head(200, &headers(&[("content-length", "1000"), ("etag", "\"v1\"")]));
        let info = info.unwrap();
        assert_eq!(info.size, 1000);
        assert_eq!(info.validators.etag.as_deref(), Some("\"v1\""));
    }

    #[test]
    fn head_errors_map_statuses() {
        assert_eq!(parse_head(404, &HeaderMap::new()).unwrap_err().code, Hresult(0x8019_0194));
        let bad = parse_head(200, &headers(&[("content-length", "-5")])).unwrap_err();
        assert_eq!(bad.code, Hresult::BG_E_INVALID_SERVER_RESPONSE);
        let gzip =
            parse_head(200, &headers(&[("content-length", "5"), ("content-encoding", "gzip")]));
        assert_eq!(gzip.unwrap_err().code, Hresult::BG_E_INVALID_SERVER_RESPONSE);
    }

    #[test]
    fn plans_never_reach_past_eof() {
        let info = remote(1000);
        assert_eq!(plan_get(&info, 0..1000, Defects::default()).range, None);
        let plan = plan_get(&info, 400..1000, Defects::default());
        assert_eq!(plan.range, Some(400..1000));
        assert_eq!(range_header(plan.range.as_ref().unwrap()), "bytes=400-999");
        assert_eq!(plan.if_range.as_deref(), Some("\"v1\""));
        assert_eq!(plan_get(&info, 999..1000, Defects::default()).range, Some(999..1000));
        // One range of a ranged file: exactly that range, even from byte 0.
        assert_eq!(plan_get(&info, 0..100, Defects::default()).range, Some(0..100));
        assert_eq!(plan_get(&info, 900..950, Defects::default()).range, Some(900..950));
    }

    #[test]
    fn if_range_prefers_a_strong_etag() {
        let mut info = remote(10);
        info.validators.etag = Some("W/\"weak\"".into());
        let plan = plan_get(&info, 5..10, Defects::default());
        assert_eq!(plan.if_range, info.validators.last_modified);
    }

    #[test]
    fn a_206_must_start_at_the_requested_offset() {
        let info = remote(1000);
        let plan = plan_get(&info, 400..1000, Defects::default());
        let ok = headers(&[("content-range", "bytes 400-999/1000"), ("content-length", "600")]);
        assert_eq!(
            check_get_response(&plan, &info, 206, &ok),
            Ok(BodyPlan::Accept { start: 400, length: 600 })
        );
        let late = headers(&[("content-range", "bytes 401-999/1000")]);
        let error = check_get_response(&plan, &info, 206, &late).unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_INVALID_SERVER_RESPONSE);
        let missing = check_get_response(&plan, &info, 206, &HeaderMap::new()).unwrap_err();
        assert_eq!(missing.code, Hresult::BG_E_INVALID_SERVER_RESPONSE);
    }

    #[test]
    fn a_response_that_does_not_answer_the_one_range_asked_is_invalid() {
        // A server that merges ranges answers one range of a ranged file with a bigger one, or
        // as multipart/byteranges (spec §3.3: BG_E_INVALID_SERVER_RESPONSE, fatal).
        let info = remote(10_000);
        let plan = plan_get(&info, 2000..2100, Defects::default());
        assert_eq!(range_header(plan.range.as_ref().unwrap()), "bytes=2000-2099");
        for answer in [
            headers(&[("content-range", "bytes 0-2099/10000")]),
            headers(&[("content-range", "bytes 2000-4095/10000")]),
            headers(&[("content-range", "bytes 1024-3071/10000")]),
            headers(&[("content-type", "multipart/byteranges; boundary=x")]),
        ] {
            let error = check_get_response(&plan, &info, 206, &answer).unwrap_err();
            assert_eq!(error.code, Hresult::BG_E_INVALID_SERVER_RESPONSE, "{answer:?}");
            assert!(!error.is_transient());
        }
        let exact = headers(&[("content-range", "bytes 2000-2099/10000")]);
        assert_eq!(
            check_get_response(&plan, &info, 206, &exact),
            Ok(BodyPlan::Accept { start: 2000, length: 100 })
        );
    }

    #[test]
    fn a_200_to_a_ranged_request_is_insufficient_range_support() {
        let info = remote(1000);
        let plan = plan_get(&info, 400..1000, Defects::default());
        let same = headers(&[("content-length", "1000"), ("etag", "\"v1\"")]);
        let error = check_get_response(&plan, &info, 200, &same).unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT);
        assert!(!error.is_transient());
    }

    #[test]
    fn a_200_with_new_validators_is_a_changed_file() {
        let info = remote(1000);
        let plan = plan_get(&info, 400..1000, Defects::default());
        let changed = headers(&[("content-length", "1200"), ("etag", "\"v2\"")]);
        let outcome = check_get_response(&plan, &info, 200, &changed).unwrap();
        assert!(matches!(outcome, BodyPlan::RemoteChanged { .. }));
    }

    #[test]
    fn a_whole_file_200_is_accepted() {
        let info = remote(1000);
        let plan = plan_get(&info, 0..1000, Defects::default());
        let ok = headers(&[("content-length", "1000")]);
        assert_eq!(
            check_get_response(&plan, &info, 200, &ok),
            Ok(BodyPlan::Accept { start: 0, length: 1000 })
        );
        let error = check_get_response(&plan, &info, 206, &ok).unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_INVALID_SERVER_RESPONSE);
    }

    #[test]
    fn a_new_total_in_content_range_is_a_changed_file() {
        let info = remote(1000);
        let plan = plan_get(&info, 400..1000, Defects::default());
        let grown = headers(&[("content-range", "bytes 400-1199/1200")]);
        let outcome = check_get_response(&plan, &info, 206, &grown).unwrap();
        assert!(matches!(outcome, BodyPlan::RemoteChanged { .. }));
    }

    #[test]
    fn other_statuses_keep_their_http_code() {
        let info = remote(1000);
        let plan = plan_get(&info, 400..1000, Defects::default());
        let error = check_get_response(&plan, &info, 503, &HeaderMap::new()).unwrap_err();
        assert_eq!(error.code, Hresult::http_status(503));
        assert!(error.is_transient());
    }

    #[test]
    fn only_a_reused_connection_that_closed_is_worth_a_second_try() {
        assert!(resend_on_new_connection(true, TransportFailure::Closed));
        assert!(!resend_on_new_connection(false, TransportFailure::Closed));
        assert!(!resend_on_new_connection(true, TransportFailure::TimedOut));
        assert!(!resend_on_new_connection(true, TransportFailure::Malformed));
    }

    #[test]
    fn content_range_parsing_rejects_nonsense() {
        let parsed = ContentRange::parse("bytes 0-9/10").unwrap();
        assert_eq!((parsed.range, parsed.complete_length), (0..10, Some(10)));
        assert_eq!(ContentRange::parse("bytes 0-9/*").unwrap().complete_length, None);
        for bad in [
            "bytes 9-0/10",
            "bytes 0-10/10",
            "items 0-1/2",
            "bytes -1-2/3",
            "bytes 0-1",
            "bytes 0-99999999999999999999/1",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }
}
