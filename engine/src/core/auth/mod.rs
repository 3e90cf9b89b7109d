//! Authentication: who may be sent which credentials, and the wire formats of the answers.
//!
//! - [`credentials`]: `SetCredentials`: one credential per target and scheme, checked when set.
//! - [`policy`]: when the logged-on user's credentials may answer (BITS 2.0's rule), and
//!   which offered scheme answers.
//! - [`seal`]: credentials at rest in the journal, sealed with the machine's key.
//! - [`challenge`]: `WWW-Authenticate` / `Proxy-Authenticate` parsing (RFC 9110 §11).
//! - [`exchange`]: the challenge-response state machine with one server or proxy.
//! - [`basic`], [`digest`], [`ntlm`]: building the answer of each scheme (RFC 7617, RFC 7616,
//!   MS-NLMP NTLMv2; Negotiate carries raw NTLM tokens, as Windows does without a KDC).
//!
//! Every function here is pure: randomness (client nonces) and time come in as arguments.

pub mod basic;
pub mod challenge;
pub mod credentials;
pub mod digest;
pub mod exchange;
pub mod ntlm;
pub mod policy;
pub mod seal;

use std::fmt;

use serde::{Deserialize, Serialize};

/// `BG_AUTH_TARGET`: whom a credential is for (spec §6.1).
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthTarget {
    /// The origin server (`BG_AUTH_TARGET_SERVER`, 1): answers 401 with `WWW-Authenticate`.
    Server = 1,
    /// The proxy (`BG_AUTH_TARGET_PROXY`, 2): answers 407 with `Proxy-Authenticate`.
    Proxy = 2,
}

/// `BG_AUTH_SCHEME` (spec §6.1).
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    Basic = 1,
    Digest = 2,
    Ntlm = 3,
    Negotiate = 4,
    Passport = 5,
}

impl AuthTarget {
    pub const ALL: [Self; 2] = [Self::Server, Self::Proxy];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Proxy => "proxy",
        }
    }
}

impl AuthScheme {
    pub const ALL: [Self; 5] =
        [Self::Basic, Self::Digest, Self::Ntlm, Self::Negotiate, Self::Passport];

    /// The scheme's token in challenges and answers (compared case-insensitively).
    pub const fn token(self) -> &'static str {
        match self {
            Self::Basic => "Basic",
            Self::Digest => "Digest",
            Self::Ntlm => "NTLM",
            Self::Negotiate => "Negotiate",
            Self::Passport => "Passport1.4",
        }
    }

    /// The scheme a challenge token names, if we know it.
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scheme| scheme.token().eq_ignore_ascii_case(token))
    }

    /// NTLM and Negotiate authenticate the connection with the logged-on user's credentials
    /// when no explicit ones are set: the only schemes with implicit credentials.
    pub const fn has_implicit_credentials(self) -> bool {
        matches!(self, Self::Ntlm | Self::Negotiate)
    }
}

impl fmt::Display for AuthTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}
