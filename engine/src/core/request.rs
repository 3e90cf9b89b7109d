//! The decisions around one request's path to its answer, beyond the HTTP range rules of
//! [`super::http`]: which redirects to follow, which party a 401 or 407 comes from and when
//! to stop answering, where server credentials may go, and which idle connection a transfer
//! may take over. The client (`crate::client`) carries them out.

use std::time::Duration;

use http::HeaderMap;

use super::auth::AuthTarget;
use super::error::{ErrorContext, TransferError};
use super::hresult::Hresult;
use super::http::{RemoteUrl, status_error};

/// WinHTTP follows at most ten redirects by default
/// (`WINHTTP_OPTION_MAX_HTTP_AUTOMATIC_REDIRECTS`).
pub const REDIRECTS_MAX: u32 = 10;
/// A request is answered with at most this many challenges before we give up: NTLM needs
/// two with the proxy and two with the server, and a Digest nonce may go stale once each.
pub const AUTH_ROUNDS_MAX: u32 = 6;
/// At most this many idle connections wait for reuse: one background job and a few
/// foreground ones each leave one behind.
pub const POOL_IDLE_MAX: usize = 4;
/// An idle connection older than this is closed rather than reused: servers close idle
/// connections after a while (IIS after 120 s, Apache after 5 s), and a request sent on a
/// connection the server is closing costs a resend.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do with a response that may be a redirect.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Redirect {
    /// Not a redirect: the response is the answer.
    None,
    /// Send the request again to this URL.
    To(RemoteUrl),
    /// A redirect we cannot follow.
    Refused(TransferError),
}

/// WinHTTP follows redirects on its own, and so does BITS 2.0 (redirect policies arrived
/// with BITS 3.0): 301, 302, 303, 307 and 308 with a `Location` we can reach. The method
/// stays (a HEAD stays a HEAD). `followed` is how many this request has followed already.
pub fn follow_redirect(
    status: u16,
    headers: &HeaderMap,
    current: &RemoteUrl,
    followed: u32,
) -> Redirect {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Redirect::None;
    }
    let refuse = |detail: String| {
        Redirect::Refused(TransferError::remote(Hresult::WINHTTP_REDIRECT_FAILED, detail))
    };
    if followed >= REDIRECTS_MAX {
        return refuse(format!("more than {} redirects", REDIRECTS_MAX));
    }
    let Some(location) = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return Redirect::Refused(status_error(status));
    };
    let absolute = if location.starts_with('/') && !location.starts_with("//") {
        format!("http://{}{location}", current.authority)
    } else {
        location.to_owned()
    };
    match RemoteUrl::parse(&absolute) {
        Ok(url) => Redirect::To(url),
        Err(error) => {
            refuse(format!("HTTP {status} to a place we cannot follow: {}", error.message))
        }
    }
}

/// A 401 or 407 we cannot answer: BG_E_HTTP_ERROR_401 blamed on the server, or
/// BG_E_HTTP_ERROR_407 blamed on the transport (the proxy is on the path, not the remote
/// file; BG_ERROR_CONTEXT has no proxy value). Fatal, as every 4xx but 408 and 409: the
/// program sets new credentials and resumes (spec §6.4).
pub fn auth_failure(target: AuthTarget, whom: &str, why: &str) -> TransferError {
    let (status, context) = match target {
        AuthTarget::Server => (401, ErrorContext::RemoteFile),
        AuthTarget::Proxy => (407, ErrorContext::GeneralTransport),
    };
    TransferError::new(
        Hresult::http_status(status),
        context,
        format!("{whom} demands authentication (HTTP {status}): {why}"),
    )
}

/// Which party a status challenges: 401 the server, 407 the proxy (only when the request
/// went through one; from a server it is just an error status).
pub fn challenged(status: u16, via_proxy: bool) -> Option<AuthTarget> {
    match status {
        401 => Some(AuthTarget::Server),
        407 if via_proxy => Some(AuthTarget::Proxy),
        _ => None,
    }
}

/// Server credentials go to the remote name's host and port only, never to where a redirect
/// leads: a credential set for one server is not one for another.
pub fn credentials_reach(origin: &RemoteUrl, url: &RemoteUrl) -> bool {
    url.host == origin.host && url.port == origin.port
}

/// Whether an idle connection may carry a transfer of `owner`: only its own owner's, and
/// only while younger than [`POOL_IDLE_TIMEOUT`]. The owner is part of the rule because a
/// connection NTLM or Negotiate authenticated for one user must never carry another user's
/// requests (WinHTTP 5.1's isolation, KB 842773).
pub fn connection_reusable(idle_owner: &str, owner: &str, idle_for: Duration) -> bool {
    idle_owner == owner && idle_for < POOL_IDLE_TIMEOUT
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn url(text: &str) -> RemoteUrl {
        RemoteUrl::parse(text).unwrap()
    }

    fn location(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::LOCATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn redirects_resolve_relative_locations_and_keep_to_the_limit() {
        let here = url("http://origin:8080/a/b.bin");
        let to =
            |status, value, followed| follow_redirect(status, &location(value), &here, followed);
        assert_eq!(to(302, "/c.bin", 0), Redirect::To(url("http://origin:8080/c.bin")));
        assert_eq!(to(307, "http://mirror/c.bin", 0), Redirect::To(url("http://mirror/c.bin")));
        assert_eq!(to(200, "/c.bin", 0), Redirect::None);
        assert_eq!(to(304, "/c.bin", 0), Redirect::None, "not a redirect to follow");
        let Redirect::Refused(error) = to(301, "/c.bin", REDIRECTS_MAX) else { panic!() };
        assert_eq!(error.code, Hresult::WINHTTP_REDIRECT_FAILED);
        assert!(!error.is_transient());
        let Redirect::Refused(error) = to(302, "https://secure/c.bin", 0) else { panic!() };
        assert_eq!(error.code, Hresult::WINHTTP_REDIRECT_FAILED);
        let Redirect::Refused(error) = to(302, "http://user:pw@mirror/c.bin", 0) else { panic!() };
        assert!(!error.detail.contains("pw"), "{}", error.detail);
        let missing = follow_redirect(303, &HeaderMap::new(), &here, 0);
        assert_eq!(missing, Redirect::Refused(status_error(303)));
    }

    #[test]
    fn only_a_proxy_route_makes_407_a_proxy_challenge() {
        assert_eq!(challenged(401, false), Some(AuthTarget::Server));
        assert_eq!(challenged(401, true), Some(AuthTarget::Server));
        assert_eq!(challenged(407, true), Some(AuthTarget::Proxy));
        assert_eq!(challenged(407, false), None);
        assert_eq!(challenged(403, true), None);
    }

    #[test]
    fn auth_failures_blame_server_or_transport() {
        let server = auth_failure(AuthTarget::Server, "server origin", "no credentials");
        assert_eq!((server.code, server.context), (Hresult(0x8019_0191), ErrorContext::RemoteFile));
        let proxy = auth_failure(AuthTarget::Proxy, "proxy p:8080", "rejected");
        assert_eq!(
            (proxy.code, proxy.context),
            (Hresult(0x8019_0197), ErrorContext::GeneralTransport)
        );
        assert!(proxy.detail.contains("proxy p:8080") && !proxy.is_transient());
    }

    #[test]
    fn server_credentials_stay_with_the_remote_names_host_and_port() {
        let origin = url("http://origin/a.bin");
        assert!(credentials_reach(&origin, &url("http://origin/elsewhere.bin")));
        assert!(!credentials_reach(&origin, &url("http://mirror/a.bin")));
        assert!(!credentials_reach(&origin, &url("http://origin:8080/a.bin")));
    }

    #[test]
    fn idle_connections_serve_their_owner_while_fresh() {
        let fresh = POOL_IDLE_TIMEOUT - Duration::from_millis(1);
        assert!(connection_reusable("alice", "alice", fresh));
        assert!(!connection_reusable("alice", "bob", Duration::ZERO));
        assert!(!connection_reusable("alice", "alice", POOL_IDLE_TIMEOUT));
    }
}
