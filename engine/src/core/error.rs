//! Errors grouped the way BITS groups them: by who is at fault (the error context), each with
//! its public HRESULT and whether BITS retries it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::hresult::Hresult;

/// `BG_ERROR_CONTEXT`: which party an error is blamed on (spec §7.3).
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorContext {
    /// The engine itself (queue, journal).
    GeneralQueueManager = 2,
    /// The local destination or temporary file.
    LocalFile = 4,
    /// The remote server or the file on it.
    RemoteFile = 5,
    /// The network between us and the server.
    GeneralTransport = 6,
}

impl ErrorContext {
    pub const fn name(self) -> &'static str {
        match self {
            Self::GeneralQueueManager => "GENERAL_QUEUE_MANAGER",
            Self::LocalFile => "LOCAL_FILE",
            Self::RemoteFile => "REMOTE_FILE",
            Self::GeneralTransport => "GENERAL_TRANSPORT",
        }
    }
}

/// Why a transfer of one file stopped: a BITS code, who is to blame, and a description for
/// people. The description never carries credentials.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct TransferError {
    pub code: Hresult,
    pub context: ErrorContext,
    pub detail: String,
}

impl TransferError {
    pub fn new(code: Hresult, context: ErrorContext, detail: impl Into<String>) -> Self {
        Self { code, context, detail: detail.into() }
    }

    /// A problem with what the server sent.
    pub fn remote(code: Hresult, detail: impl Into<String>) -> Self {
        Self::new(code, ErrorContext::RemoteFile, detail)
    }

    /// A problem reaching the server.
    pub fn transport(code: Hresult, detail: impl Into<String>) -> Self {
        Self::new(code, ErrorContext::GeneralTransport, detail)
    }

    /// A problem with the local file, from the I/O error that reported it.
    pub fn local_io(action: &str, error: &std::io::Error) -> Self {
        let code = match error.kind() {
            std::io::ErrorKind::NotFound => Hresult::PATH_NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => Hresult::ACCESS_DENIED,
            std::io::ErrorKind::StorageFull => Hresult::DISK_FULL,
            _ => Hresult::GEN_FAILURE,
        };
        Self::new(code, ErrorContext::LocalFile, format!("{action}: {error}"))
    }

    /// Whether the job goes to TRANSIENT_ERROR and is retried (true) or to ERROR (false).
    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.code)?;
        if let Some(name) = self.code.name() {
            write!(f, "{name} ")?;
        }
        write!(f, "[{}] {}", self.context.name(), self.detail)
    }
}

impl std::error::Error for TransferError {}

/// How talking to a server failed, as the IO side observed it. The engine reports each as the
/// WinHTTP error BITS would (spec §7.1); all of them are transient.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum TransportFailure {
    /// The host name does not resolve.
    NameNotResolved,
    /// The connection was refused or could not be opened.
    Refused,
    /// Connecting, sending, or waiting for the next bytes took longer than its timeout.
    TimedOut,
    /// The connection closed or reset before the exchange finished.
    Closed,
    /// The bytes are not an HTTP/1.1 response.
    Malformed,
}

impl TransportFailure {
    pub fn into_error(self, detail: impl Into<String>) -> TransferError {
        let code = match self {
            Self::NameNotResolved => Hresult::WINHTTP_NAME_NOT_RESOLVED,
            Self::Refused => Hresult::WINHTTP_CANNOT_CONNECT,
            Self::TimedOut => Hresult::WINHTTP_TIMEOUT,
            Self::Closed => Hresult::WINHTTP_CONNECTION_ERROR,
            Self::Malformed => Hresult::WINHTTP_INVALID_SERVER_RESPONSE,
        };
        TransferError::transport(code, detail)
    }
}

/// The error a job reports in ERROR or TRANSIENT_ERROR (`IBackgroundCopyError`): the transfer
/// error plus the file it happened on.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct JobError {
    #[serde(flatten)]
    pub error: TransferError,
    /// Index of the file in the job, when the error is tied to one.
    pub file: Option<usize>,
}

/// A call to the engine's API that BITS would refuse, with the HRESULT it would return.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{code} {}: {message}", code.name().unwrap_or("error"))]
pub struct ApiError {
    pub code: Hresult,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Hresult, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Self::new(Hresult::E_INVALIDARG, message)
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(Hresult::BG_E_INVALID_STATE, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_io_errors_map_to_win32_codes() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let error = TransferError::local_io("create /x/BIT1.tmp", &missing);
        assert_eq!(error.code, Hresult::PATH_NOT_FOUND);
        assert_eq!(error.context, ErrorContext::LocalFile);
        assert!(!error.is_transient());
    }

    #[test]
    fn display_names_code_context_and_detail() {
        let error = TransferError::remote(Hresult::BG_E_MISSING_FILE_SIZE, "HEAD without length");
        assert_eq!(
            error.to_string(),
            "0x80200011 BG_E_MISSING_FILE_SIZE [REMOTE_FILE] HEAD without length"
        );
    }
}
