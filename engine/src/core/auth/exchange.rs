//! The challenge-response exchange with one server or one proxy, as a state machine the
//! transfer drives: `header` before each request, `on_challenge` on a 401 (server) or 407
//! (proxy), `on_accepted` on any other answer, `on_new_connection` when the connection
//! changes.
//!
//! NTLM and Negotiate authenticate the connection, not the request: negotiate, challenge and
//! authenticate travel on one connection, and later requests on it carry no header. Basic and
//! Digest answer each request; once accepted they go with every later request to the same
//! target (Digest with a fresh client nonce and the next nonce count), which saves a round
//! trip per request.

use std::time::Duration;

use super::challenge::Challenge;
use super::credentials::{Logon, Secret, split_domain};
use super::digest::{DigestAlgorithm, DigestAnswer, DigestChallenge};
use super::policy::{Situation, Source, choose_answer};
use super::{AuthScheme, AuthTarget, basic, digest, ntlm};

/// Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

/// What answering a challenge needs besides the challenge: the credentials, the owner's
/// logon, fresh randomness and the time.
#[derive(Clone, Copy, Debug)]
pub struct Keys<'a> {
    pub situation: Situation<'a>,
    pub logon: Option<&'a Logon>,
    /// The NTLM workstation name.
    pub workstation: &'a str,
    /// Fresh random bytes for this answer (Digest's cnonce, NTLM's client challenge).
    pub nonce: [u8; 16],
    /// Wall-clock time, for NTLMv2's timestamp.
    pub unix_time: Duration,
}

#[derive(Clone, Debug)]
enum State {
    Idle,
    /// NTLM or Negotiate: the negotiate message went out; a challenge message must come back.
    Negotiating {
        scheme: AuthScheme,
        user: Identity,
    },
    /// A final answer went out with `scheme`; a new challenge means it was rejected.
    Answered {
        scheme: AuthScheme,
        preemptive: Option<Preemptive>,
    },
    /// NTLM or Negotiate succeeded: the connection is authenticated.
    Connected,
    /// Basic or Digest succeeded: later requests carry the answer at once.
    Preemptive(Preemptive),
}

/// Who an NTLM exchange authenticates as.
#[derive(Clone, Debug)]
struct Identity {
    domain: String,
    user: String,
    password: Secret,
}

/// How to answer later requests without waiting for a challenge.
#[derive(Clone, Debug)]
enum Preemptive {
    /// The whole `Basic <token>` value: it carries the password, so it is kept as a secret
    /// (a `Debug` of the exchange never shows it).
    Basic {
        header: Secret,
    },
    Digest {
        challenge: DigestChallenge,
        user: String,
        password: Secret,
        nc: u32,
    },
}

/// One target's side of the exchange.
#[derive(Clone, Debug)]
pub struct Authenticator {
    target: AuthTarget,
    state: State,
}

impl Authenticator {
    pub fn new(target: AuthTarget) -> Self {
        Self { target, state: State::Idle }
    }

    /// The header to send with the next request, if an accepted Basic or Digest answer can
    /// go at once.
    pub fn header(&mut self, keys: &Keys<'_>, method: &str, uri: &str) -> Option<String> {
        let State::Preemptive(preemptive) = &mut self.state else { return None };
        // An answer that cannot be built waits for the challenge, which reports why.
        preemptive.answer(keys, method, uri).ok()
    }

    /// A 401 (server) or 407 (proxy) arrived. Returns the header to send the request again
    /// with, or why the exchange cannot go on (never a secret).
    pub fn on_challenge(
        &mut self,
        keys: &Keys<'_>,
        challenges: &[Challenge],
        method: &str,
        uri: &str,
    ) -> Result<String, String> {
        let previous = std::mem::replace(&mut self.state, State::Idle);
        if let Some(challenge) = stale_digest(challenges)
            && let Some((user, password)) = previous.digest_credentials()
        {
            // The nonce expired, not the password: answer the new nonce (RFC 7616 §3.3).
            let mut preemptive = Preemptive::Digest { challenge, user, password, nc: 0 };
            let header = preemptive.answer(keys, method, uri)?;
            self.state =
                State::Answered { scheme: AuthScheme::Digest, preemptive: Some(preemptive) };
            return Ok(header);
        }
        match previous {
            State::Negotiating { scheme, user } => {
                let Some(token) = challenges
                    .iter()
                    .filter(|challenge| challenge.auth_scheme() == Some(scheme))
                    .find_map(ntlm::token_from_challenge)
                else {
                    return Err(format!("{scheme}: the challenge message never came"));
                };
                let message = ntlm::parse_challenge_message(&token?)
                    .map_err(|error| format!("{scheme}: unusable challenge message: {error}"))?;
                let filetime = (keys.unix_time.as_secs() + FILETIME_UNIX_OFFSET_SECS) * 10_000_000;
                let mut client_challenge = [0; 8];
                client_challenge.copy_from_slice(&keys.nonce[..8]);
                let identity = ntlm::Identity {
                    domain: &user.domain,
                    user: &user.user,
                    password: user.password.expose(),
                    workstation: keys.workstation,
                };
                let token =
                    ntlm::authenticate_message(&message, &identity, client_challenge, filetime)
                        .map_err(|error| format!("{scheme}: cannot answer: {error}"))?;
                self.state = State::Answered { scheme, preemptive: None };
                Ok(ntlm::header_value(scheme, &token))
            }
            State::Answered { scheme, .. } => {
                Err(format!("{scheme}: the {} rejected the credentials", self.target))
            }
            State::Preemptive(preemptive) => {
                let scheme = preemptive.scheme();
                Err(format!("{scheme}: the {} rejected the credentials", self.target))
            }
            State::Idle | State::Connected => self.answer(keys, challenges, method, uri),
        }
    }

    /// The first answer to a challenge: the strongest scheme we may use.
    fn answer(
        &mut self,
        keys: &Keys<'_>,
        challenges: &[Challenge],
        method: &str,
        uri: &str,
    ) -> Result<String, String> {
        let offered: Vec<AuthScheme> =
            challenges.iter().filter_map(Challenge::auth_scheme).collect();
        let chosen =
            choose_answer(&keys.situation, &offered).map_err(|reasons| reasons.join("; "))?;
        let (user, password) = match chosen.source {
            Source::Explicit { user, password } => (user.to_owned(), password.clone()),
            Source::Logon => {
                let logon = keys.logon.ok_or("the job's owner has no logon credentials")?;
                let user = if logon.domain.is_empty() {
                    logon.user.clone()
                } else {
                    format!("{}\\{}", logon.domain, logon.user)
                };
                (user, logon.password.clone())
            }
        };
        match chosen.scheme {
            AuthScheme::Basic => {
                let header = basic::authorization(&user, password.expose());
                let preemptive = Preemptive::Basic { header: Secret::new(header.clone()) };
                self.state =
                    State::Answered { scheme: AuthScheme::Basic, preemptive: Some(preemptive) };
                Ok(header)
            }
            AuthScheme::Digest => {
                let challenge = strongest_digest(challenges)?;
                let mut preemptive = Preemptive::Digest { challenge, user, password, nc: 0 };
                let header = preemptive.answer(keys, method, uri)?;
                self.state =
                    State::Answered { scheme: AuthScheme::Digest, preemptive: Some(preemptive) };
                Ok(header)
            }
            scheme @ (AuthScheme::Ntlm | AuthScheme::Negotiate) => {
                let (domain, name) = split_domain(&user);
                let identity =
                    Identity { domain: domain.to_owned(), user: name.to_owned(), password };
                self.state = State::Negotiating { scheme, user: identity };
                Ok(ntlm::header_value(scheme, &ntlm::negotiate_message()))
            }
            AuthScheme::Passport => Err("Passport is not supported".to_owned()),
        }
    }

    /// The request got an answer other than a challenge: what we sent was accepted.
    pub fn on_accepted(&mut self) {
        self.state = match std::mem::replace(&mut self.state, State::Idle) {
            State::Answered { preemptive: Some(preemptive), .. } => State::Preemptive(preemptive),
            State::Answered { preemptive: None, .. } | State::Connected => State::Connected,
            other @ State::Preemptive(_) => other,
            State::Idle | State::Negotiating { .. } => State::Idle,
        };
    }

    /// The connection changed: an authenticated or half-negotiated connection is gone.
    /// Returns whether the exchange started over: then an answer built for the old
    /// connection (an NTLM message) must not go on the new one. A Basic or Digest answer
    /// belongs to the request, not the connection, and still goes (an HTTP/1.0 server closes
    /// the connection after its 401).
    pub fn on_new_connection(&mut self) -> bool {
        let bound = matches!(
            self.state,
            State::Connected | State::Negotiating { .. } | State::Answered { preemptive: None, .. }
        );
        if bound {
            self.state = State::Idle;
        }
        bound
    }
}

impl State {
    /// The user and password of a Digest answer already sent.
    fn digest_credentials(&self) -> Option<(String, Secret)> {
        match self {
            Self::Answered {
                preemptive: Some(Preemptive::Digest { user, password, .. }), ..
            }
            | Self::Preemptive(Preemptive::Digest { user, password, .. }) => {
                Some((user.clone(), password.clone()))
            }
            _ => None,
        }
    }
}

impl Preemptive {
    fn scheme(&self) -> AuthScheme {
        match self {
            Self::Basic { .. } => AuthScheme::Basic,
            Self::Digest { .. } => AuthScheme::Digest,
        }
    }

    /// The header for one more request.
    fn answer(&mut self, keys: &Keys<'_>, method: &str, uri: &str) -> Result<String, String> {
        match self {
            Self::Basic { header } => Ok(header.expose().to_owned()),
            Self::Digest { challenge, user, password, nc } => {
                *nc += 1;
                let cnonce: String = keys.nonce.iter().map(|byte| format!("{byte:02x}")).collect();
                let answer = DigestAnswer {
                    user,
                    password: password.expose(),
                    method,
                    uri,
                    nc: *nc,
                    cnonce: &cnonce,
                };
                digest::authorization(challenge, &answer)
            }
        }
    }
}

/// The Digest challenge to answer: SHA-256 before MD5 (RFC 7616 §3.7: the client uses the
/// strongest algorithm it supports).
fn strongest_digest(challenges: &[Challenge]) -> Result<DigestChallenge, String> {
    let mut usable: Vec<DigestChallenge> = Vec::new();
    let mut errors = Vec::new();
    for challenge in challenges.iter().filter(|c| c.auth_scheme() == Some(AuthScheme::Digest)) {
        match DigestChallenge::from_challenge(challenge) {
            Ok(parsed) => usable.push(parsed),
            Err(error) => errors.push(error),
        }
    }
    usable
        .into_iter()
        .max_by_key(|challenge| challenge.algorithm == DigestAlgorithm::Sha256)
        .ok_or_else(|| format!("Digest: no usable challenge ({})", errors.join("; ")))
}

/// A Digest challenge that says the nonce was stale.
fn stale_digest(challenges: &[Challenge]) -> Option<DigestChallenge> {
    strongest_digest(challenges).ok().filter(|challenge| challenge.stale)
}

#[cfg(test)]
mod tests {
    use super::super::challenge::parse_challenges;
    use super::super::credentials::{Credential, CredentialStore};
    use super::super::policy::LogonPolicy;
    use super::*;

    fn store(scheme: AuthScheme) -> CredentialStore {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Server, scheme, Credential::explicit("alice", "pw-123456")).unwrap();
        store
    }

    fn keys<'a>(store: &'a CredentialStore, policy: &'a LogonPolicy) -> Keys<'a> {
        Keys {
            situation: Situation {
                policy,
                store,
                target: AuthTarget::Server,
                owner_logged_on: false,
                basic_over_http: true,
            },
            logon: None,
            workstation: "BITSIM",
            nonce: [5; 16],
            unix_time: Duration::ZERO,
        }
    }

    fn challenge(value: &str) -> Vec<Challenge> {
        parse_challenges([value.as_bytes()])
    }

    /// The base64 part of the Basic answer the authenticator would send now.
    fn answer_token(server: &Authenticator, keys: &Keys<'_>) -> String {
        let mut copy = server.clone();
        let header = copy.header(keys, "GET", "/").unwrap();
        header.trim_start_matches("Basic ").to_owned()
    }

    const DIGEST: &str = r#"Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256"#;

    #[test]
    fn basic_answers_then_goes_with_every_request_until_rejected() {
        let (store, policy) = (store(AuthScheme::Basic), LogonPolicy::default());
        let keys = keys(&store, &policy);
        let mut server = Authenticator::new(AuthTarget::Server);
        assert_eq!(server.header(&keys, "GET", "/"), None, "nothing before a challenge");
        let answer = server.on_challenge(&keys, &challenge(r#"Basic realm="r""#), "GET", "/");
        assert!(answer.unwrap().starts_with("Basic "));
        server.on_accepted();
        assert!(server.header(&keys, "GET", "/b").unwrap().starts_with("Basic "));
        let token = answer_token(&server, &keys);
        assert!(!format!("{server:?}").contains(&token), "Debug must not show the token");
        let again = server.on_challenge(&keys, &challenge(r#"Basic realm="r""#), "GET", "/b");
        assert!(again.unwrap_err().contains("rejected"));
    }

    #[test]
    fn a_stale_digest_nonce_is_answered_a_wrong_password_is_not() {
        let (store, policy) = (store(AuthScheme::Digest), LogonPolicy::default());
        let keys = keys(&store, &policy);
        let mut server = Authenticator::new(AuthTarget::Server);
        let first = server.on_challenge(&keys, &challenge(DIGEST), "GET", "/").unwrap();
        assert!(first.contains("nc=00000001") && first.contains(r#"nonce="n1""#), "{first}");
        server.on_accepted();
        assert!(server.header(&keys, "GET", "/").unwrap().contains("nc=00000002"));
        let stale = format!(r#"{}, stale=true"#, DIGEST.replace("n1", "n2"));
        let renewed = server.on_challenge(&keys, &challenge(&stale), "GET", "/").unwrap();
        assert!(renewed.contains(r#"nonce="n2""#) && renewed.contains("nc=00000001"));
        let refused = server.on_challenge(&keys, &challenge(DIGEST), "GET", "/");
        assert!(refused.unwrap_err().contains("rejected"));
    }

    #[test]
    fn a_digest_answer_outlives_the_connection_it_was_challenged_on() {
        let (store, policy) = (store(AuthScheme::Digest), LogonPolicy::default());
        let keys = keys(&store, &policy);
        let mut server = Authenticator::new(AuthTarget::Server);
        server.on_challenge(&keys, &challenge(DIGEST), "GET", "/").unwrap();
        // An HTTP/1.0 server closed the connection after its 401: the answer still goes.
        assert!(!server.on_new_connection());
        server.on_accepted();
        assert!(server.header(&keys, "GET", "/").unwrap().contains("nc=00000002"));
    }

    #[test]
    fn ntlm_starts_over_on_a_new_connection() {
        let (store, policy) = (store(AuthScheme::Ntlm), LogonPolicy::default());
        let keys = keys(&store, &policy);
        let mut server = Authenticator::new(AuthTarget::Server);
        let negotiate = server.on_challenge(&keys, &challenge("NTLM"), "GET", "/").unwrap();
        assert!(negotiate.starts_with("NTLM "));
        // The connection closed before the challenge message: the handshake starts again.
        assert!(server.on_new_connection(), "the negotiate message belonged to the old one");
        let again = server.on_challenge(&keys, &challenge("NTLM"), "GET", "/").unwrap();
        assert_eq!(again, negotiate);
        let lost = server.on_challenge(&keys, &challenge("NTLM"), "GET", "/");
        assert!(lost.unwrap_err().contains("challenge message never came"));
    }

    #[test]
    fn a_refusal_explains_the_policy_without_secrets() {
        let policy = LogonPolicy::default();
        let store = CredentialStore::default();
        let mut keys = keys(&store, &policy);
        keys.situation.owner_logged_on = true;
        keys.situation.target = AuthTarget::Proxy;
        let mut proxy = Authenticator::new(AuthTarget::Proxy);
        let refused = proxy.on_challenge(&keys, &challenge("NTLM"), "GET", "/").unwrap_err();
        assert!(refused.contains("LmCompatibilityLevel is below 2"), "{refused}");
    }
}
