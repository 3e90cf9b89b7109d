//! The client side of the BITS Upload Protocol ([MC-BUP], spec §8), sans IO: packet headers,
//! fragment planning and sizes, reading Acks, what an Ack means for the next step, and where
//! the reply of an upload-reply job is.
//!
//! The state machine (spec §8.4) is INIT -> CREATE_SESSION -> FRAGMENT* -> (GET_REPLY) ->
//! CLOSE; [`judge_fragment_ack`] decides each step after a fragment. No Ping: it exists to
//! follow a `BITS-Host-Id` to another server of a farm, which bitsim does not model.

use serde::{Deserialize, Serialize};

use super::error::{ErrorContext, TransferError};
use super::hresult::Hresult;
use super::http::RemoteUrl;

/// The only upload protocol ever defined: "BITS 1.5 Upload Protocol" (spec §8.1).
pub const PROTOCOL_GUID: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// The HTTP method of every packet (spec §8.1).
pub const METHOD: &str = "BITS_POST";

pub const HEADER_PACKET_TYPE: &str = "BITS-Packet-Type";
pub const HEADER_SUPPORTED_PROTOCOLS: &str = "BITS-Supported-Protocols";
pub const HEADER_PROTOCOL: &str = "BITS-Protocol";
pub const HEADER_SESSION_ID: &str = "BITS-Session-Id";
pub const HEADER_RECEIVED_RANGE: &str = "BITS-Received-Content-Range";
pub const HEADER_REPLY_URL: &str = "BITS-Reply-URL";
/// The error header as MSDN and third-party servers name it; [MC-BUP] calls it `BITS-Error`
/// and clients accept both (spec §8.1).
pub const HEADER_ERROR_CODE: &str = "BITS-Error-Code";
pub const HEADER_ERROR: &str = "BITS-Error";
pub const HEADER_ERROR_CONTEXT: &str = "BITS-Error-Context";

/// The largest fragment the 2.0 client sends: without BITS 2.5 the maximum is 128 KB
/// (spec §8.4). bitsim is a 2.0 engine, and a fragment is also what is resent after an
/// interruption, so the smaller size costs less on a slow link.
pub const FRAGMENT_SIZE_DEFAULT: u64 = 128 << 10;

/// After a 413 the client shrinks its fragments but never below 5 KB (spec §8.4, <16>).
pub const FRAGMENT_SIZE_MIN: u64 = 5 << 10;

/// `BG_E_SESSION_NOT_FOUND`: the server forgot the session; start a new one (spec §8.3).
pub const SESSION_NOT_FOUND: Hresult = Hresult(0x8020_001F);
/// The fragment or the upload is too large for the server (spec §8.3).
pub const UPLOAD_TOO_LARGE: Hresult = Hresult(0x8020_0020);

/// An upload file's durable protocol state, kept in the journal beside the acknowledged
/// offset (`DurableFile::offset`): every field defaults so older journals still load.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct UploadFile {
    /// The session the server gave; a restart continues it (the server says the offset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Upload-reply: where the reply appears after Complete (`GetReplyFileName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_name: Option<String>,
    /// Upload-reply: the reply's URL from the final fragment's Ack, already resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_url: Option<String>,
    /// Upload-reply: the whole reply is synced in the temporary file; its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_len: Option<u64>,
}

/// The packets a client sends (spec §8.2), with the spelling the Windows client uses.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packet {
    CreateSession,
    Fragment,
    CloseSession,
    CancelSession,
}

impl Packet {
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreateSession => "Create-Session",
            Self::Fragment => "Fragment",
            Self::CloseSession => "Close-Session",
            Self::CancelSession => "Cancel-Session",
        }
    }
}

/// The headers of a packet, in the order they are sent (besides Host, User-Agent and
/// Content-Length, which the HTTP layer adds).
pub fn packet_headers(
    packet: Packet,
    session_id: Option<&str>,
    fragment: Option<Fragment>,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![(HEADER_PACKET_TYPE, packet.name().to_owned())];
    match packet {
        Packet::CreateSession => {
            headers.push((HEADER_SUPPORTED_PROTOCOLS, PROTOCOL_GUID.to_owned()));
        }
        Packet::Fragment | Packet::CloseSession | Packet::CancelSession => {
            if let Some(id) = session_id {
                headers.push((HEADER_SESSION_ID, id.to_owned()));
            }
        }
    }
    if let Some(fragment) = fragment {
        headers.push(("Content-Range", fragment.content_range()));
    }
    headers
}

/// One fragment: bytes `first..first + len` of a `total`-byte upload.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Fragment {
    pub first: u64,
    pub len: u64,
    pub total: u64,
}

impl Fragment {
    /// The next fragment from `offset`, at most `size` bytes; `None` once everything is sent.
    pub fn plan(offset: u64, total: u64, size: u64) -> Option<Self> {
        (offset < total).then(|| Self {
            first: offset,
            len: size.max(1).min(total - offset),
            total,
        })
    }

    pub fn end(self) -> u64 {
        self.first + self.len
    }

    /// `bytes a-b/total` (spec §8.2).
    pub fn content_range(self) -> String {
        format!("bytes {}-{}/{}", self.first, self.end() - 1, self.total)
    }
}

/// What a server's Ack says (spec §8.2); headers are looked up case-insensitively by the
/// caller.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Ack {
    pub status: u16,
    pub session_id: Option<String>,
    pub protocol: Option<String>,
    /// `BITS-Received-Content-Range`: the next byte the server expects.
    pub received: Option<u64>,
    pub reply_url: Option<String>,
    /// `BITS-Error-Code` or `BITS-Error`, when it parses as a hex HRESULT.
    pub error_code: Option<Hresult>,
}

impl Ack {
    pub fn parse<'a>(status: u16, header: impl Fn(&str) -> Option<&'a str>) -> Self {
        let text = |name| header(name).map(|value| value.trim().to_owned());
        let error = text(HEADER_ERROR_CODE).or_else(|| text(HEADER_ERROR));
        Self {
            status,
            session_id: text(HEADER_SESSION_ID).filter(|id| !id.is_empty()),
            protocol: text(HEADER_PROTOCOL),
            received: text(HEADER_RECEIVED_RANGE).and_then(|value| value.parse().ok()),
            reply_url: text(HEADER_REPLY_URL).filter(|url| !url.is_empty()),
            error_code: error.and_then(|code| {
                let hex = code.strip_prefix("0x").or_else(|| code.strip_prefix("0X"))?;
                u32::from_str_radix(hex, 16).ok().map(Hresult)
            }),
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self.status, 200 | 201)
    }

    fn session_not_found(&self) -> bool {
        self.error_code == Some(SESSION_NOT_FOUND)
    }

    /// The job's error for an Ack that failed: the BITS code the server sent, else
    /// `BG_E_HTTP_ERROR_xxx`; transient or fatal by the HTTP status (spec §2.8) whatever the
    /// code says, since the status is what BITS classifies.
    pub fn error(&self, packet: Packet) -> TransferError {
        let detail = format!(
            "{} answered with HTTP {}{}",
            packet.name(),
            self.status,
            self.error_code.map(|code| format!(", BITS-Error-Code {code}")).unwrap_or_default()
        );
        TransferError::new(Hresult::http_status(self.status), ErrorContext::RemoteFile, detail)
    }
}

/// What to do after a Create-Session Ack.
pub fn judge_create_ack(ack: &Ack) -> Result<String, TransferError> {
    if !ack.is_success() {
        return Err(ack.error(Packet::CreateSession));
    }
    if ack.protocol.as_deref().is_some_and(|guid| !guid.eq_ignore_ascii_case(PROTOCOL_GUID)) {
        return Err(TransferError::remote(
            Hresult::BG_E_INVALID_SERVER_RESPONSE,
            "the server chose an upload protocol this client did not offer",
        ));
    }
    ack.session_id.clone().ok_or_else(|| {
        TransferError::remote(
            Hresult::BG_E_INVALID_SERVER_RESPONSE,
            "Create-Session Ack without BITS-Session-Id",
        )
    })
}

/// The next step after a fragment's Ack (spec §8.4).
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum AckStep {
    /// Continue at `offset` (the server's `BITS-Received-Content-Range`), which it has
    /// acknowledged; `reply_url` comes with the final fragment of an upload-reply.
    Continue {
        offset: u64,
        reply_url: Option<String>,
    },
    /// The server forgot the session: start over with Create-Session from byte 0.
    NewSession,
    /// 413: send fragments of this size.
    Shrink {
        size: u64,
    },
    Fail(TransferError),
}

/// Reads a fragment's Ack. `follow_received` is false only for the deliberate defect that
/// ignores `BITS-Received-Content-Range`.
pub fn judge_fragment_ack(ack: &Ack, fragment: Fragment, follow_received: bool) -> AckStep {
    if ack.session_not_found() {
        return AckStep::NewSession;
    }
    if ack.status == 413 {
        let size = (fragment.len / 2).max(FRAGMENT_SIZE_MIN);
        if size >= fragment.len {
            return AckStep::Fail(ack.error(Packet::Fragment));
        }
        return AckStep::Shrink { size };
    }
    if !(ack.is_success() || ack.status == 416) {
        return AckStep::Fail(ack.error(Packet::Fragment));
    }
    let offset = match (follow_received, ack.received) {
        (false, _) => fragment.end(),
        (true, Some(received)) if received <= fragment.total => received,
        (true, _) => {
            return AckStep::Fail(TransferError::remote(
                Hresult::BG_E_INVALID_SERVER_RESPONSE,
                format!(
                    "fragment Ack (HTTP {}) without a usable {HEADER_RECEIVED_RANGE}",
                    ack.status
                ),
            ));
        }
    };
    AckStep::Continue { offset, reply_url: ack.reply_url.clone() }
}

/// Whether a Close-Session or Cancel-Session Ack is the last word: success, a server that
/// has no such session any more, or any 1xx-4xx (spec §8.4: never resent then). Only
/// other 5xx answers are resent.
pub fn session_end_is_final(ack: &Ack) -> bool {
    ack.is_success() || ack.session_not_found() || ack.status < 500
}

/// The reply's URL: `BITS-Reply-URL` resolved against the upload URL, backslashes turned
/// into slashes and braces percent-encoded, as the 2.5 client fetched it (spec §8.6).
pub fn resolve_reply_url(upload: &RemoteUrl, reply: &str) -> String {
    let cleaned: String = reply
        .replace('\\', "/")
        .chars()
        .flat_map(|c| match c {
            '{' => "%7B".chars().collect::<Vec<_>>(),
            '}' => "%7D".chars().collect(),
            other => vec![other],
        })
        .collect();
    let lower = cleaned.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return cleaned;
    }
    let base = format!("http://{}", upload.authority);
    if cleaned.starts_with('/') {
        return format!("{base}{cleaned}");
    }
    let path = upload.path_and_query.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |slash| slash + 1)];
    format!("{base}{dir}{cleaned}")
}

/// The reply file of an upload-reply job when the program sets none: beside the source
/// (BITS picks a name in a temporary directory; `GetReplyFileName` tells it).
pub fn reply_name_default(source: &str) -> String {
    format!("{source}.reply")
}

#[cfg(test)]
mod tests;
