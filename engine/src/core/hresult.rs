//! BITS error codes: HRESULTs, their names and whether BITS retries them.
//!
//! Public codes are exactly the ones BITS 2.0 reports (spec `bits.md` §7), so a trace from the
//! simulator can be compared with an event log from a real Windows client.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Windows HRESULT as BITS reports it, e.g. `0x80190194` for HTTP 404.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(into = "String", try_from = "String")]
pub struct Hresult(pub u32);

/// HTTP status `s` is reported as `HTTP_STATUS_BASE + s` (facility 0x19, spec §7.1).
const HTTP_STATUS_BASE: u32 = 0x8019_0000;

/// The HRESULT of a Win32 error code (`HRESULT_FROM_WIN32`).
const fn from_win32(code: u32) -> Hresult {
    Hresult(0x8007_0000 | code)
}

impl Hresult {
    pub const S_OK: Self = Self(0);
    /// Success with nothing done (ReplaceRemotePrefix that matched no file).
    pub const S_FALSE: Self = Self(1);
    pub const E_INVALIDARG: Self = Self(0x8007_0057);
    pub const E_NOTIMPL: Self = Self(0x8000_4001);
    /// Unspecified failure: what a notification callback that cannot take the event returns.
    pub const E_FAIL: Self = Self(0x8000_4005);

    pub const BG_E_NOT_FOUND: Self = Self(0x8020_0001);
    pub const BG_E_INVALID_STATE: Self = Self(0x8020_0002);
    pub const BG_E_EMPTY: Self = Self(0x8020_0003);
    pub const BG_E_NETWORK_DISCONNECTED: Self = Self(0x8020_0010);
    /// The bandwidth policy's limit is 0 in the current window (spec §5.2).
    pub const BG_E_BLOCKED_BY_POLICY: Self = Self(0x8020_003E);
    pub const BG_E_MISSING_FILE_SIZE: Self = Self(0x8020_0011);
    pub const BG_E_INSUFFICIENT_HTTP_SUPPORT: Self = Self(0x8020_0012);
    pub const BG_E_INSUFFICIENT_RANGE_SUPPORT: Self = Self(0x8020_0013);
    pub const BG_S_PARTIAL_COMPLETE: Self = Self(0x0020_0017);
    pub const BG_S_UNABLE_TO_DELETE_FILES: Self = Self(0x0020_001A);
    pub const BG_E_INVALID_SERVER_RESPONSE: Self = Self(0x8020_001B);
    pub const BG_E_TOO_MANY_FILES: Self = Self(0x8020_001C);
    pub const BG_E_STRING_TOO_LONG: Self = Self(0x8020_0021);
    pub const BG_E_INVALID_RANGE: Self = Self(0x8020_002B);
    /// AddFileWithRanges: duplicate or overlapping ranges (spec §3.7).
    pub const BG_E_OVERLAPPING_RANGES: Self = Self(0x8020_002C);
    /// More ranges than MaxRangesPerFile (BITS 3.0's limit, which we adopt; spec §3.7).
    pub const BG_E_TOO_MANY_RANGES_IN_FILE: Self = Self(0x8020_0052);
    pub const BG_E_CONNECTION_CLOSED: Self = Self(0x8020_002E);
    pub const BG_E_PROXY_LIST_TOO_LARGE: Self = Self(0x8020_0018);
    pub const BG_E_PROXY_BYPASS_LIST_TOO_LARGE: Self = Self(0x8020_0019);
    pub const BG_E_USERNAME_TOO_LARGE: Self = Self(0x8020_0025);
    pub const BG_E_PASSWORD_TOO_LARGE: Self = Self(0x8020_0026);
    pub const BG_E_INVALID_AUTH_TARGET: Self = Self(0x8020_0027);
    pub const BG_E_INVALID_AUTH_SCHEME: Self = Self(0x8020_0028);
    /// The proxy settings cannot be used; found when a transfer starts (spec §6.3).
    pub const BG_E_INVALID_PROXY_INFO: Self = Self(0x8020_003F);

    /// ERROR_PATH_NOT_FOUND: the destination directory does not exist.
    pub const PATH_NOT_FOUND: Self = from_win32(3);
    /// ERROR_ACCESS_DENIED on a local file.
    pub const ACCESS_DENIED: Self = from_win32(5);
    /// ERROR_DISK_FULL.
    pub const DISK_FULL: Self = from_win32(112);
    /// ERROR_GEN_FAILURE: any other local I/O failure.
    pub const GEN_FAILURE: Self = from_win32(31);
    /// ERROR_WINHTTP_TIMEOUT (12002): connect, send or receive timed out.
    pub const WINHTTP_TIMEOUT: Self = from_win32(12002);
    /// ERROR_WINHTTP_NAME_NOT_RESOLVED (12007).
    pub const WINHTTP_NAME_NOT_RESOLVED: Self = from_win32(12007);
    /// ERROR_WINHTTP_CANNOT_CONNECT (12029): connection refused.
    pub const WINHTTP_CANNOT_CONNECT: Self = from_win32(12029);
    /// ERROR_WINHTTP_CONNECTION_ERROR (12030): reset or closed mid-exchange.
    pub const WINHTTP_CONNECTION_ERROR: Self = from_win32(12030);
    /// ERROR_WINHTTP_REDIRECT_FAILED (12156): a redirect loop, or one we may not follow.
    pub const WINHTTP_REDIRECT_FAILED: Self = from_win32(12156);
    /// ERROR_WINHTTP_INVALID_SERVER_RESPONSE (12152): unparsable response.
    pub const WINHTTP_INVALID_SERVER_RESPONSE: Self = from_win32(12152);

    /// `BG_E_HTTP_ERROR_xxx`: the code for HTTP status `status`.
    pub const fn http_status(status: u16) -> Self {
        Self(HTTP_STATUS_BASE + status as u32)
    }

    /// The HTTP status this code stands for, if it is a `BG_E_HTTP_ERROR_xxx`.
    pub const fn as_http_status(self) -> Option<u16> {
        if self.0 >= HTTP_STATUS_BASE + 100 && self.0 < HTTP_STATUS_BASE + 600 {
            Some((self.0 - HTTP_STATUS_BASE) as u16)
        } else {
            None
        }
    }

    /// Whether BITS keeps a job that fails with this code in TRANSIENT_ERROR and retries it.
    ///
    /// HTTP statuses follow the only table Microsoft publishes (server-application errors,
    /// spec §2.8), which we apply to downloads too: 3xx transient except 300-305 and 307; 4xx
    /// fatal except 408 and 409; 5xx transient except 501 and 505; anything else transient.
    pub fn is_transient(self) -> bool {
        if let Some(status) = self.as_http_status() {
            return match status {
                300..=305 | 307 => false,
                408 | 409 => true,
                400..=499 => false,
                501 | 505 => false,
                _ => true,
            };
        }
        matches!(
            self,
            Self::WINHTTP_TIMEOUT
                | Self::WINHTTP_NAME_NOT_RESOLVED
                | Self::WINHTTP_CANNOT_CONNECT
                | Self::WINHTTP_CONNECTION_ERROR
                | Self::WINHTTP_INVALID_SERVER_RESPONSE
                | Self::BG_E_CONNECTION_CLOSED
                | Self::BG_E_NETWORK_DISCONNECTED
                | Self::BG_E_BLOCKED_BY_POLICY
                | Self::DISK_FULL
        )
    }

    /// The symbolic name, for traces and messages; `None` for codes without one.
    pub fn name(self) -> Option<&'static str> {
        NAMES.iter().find(|(code, _)| *code == self).map(|(_, name)| *name)
    }
}

impl fmt::Display for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

impl From<Hresult> for String {
    fn from(code: Hresult) -> Self {
        code.to_string()
    }
}

impl TryFrom<String> for Hresult {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl std::str::FromStr for Hresult {
    type Err = String;

    /// Parses `0x80190194` (hex, as BITS prints it) or a symbolic name such as
    /// `BG_E_INSUFFICIENT_RANGE_SUPPORT`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .map(Self)
                .map_err(|_| format!("`{text}` is not a hexadecimal HRESULT"));
        }
        NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(code, _)| *code)
            .ok_or_else(|| format!("`{text}` is neither 0x-prefixed hex nor a known code name"))
    }
}

/// Every code with a name, in one table for both directions (code to name, name to code).
const NAMES: &[(Hresult, &str)] = &[
    (Hresult::S_OK, "S_OK"),
    (Hresult::S_FALSE, "S_FALSE"),
    (Hresult::E_INVALIDARG, "E_INVALIDARG"),
    (Hresult::E_NOTIMPL, "E_NOTIMPL"),
    (Hresult::E_FAIL, "E_FAIL"),
    (Hresult::BG_E_NOT_FOUND, "BG_E_NOT_FOUND"),
    (Hresult::BG_E_INVALID_STATE, "BG_E_INVALID_STATE"),
    (Hresult::BG_E_EMPTY, "BG_E_EMPTY"),
    (Hresult::BG_E_NETWORK_DISCONNECTED, "BG_E_NETWORK_DISCONNECTED"),
    (Hresult::BG_E_BLOCKED_BY_POLICY, "BG_E_BLOCKED_BY_POLICY"),
    (Hresult::BG_E_MISSING_FILE_SIZE, "BG_E_MISSING_FILE_SIZE"),
    (Hresult::BG_E_INSUFFICIENT_HTTP_SUPPORT, "BG_E_INSUFFICIENT_HTTP_SUPPORT"),
    (Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT, "BG_E_INSUFFICIENT_RANGE_SUPPORT"),
    (Hresult::BG_S_PARTIAL_COMPLETE, "BG_S_PARTIAL_COMPLETE"),
    (Hresult::BG_S_UNABLE_TO_DELETE_FILES, "BG_S_UNABLE_TO_DELETE_FILES"),
    (Hresult::BG_E_INVALID_SERVER_RESPONSE, "BG_E_INVALID_SERVER_RESPONSE"),
    (Hresult::BG_E_TOO_MANY_FILES, "BG_E_TOO_MANY_FILES"),
    (Hresult::BG_E_STRING_TOO_LONG, "BG_E_STRING_TOO_LONG"),
    (Hresult::BG_E_INVALID_RANGE, "BG_E_INVALID_RANGE"),
    (Hresult::BG_E_OVERLAPPING_RANGES, "BG_E_OVERLAPPING_RANGES"),
    (Hresult::BG_E_TOO_MANY_RANGES_IN_FILE, "BG_E_TOO_MANY_RANGES_IN_FILE"),
    (Hresult::BG_E_CONNECTION_CLOSED, "BG_E_CONNECTION_CLOSED"),
    (Hresult::BG_E_PROXY_LIST_TOO_LARGE, "BG_E_PROXY_LIST_TOO_LARGE"),
    (Hresult::BG_E_PROXY_BYPASS_LIST_TOO_LARGE, "BG_E_PROXY_BYPASS_LIST_TOO_LARGE"),
    (Hresult::BG_E_USERNAME_TOO_LARGE, "BG_E_USERNAME_TOO_LARGE"),
    (Hresult::BG_E_PASSWORD_TOO_LARGE, "BG_E_PASSWORD_TOO_LARGE"),
    (Hresult::BG_E_INVALID_AUTH_TARGET, "BG_E_INVALID_AUTH_TARGET"),
    (Hresult::BG_E_INVALID_AUTH_SCHEME, "BG_E_INVALID_AUTH_SCHEME"),
    (Hresult::BG_E_INVALID_PROXY_INFO, "BG_E_INVALID_PROXY_INFO"),
    (Hresult::PATH_NOT_FOUND, "ERROR_PATH_NOT_FOUND"),
    (Hresult::ACCESS_DENIED, "ERROR_ACCESS_DENIED"),
    (Hresult::DISK_FULL, "ERROR_DISK_FULL"),
    (Hresult::GEN_FAILURE, "ERROR_GEN_FAILURE"),
    (Hresult::WINHTTP_TIMEOUT, "ERROR_WINHTTP_TIMEOUT"),
    (Hresult::WINHTTP_NAME_NOT_RESOLVED, "ERROR_WINHTTP_NAME_NOT_RESOLVED"),
    (Hresult::WINHTTP_CANNOT_CONNECT, "ERROR_WINHTTP_CANNOT_CONNECT"),
    (Hresult::WINHTTP_CONNECTION_ERROR, "ERROR_WINHTTP_CONNECTION_ERROR"),
    (Hresult::WINHTTP_INVALID_SERVER_RESPONSE, "ERROR_WINHTTP_INVALID_SERVER_RESPONSE"),
    (Hresult::WINHTTP_REDIRECT_FAILED, "ERROR_WINHTTP_REDIRECT_FAILED"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_to_facility_0x19() {
        assert_eq!(Hresult::http_status(401), Hresult(0x8019_0191));
        assert_eq!(Hresult::http_status(407), Hresult(0x8019_0197));
        assert_eq!(Hresult::http_status(404).to_string(), "0x80190194");
        assert_eq!(Hresult(0x8019_01F4).as_http_status(), Some(500));
        assert_eq!(Hresult::BG_E_INVALID_RANGE.as_http_status(), None);
    }

    #[test]
    fn http_classification_follows_the_published_table() {
        let transient = |s| Hresult::http_status(s).is_transient();
        for fatal in [300, 301, 305, 307, 400, 401, 403, 404, 407, 416, 501, 505] {
            assert!(!transient(fatal), "{fatal} must be fatal");
        }
        for retried in [306, 308, 408, 409, 500, 502, 503, 504, 100] {
            assert!(transient(retried), "{retried} must be transient");
        }
    }

    #[test]
    fn bits_codes_are_classified_as_the_spec_says() {
        assert!(!Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT.is_transient());
        assert!(!Hresult::BG_E_MISSING_FILE_SIZE.is_transient());
        assert!(!Hresult::BG_E_INVALID_SERVER_RESPONSE.is_transient());
        assert!(Hresult::WINHTTP_TIMEOUT.is_transient());
        assert!(Hresult::WINHTTP_CANNOT_CONNECT.is_transient());
        assert!(Hresult::BG_E_NETWORK_DISCONNECTED.is_transient());
    }

    #[test]
    fn codes_parse_from_hex_and_from_names() {
        assert_eq!("0x80200013".parse(), Ok(Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT));
        assert_eq!("BG_E_MISSING_FILE_SIZE".parse(), Ok(Hresult::BG_E_MISSING_FILE_SIZE));
        assert!("0xZZ".parse::<Hresult>().is_err());
        assert!("BG_E_NO_SUCH_THING".parse::<Hresult>().is_err());
    }

    #[test]
    fn every_named_code_round_trips() {
        for (code, name) in NAMES {
            assert_eq!(code.name(), Some(*name));
            assert_eq!(name.parse(), Ok(*code));
        }
    }
}
