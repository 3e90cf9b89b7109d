//! Which credentials answer a challenge: BITS 2.0's rule for the logged-on user's credentials
//! (KB 842309; spec §0 and §6.2) and the choice among the schemes a server or proxy offers.
//!
//! The rule, exactly as the engine applies it (the README's conformance table and the
//! decision-matrix snapshot state it too):
//! - Only NTLM and Negotiate have implicit (logon) credentials.
//! - `SetCredentials(target, NTLM or Negotiate, NULL, NULL)` allows them for that target and
//!   scheme whatever the registry says; NULL credentials for the proxy also serve the server
//!   unless the server has explicit credentials for that scheme.
//! - Otherwise BITS 2.0 follows `UseLMCompat`: 0 always sends them; 1 (the XP SP2 default)
//!   only when `LmCompatibilityLevel` is 2 or more; 2 never.
//! - BITS 1.5 always sent them to proxies; to servers it followed `UseLMCompat` 0 and 1, and
//!   had no value 2 (it reads as 1).

use serde::{Deserialize, Serialize};

use super::credentials::{CredentialStore, Secret};
use super::{AuthScheme, AuthTarget};

/// The release whose credential rule applies.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub enum BitsVersion {
    /// BITS 1.5: logon credentials go to any proxy that asks.
    #[serde(rename = "1.5")]
    V1_5,
    #[default]
    #[serde(rename = "2.0")]
    V2_0,
}

/// The machine's settings that decide on logon credentials.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct LogonPolicy {
    pub version: BitsVersion,
    /// `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\BITS\UseLMCompat`. Absent means 1
    /// on XP SP2 and Server 2003, BITS 2.0's platforms. Values above 2 are read as 2, the
    /// strictest: an unknown setting must not hand out credentials.
    pub use_lm_compat: u32,
    /// `HKLM\SYSTEM\CurrentControlSet\Control\Lsa\LmCompatibilityLevel`, 0 to 5; XP's
    /// default is 0.
    pub lm_compatibility_level: u32,
}

impl Default for LogonPolicy {
    fn default() -> Self {
        Self { version: BitsVersion::V2_0, use_lm_compat: 1, lm_compatibility_level: 0 }
    }
}

/// `LmCompatibilityLevel` from which `UseLMCompat = 1` allows logon credentials.
const LM_LEVEL_IMPLICIT_MIN: u32 = 2;

/// Whether logon credentials may answer, and the rule that decided.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Implicit {
    Allowed(&'static str),
    Denied(&'static str),
}

impl Implicit {
    pub fn allowed(self) -> bool {
        matches!(self, Self::Allowed(_))
    }

    pub fn rule(self) -> &'static str {
        match self {
            Self::Allowed(rule) | Self::Denied(rule) => rule,
        }
    }
}

/// Whether `target`'s challenge for `scheme` may be answered with the owner's logon
/// credentials.
pub fn implicit_credentials(
    policy: &LogonPolicy,
    store: &CredentialStore,
    target: AuthTarget,
    scheme: AuthScheme,
) -> Implicit {
    if !scheme.has_implicit_credentials() {
        return Implicit::Denied("only NTLM and Negotiate have logon credentials");
    }
    if store.implicit_consented(target, scheme) {
        return Implicit::Allowed("SetCredentials was called with NULL user name and password");
    }
    let level_allows = policy.lm_compatibility_level >= LM_LEVEL_IMPLICIT_MIN;
    match (policy.version, policy.use_lm_compat) {
        (BitsVersion::V1_5, _) if target == AuthTarget::Proxy => {
            Implicit::Allowed("BITS 1.5 sends logon credentials to every proxy")
        }
        (_, 0) => Implicit::Allowed("UseLMCompat is 0: logon credentials always"),
        (BitsVersion::V1_5, _) | (BitsVersion::V2_0, 1) if level_allows => {
            Implicit::Allowed("LmCompatibilityLevel is 2 or more")
        }
        (BitsVersion::V1_5, _) | (BitsVersion::V2_0, 1) => Implicit::Denied(
            "UseLMCompat is 1 and LmCompatibilityLevel is below 2, and SetCredentials was not \
             called with NULL credentials",
        ),
        (BitsVersion::V2_0, _) => Implicit::Denied(
            "UseLMCompat is 2: only SetCredentials with NULL credentials allows logon credentials",
        ),
    }
}

/// WinHTTP's order among the schemes a challenge offers, strongest first.
pub const SCHEME_PREFERENCE: [AuthScheme; 5] = [
    AuthScheme::Negotiate,
    AuthScheme::Ntlm,
    AuthScheme::Passport,
    AuthScheme::Digest,
    AuthScheme::Basic,
];

/// Where the answer's credentials come from.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Source<'a> {
    Explicit {
        user: &'a str,
        password: &'a Secret,
    },
    /// The job owner's logon credentials.
    Logon,
}

/// The scheme to answer with, and with what.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Answer<'a> {
    pub scheme: AuthScheme,
    pub source: Source<'a>,
}

/// What besides the store decides an answer.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    pub policy: &'a LogonPolicy,
    pub store: &'a CredentialStore,
    pub target: AuthTarget,
    /// The job's owner has logon credentials on this machine.
    pub owner_logged_on: bool,
    /// `danger_allow_basic_auth_over_http`: Basic may cross plain HTTP (every connection of
    /// this engine is plain HTTP).
    pub basic_over_http: bool,
}

/// Picks the strongest offered scheme we have usable credentials for, or says, for each
/// offered scheme, why not (for the error; never a secret).
pub fn choose_answer<'a>(
    situation: &Situation<'a>,
    offered: &[AuthScheme],
) -> Result<Answer<'a>, Vec<String>> {
    let mut reasons = Vec::new();
    for scheme in SCHEME_PREFERENCE.into_iter().filter(|scheme| offered.contains(scheme)) {
        match usable(situation, scheme) {
            Ok(source) => return Ok(Answer { scheme, source }),
            Err(reason) => reasons.push(format!("{scheme}: {reason}")),
        }
    }
    if reasons.is_empty() {
        reasons.push("no scheme that bitsim knows was offered".to_owned());
    }
    Err(reasons)
}

fn usable<'a>(situation: &Situation<'a>, scheme: AuthScheme) -> Result<Source<'a>, String> {
    let Situation { policy, store, target, owner_logged_on, basic_over_http } = *situation;
    if scheme == AuthScheme::Passport {
        return Err("Passport is not supported".to_owned());
    }
    if let Some((user, password)) = store.explicit(target, scheme) {
        if scheme == AuthScheme::Basic && !basic_over_http {
            return Err("credentials are set, but Basic would send the password in clear text \
                        over plain HTTP (danger_allow_basic_auth_over_http is off)"
                .to_owned());
        }
        return Ok(Source::Explicit { user, password });
    }
    if !scheme.has_implicit_credentials() {
        return Err(format!("no credentials set for the {target}"));
    }
    match implicit_credentials(policy, store, target, scheme) {
        Implicit::Allowed(_) if owner_logged_on => Ok(Source::Logon),
        Implicit::Allowed(_) => Err("the job's owner has no logon credentials".to_owned()),
        Implicit::Denied(rule) => Err(format!("logon credentials are not sent: {rule}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::credentials::Credential;
    use super::*;

    fn policy(version: BitsVersion, use_lm_compat: u32, level: u32) -> LogonPolicy {
        LogonPolicy { version, use_lm_compat, lm_compatibility_level: level }
    }

    fn allowed(policy: &LogonPolicy, store: &CredentialStore, target: AuthTarget) -> bool {
        implicit_credentials(policy, store, target, AuthScheme::Ntlm).allowed()
    }

    #[test]
    fn the_kb_842309_case_is_denied_by_default() {
        let store = CredentialStore::default();
        for target in AuthTarget::ALL {
            assert!(!allowed(&LogonPolicy::default(), &store, target), "{target}");
        }
    }

    #[test]
    fn bits_2_follows_use_lm_compat_and_the_level() {
        let store = CredentialStore::default();
        for level in 0..=5 {
            for target in AuthTarget::ALL {
                let v2 = |use_lm_compat| policy(BitsVersion::V2_0, use_lm_compat, level);
                assert!(allowed(&v2(0), &store, target));
                assert_eq!(allowed(&v2(1), &store, target), level >= 2, "level {level}");
                assert!(!allowed(&v2(2), &store, target));
                assert!(!allowed(&v2(7), &store, target), "unknown values are strictest");
            }
        }
    }

    #[test]
    fn null_credentials_allow_whatever_the_registry_says() {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Proxy, AuthScheme::Ntlm, Credential::implicit()).unwrap();
        let strict = policy(BitsVersion::V2_0, 2, 0);
        assert!(allowed(&strict, &store, AuthTarget::Proxy));
        assert!(allowed(&strict, &store, AuthTarget::Server), "proxy consent serves the server");
        let negotiate =
            implicit_credentials(&strict, &store, AuthTarget::Proxy, AuthScheme::Negotiate);
        assert!(!negotiate.allowed(), "consent is per scheme");
    }

    #[test]
    fn bits_1_5_always_answers_proxies() {
        let store = CredentialStore::default();
        for use_lm_compat in 0..=2 {
            for level in 0..=5 {
                let old = policy(BitsVersion::V1_5, use_lm_compat, level);
                assert!(allowed(&old, &store, AuthTarget::Proxy));
                let server = allowed(&old, &store, AuthTarget::Server);
                assert_eq!(server, use_lm_compat == 0 || level >= 2, "{use_lm_compat}/{level}");
            }
        }
    }

    #[test]
    fn basic_and_digest_never_use_logon_credentials() {
        let anything = policy(BitsVersion::V2_0, 0, 5);
        let store = CredentialStore::default();
        for scheme in [AuthScheme::Basic, AuthScheme::Digest, AuthScheme::Passport] {
            let verdict = implicit_credentials(&anything, &store, AuthTarget::Server, scheme);
            assert!(!verdict.allowed(), "{scheme}");
        }
    }

    fn situation<'a>(store: &'a CredentialStore, policy: &'a LogonPolicy) -> Situation<'a> {
        Situation {
            policy,
            store,
            target: AuthTarget::Proxy,
            owner_logged_on: true,
            basic_over_http: false,
        }
    }

    #[test]
    fn the_strongest_usable_scheme_answers() {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Proxy, AuthScheme::Digest, Credential::explicit("a", "b")).unwrap();
        let open = policy(BitsVersion::V2_0, 0, 0);
        let offered = [AuthScheme::Basic, AuthScheme::Digest, AuthScheme::Ntlm];
        let answer = choose_answer(&situation(&store, &open), &offered).unwrap();
        assert_eq!((answer.scheme, answer.source), (AuthScheme::Ntlm, Source::Logon));
        let closed = LogonPolicy::default();
        let answer = choose_answer(&situation(&store, &closed), &offered).unwrap();
        assert_eq!(answer.scheme, AuthScheme::Digest);
    }

    #[test]
    fn basic_over_plain_http_needs_the_danger_option() {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Proxy, AuthScheme::Basic, Credential::explicit("a", "b")).unwrap();
        let closed = LogonPolicy::default();
        let mut plain = situation(&store, &closed);
        let reasons = choose_answer(&plain, &[AuthScheme::Basic]).unwrap_err();
        assert!(reasons[0].contains("danger_allow_basic_auth_over_http"), "{reasons:?}");
        plain.basic_over_http = true;
        assert_eq!(choose_answer(&plain, &[AuthScheme::Basic]).unwrap().scheme, AuthScheme::Basic);
    }

    #[test]
    fn refusals_explain_every_scheme_without_secrets() {
        let mut store = CredentialStore::default();
        store
            .set(AuthTarget::Server, AuthScheme::Basic, Credential::explicit("a", "s3cr3t-pw"))
            .unwrap();
        let closed = LogonPolicy::default();
        let offered = [AuthScheme::Ntlm, AuthScheme::Basic];
        let reasons = choose_answer(&situation(&store, &closed), &offered).unwrap_err();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].starts_with("NTLM: logon credentials are not sent"), "{reasons:?}");
        assert!(reasons.iter().all(|reason| !reason.contains("s3cr3t")));
        let open = LogonPolicy { use_lm_compat: 0, ..closed };
        let mut logged_off = situation(&store, &open);
        logged_off.owner_logged_on = false;
        let reasons = choose_answer(&logged_off, &[AuthScheme::Negotiate]).unwrap_err();
        assert!(reasons[0].contains("no logon credentials"), "{reasons:?}");
    }
}
