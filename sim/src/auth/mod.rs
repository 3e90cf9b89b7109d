//! The servers' side of HTTP authentication: the challenges a host sends, the verification of
//! what comes back, and what credentials arrived.
//!
//! This is the ground truth that judges the engine's client code, so it is written from the
//! specifications alone (RFC 7235, RFC 7617 Basic, RFC 7616 Digest, MS-NLMP for NTLM) and
//! checked against their published test vectors.
//!
//! - [`Gatekeeper`] is one host's configuration and state: the schemes it demands, its
//!   accounts, the Digest nonces it issued, and the seeded generator every nonce and NTLM
//!   server challenge comes from.
//! - [`ConnectionAuth`] is the per-TCP-connection state: NTLM and Negotiate authenticate the
//!   connection, not the request, so the caller keeps one per accepted connection.
//! - [`identify`] decodes a credentials header without judging it, for the security oracles.
//!
//! Whichever scheme admitted a request, the admitted user is reported the same way: the
//! matching account's [`Account::qualified_name`] (`DOMAIN\user`, or `user` for an account
//! without a domain), spelled as configured rather than as the client cased it.
//!
//! Nothing here panics on hostile input: every malformed header is a refusal with a reason.

mod basic;
mod digest;
mod header;
mod ntlm;
#[cfg(test)]
mod tests;

use rand_chacha::ChaCha8Rng;

use header::Scheme;

/// The longest credentials header value considered. http.sys (IIS) refuses header fields over
/// 16 KiB by default (MaxFieldLength), which bounds what real clients send, Kerberos tokens
/// included; anything longer is refused unread.
pub const MAX_CREDENTIALS_LEN: usize = 16 << 10;

/// The most characters of client-sent text a refusal reason quotes: enough to name a user or a
/// scheme in the trace, while a hostile 16 KiB user name cannot flood it.
const MAX_ECHOED_CHARS: usize = 64;

/// A scheme a host may demand.
#[derive(
    Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Demand {
    Basic,
    DigestMd5,
    DigestSha256,
    Ntlm,
    Negotiate,
}

impl Demand {
    fn scheme(self) -> Scheme {
        match self {
            Self::Basic => Scheme::Basic,
            Self::DigestMd5 | Self::DigestSha256 => Scheme::Digest,
            Self::Ntlm => Scheme::Ntlm,
            Self::Negotiate => Scheme::Negotiate,
        }
    }
}

/// An account a host knows. An empty `domain` means the account accepts any domain a client
/// names (a workstation account); otherwise a named domain must match it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Account {
    pub domain: String,
    pub user: String,
    pub password: String,
}

impl Account {
    /// The name requests are admitted as: `DOMAIN\user`, or `user` when the domain is empty.
    pub fn qualified_name(&self) -> String {
        qualified(&self.domain, &self.user)
    }
}

/// What credential arrived in an Authorization or Proxy-Authorization header, decoded without
/// judging it: ground truth for the simulator's security oracles. Never holds a password or a
/// hash.
#[derive(Clone, Debug, Eq, PartialEq, serde::Serialize)]
pub struct Seen {
    /// `Basic`, `Digest`, `NTLM` or `Negotiate` (canonical spelling whatever the client's
    /// case), or the raw scheme token (lossily decoded) for any other scheme.
    pub scheme: String,
    /// The claimed user name, as sent: Basic's user-id (which may be `DOMAIN\user`), Digest's
    /// `username` (or decoded `username*`), NTLM type 3's user as `DOMAIN\user` when a domain
    /// is present. `None` for NTLM type 1, a Digest `userhash`, and anything undecodable.
    pub user: Option<String>,
    /// The NTLM message type (1 or 3) under NTLM or Negotiate, else `None`.
    pub leg: Option<u8>,
}

/// Decodes a credentials header value without judging it (see [`Seen`]).
pub fn identify(header_value: &[u8]) -> Seen {
    let creds = header::split(header_value);
    let scheme = creds
        .scheme
        .name()
        .map_or_else(|| String::from_utf8_lossy(creds.token).into_owned(), str::to_owned);
    let (user, leg) = if header_value.len() > MAX_CREDENTIALS_LEN {
        (None, None)
    } else {
        match creds.scheme {
            Scheme::Basic => (basic::decode(creds.rest).map(|(user, _)| user), None),
            Scheme::Digest => (digest::claimed_user(creds.rest), None),
            Scheme::Ntlm | Scheme::Negotiate => ntlm::identify(creds.rest),
            Scheme::Other => (None, None),
        }
    };
    Seen { scheme, user, leg }
}

/// A gatekeeper's answer to one request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Admission {
    /// Let the request through, as this user (an [`Account::qualified_name`]; empty when the
    /// gatekeeper demands nothing).
    Allowed { user: String },
    /// Answer 401/407 with these challenge header values (the caller chooses WWW-Authenticate
    /// or Proxy-Authenticate); `rejected` says why earlier credentials were refused, if any
    /// were sent (for the trace).
    Challenge { values: Vec<String>, rejected: Option<String> },
}

/// Per-TCP-connection authentication state: NTLM and Negotiate authenticate the connection.
#[derive(Clone, Debug, Default)]
pub struct ConnectionAuth {
    /// Who a completed NTLM/Negotiate handshake authenticated this connection as.
    authenticated: Option<String>,
    /// The challenge sent in answer to a type 1; only the very next request may answer it.
    pending: Option<ntlm::Pending>,
}

impl ConnectionAuth {
    /// The user a completed NTLM/Negotiate handshake authenticated this connection as.
    pub fn authenticated_user(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }
}

/// A scheme module's judgement of one credentials value.
#[derive(Debug, Eq, PartialEq)]
enum Verdict {
    /// Admitted as this qualified name.
    Allowed(String),
    /// Refused; answer with the full challenge.
    Refused(String),
    /// The Digest response was right for its nonce but the nonce is no longer good: answer
    /// with the full challenge, its Digest values marked `stale=true`.
    Stale(String),
    /// An NTLM type 1: answer with this single challenge value.
    Continue(String),
}

/// One host's authentication configuration and state (its nonce generator).
#[derive(Debug)]
pub struct Gatekeeper {
    realm: String,
    /// The demanded schemes in challenge order, without repeats.
    demands: Vec<Demand>,
    accounts: Vec<Account>,
    rng: ChaCha8Rng,
    /// Digest's opaque: one value for the gatekeeper's life, drawn at construction.
    opaque: String,
    nonces: digest::NonceBook,
    /// NetBIOS names the NTLM challenge advertises in its target info.
    nb_domain: String,
    nb_computer: String,
}

impl Gatekeeper {
    /// A gatekeeper demanding `demands` (challenged in this order; repeats dropped). Every
    /// random value it ever uses comes from `rng`.
    pub fn new(realm: &str, demands: Vec<Demand>, accounts: Vec<Account>, rng: ChaCha8Rng) -> Self {
        let mut unique = Vec::with_capacity(demands.len());
        for demand in demands {
            if !unique.contains(&demand) {
                unique.push(demand);
            }
        }
        let mut gatekeeper = Self {
            realm: realm.to_owned(),
            demands: unique,
            accounts,
            rng,
            opaque: String::new(),
            nonces: digest::NonceBook::default(),
            nb_domain: ntlm::DEFAULT_NB_DOMAIN.to_owned(),
            nb_computer: ntlm::DEFAULT_NB_COMPUTER.to_owned(),
        };
        gatekeeper.opaque = gatekeeper.random_text();
        gatekeeper
    }

    /// Sets the NetBIOS domain and computer names NTLM challenges advertise (defaults
    /// `BITSIM` and `SIMHOST`), each cut to NetBIOS's 15 characters. Clients that take their
    /// domain from the challenge will then name this domain.
    pub fn with_netbios_names(mut self, domain: &str, computer: &str) -> Self {
        self.nb_domain = ntlm::netbios_name(domain);
        self.nb_computer = ntlm::netbios_name(computer);
        self
    }

    /// Judges one request. `conn` is the per-TCP-connection state (NTLM/Negotiate
    /// authenticate the connection, not the request). `uri` is the request-target as sent
    /// (origin-form or absolute-form). A gatekeeper demanding nothing admits everyone as "".
    pub fn admit(
        &mut self,
        conn: &mut ConnectionAuth,
        method: &str,
        uri: &str,
        header: Option<&[u8]>,
    ) -> Admission {
        // An NTLM challenge is answered by the next request on the connection or not at all.
        let pending = conn.pending.take();
        if self.demands.is_empty() {
            return Admission::Allowed { user: String::new() };
        }
        let Some(value) = header else {
            return match &conn.authenticated {
                Some(user) => Admission::Allowed { user: user.clone() },
                None => self.challenge(None, false),
            };
        };
        match self.judge(conn, pending, method, uri, value) {
            Verdict::Allowed(user) => Admission::Allowed { user },
            Verdict::Refused(why) => self.challenge(Some(why), false),
            Verdict::Stale(why) => self.challenge(Some(why), true),
            Verdict::Continue(value) => {
                Admission::Challenge { values: vec![value], rejected: None }
            }
        }
    }

    fn judge(
        &mut self,
        conn: &mut ConnectionAuth,
        pending: Option<ntlm::Pending>,
        method: &str,
        uri: &str,
        value: &[u8],
    ) -> Verdict {
        if value.len() > MAX_CREDENTIALS_LEN {
            return Verdict::Refused(format!(
                "credentials longer than {MAX_CREDENTIALS_LEN} bytes"
            ));
        }
        let creds = header::split(value);
        let demanded = self.demands.iter().any(|demand| demand.scheme() == creds.scheme);
        match creds.scheme {
            Scheme::Other => Verdict::Refused(format!(
                "unsupported scheme {}",
                echo(&String::from_utf8_lossy(creds.token))
            )),
            scheme if !demanded => {
                Verdict::Refused(format!("{} not offered", scheme.name().unwrap_or_default()))
            }
            Scheme::Basic => basic::judge(&self.accounts, creds.rest),
            Scheme::Digest => self.judge_digest(method, uri, creds.rest),
            Scheme::Ntlm | Scheme::Negotiate => {
                self.judge_ntlm(conn, pending, creds.scheme, creds.rest)
            }
        }
    }

    /// The answer to a request without acceptable credentials: one value per demand, in order;
    /// every Digest value with a nonce of its own.
    fn challenge(&mut self, rejected: Option<String>, stale: bool) -> Admission {
        let mut values = Vec::with_capacity(self.demands.len());
        for index in 0..self.demands.len() {
            values.push(match self.demands[index] {
                Demand::Negotiate => "Negotiate".to_owned(),
                Demand::Ntlm => "NTLM".to_owned(),
                Demand::DigestSha256 => self.digest_challenge(digest::Algorithm::Sha256, stale),
                Demand::DigestMd5 => self.digest_challenge(digest::Algorithm::Md5, stale),
                Demand::Basic => {
                    format!("Basic realm={}, charset=\"UTF-8\"", header::quote(&self.realm))
                }
            });
        }
        Admission::Challenge { values, rejected }
    }

    /// 24 random bytes as base64: 192 bits, so nonces never collide, and the RFC 7616
    /// examples' shape (`/` and `+` included, which a client must carry through untouched).
    fn random_text(&mut self) -> String {
        let mut bytes = [0u8; 24];
        rand::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        header::encode_base64(&bytes)
    }
}

/// `DOMAIN\user`, or `user` alone when the domain is empty.
fn qualified(domain: &str, user: &str) -> String {
    if domain.is_empty() { user.to_owned() } else { format!("{domain}\\{user}") }
}

/// Splits a claimed `DOMAIN\user` at its first backslash; a name without one has no domain.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('\\') {
        Some((domain, user)) => (Some(domain), user),
        None => (None, name),
    }
}

/// The accounts a claimed name may be: the user matches case-insensitively; a named domain
/// must match case-insensitively too, unless the account has no domain.
fn candidates<'a>(
    accounts: &'a [Account],
    domain: Option<&'a str>,
    user: &'a str,
) -> impl Iterator<Item = &'a Account> + 'a {
    accounts.iter().filter(move |account| {
        same_name(&account.user, user)
            && (account.domain.is_empty() || domain.is_none_or(|d| same_name(&account.domain, d)))
    })
}

/// Windows account names compare without regard to case.
fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// Client-sent text made safe to quote in a reason: control characters escaped, cut to
/// [`MAX_ECHOED_CHARS`].
fn echo(text: &str) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_ECHOED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
