//! `SetCredentials` and `RemoveCredentials` (spec §6.1): one credential per (target, scheme),
//! checked when set, never readable back through the API, and never printed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{AuthScheme, AuthTarget};
use crate::core::error::ApiError;
use crate::core::hresult::Hresult;

/// A user name may be at most this long (spec §6.1: 300 characters,
/// BG_E_USERNAME_TOO_LARGE).
pub const USER_NAME_LEN_MAX: usize = 300;
/// A password may be at most this long (spec §6.1: 65,536 characters in the return-code
/// table; one docs page says 65,535. We take the larger, so no password BITS accepts is
/// refused).
pub const PASSWORD_LEN_MAX: usize = 65_536;

/// A password. Its `Debug` never shows it, and it has no `Display`: nothing that formats a
/// value can put it in a trace, a log or an error message.
#[derive(Clone, Deserialize, Eq, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The clear text, for the code that builds an answer to a challenge.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `BG_BASIC_CREDENTIALS`: explicit credentials, or `None` for both, which means "the job
/// owner's logon credentials" (only NTLM and Negotiate have those).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Credential {
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl Credential {
    pub fn explicit(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self { user: Some(user.into()), password: Some(Secret::new(password)) }
    }

    /// NULL user name and password: use the logged-on user's credentials.
    pub fn implicit() -> Self {
        Self { user: None, password: None }
    }

    pub fn is_implicit(&self) -> bool {
        self.user.is_none()
    }
}

/// A user's logon credentials, as the machine holds them: what "implicit credentials" send.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Logon {
    pub domain: String,
    pub user: String,
    pub password: Secret,
}

/// Splits `DOMAIN\user` into its parts; a name without a backslash has no domain.
pub fn split_domain(name: &str) -> (&str, &str) {
    name.split_once('\\').unwrap_or(("", name))
}

/// The credentials of one job.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct CredentialStore {
    entries: BTreeMap<(AuthTarget, AuthScheme), Credential>,
}

impl CredentialStore {
    /// `SetCredentials`: checks the credential as BITS does and replaces any earlier one for
    /// the same target and scheme.
    pub fn set(
        &mut self,
        target: AuthTarget,
        scheme: AuthScheme,
        credential: Credential,
    ) -> Result<(), ApiError> {
        check(scheme, &credential)?;
        self.entries.insert((target, scheme), credential);
        Ok(())
    }

    /// `RemoveCredentials`; removing what was never set is not an error.
    pub fn remove(&mut self, target: AuthTarget, scheme: AuthScheme) {
        self.entries.remove(&(target, scheme));
    }

    pub fn get(&self, target: AuthTarget, scheme: AuthScheme) -> Option<&Credential> {
        self.entries.get(&(target, scheme))
    }

    /// Explicit credentials for `target` and `scheme`: `(user, password)`.
    pub fn explicit(&self, target: AuthTarget, scheme: AuthScheme) -> Option<(&str, &Secret)> {
        match self.get(target, scheme)? {
            Credential { user: Some(user), password } => {
                Some((user, password.as_ref().unwrap_or(&EMPTY)))
            }
            Credential { user: None, .. } => None,
        }
    }

    /// Whether the program said "use my logon credentials" for `target` and `scheme`:
    /// `SetCredentials` with NULL user name and password. Implicit credentials set for the
    /// proxy also serve the server, unless the server has explicit ones for the scheme
    /// (spec §6.1).
    pub fn implicit_consented(&self, target: AuthTarget, scheme: AuthScheme) -> bool {
        let own = self.get(target, scheme).is_some_and(Credential::is_implicit);
        let from_proxy = target == AuthTarget::Server
            && self.get(target, scheme).is_none()
            && self.get(AuthTarget::Proxy, scheme).is_some_and(Credential::is_implicit);
        own || from_proxy
    }

    /// Every credential, by target and scheme.
    pub fn entries(&self) -> impl Iterator<Item = ((AuthTarget, AuthScheme), &Credential)> {
        self.entries.iter().map(|(key, credential)| (*key, credential))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The password of explicit credentials given without one.
static EMPTY: Secret = Secret(String::new());

/// BITS's checks at `SetCredentials` (spec §6.1).
fn check(scheme: AuthScheme, credential: &Credential) -> Result<(), ApiError> {
    match (&credential.user, &credential.password) {
        (None, None) if scheme.has_implicit_credentials() => Ok(()),
        (None, None) => Err(ApiError::invalid_arg(format!(
            "{scheme} has no implicit credentials: a NULL user name and password are allowed \
             only with NTLM or Negotiate"
        ))),
        (None, Some(_)) => Err(ApiError::invalid_arg(
            "a password without a user name: pass NULL for both to use the logon credentials",
        )),
        (Some(user), password) => {
            if user.chars().count() > USER_NAME_LEN_MAX {
                return Err(ApiError::new(
                    Hresult::BG_E_USERNAME_TOO_LARGE,
                    format!("the user name is longer than {USER_NAME_LEN_MAX} characters"),
                ));
            }
            let password_len = password.as_ref().map_or(0, |secret| secret.0.chars().count());
            if password_len > PASSWORD_LEN_MAX {
                return Err(ApiError::new(
                    Hresult::BG_E_PASSWORD_TOO_LARGE,
                    format!("the password is longer than {PASSWORD_LEN_MAX} characters"),
                ));
            }
            if scheme == AuthScheme::Basic && user.contains(':') {
                // RFC 7617 §2: the user-id cannot contain a colon.
                return Err(ApiError::invalid_arg("a Basic user name cannot contain `:`"));
            }
            Ok(())
        }
    }
}

/// `BG_AUTH_TARGET` from its number; anything else is BG_E_INVALID_AUTH_TARGET.
pub fn target_from_number(value: u32) -> Result<AuthTarget, ApiError> {
    AuthTarget::ALL.into_iter().find(|target| *target as u32 == value).ok_or_else(|| {
        ApiError::new(Hresult::BG_E_INVALID_AUTH_TARGET, format!("auth target {value}"))
    })
}

/// `BG_AUTH_SCHEME` from its number; anything else is BG_E_INVALID_AUTH_SCHEME.
pub fn scheme_from_number(value: u32) -> Result<AuthScheme, ApiError> {
    AuthScheme::ALL.into_iter().find(|scheme| *scheme as u32 == value).ok_or_else(|| {
        ApiError::new(Hresult::BG_E_INVALID_AUTH_SCHEME, format!("auth scheme {value}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_credentials_only_for_ntlm_and_negotiate() {
        let mut store = CredentialStore::default();
        for scheme in [AuthScheme::Ntlm, AuthScheme::Negotiate] {
            assert!(store.set(AuthTarget::Proxy, scheme, Credential::implicit()).is_ok());
        }
        for scheme in [AuthScheme::Basic, AuthScheme::Digest, AuthScheme::Passport] {
            let error = store.set(AuthTarget::Server, scheme, Credential::implicit()).unwrap_err();
            assert_eq!(error.code, Hresult::E_INVALIDARG, "{scheme}");
        }
        let half = Credential { user: None, password: Some(Secret::new("x")) };
        assert_eq!(
            store.set(AuthTarget::Server, AuthScheme::Ntlm, half).unwrap_err().code,
            Hresult::E_INVALIDARG
        );
    }

    #[test]
    fn length_limits_have_their_own_codes() {
        let mut store = CredentialStore::default();
        let long_user = "u".repeat(USER_NAME_LEN_MAX + 1);
        let error = store
            .set(AuthTarget::Server, AuthScheme::Basic, Credential::explicit(long_user, "pw"))
            .unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_USERNAME_TOO_LARGE);
        let at_limit = "u".repeat(USER_NAME_LEN_MAX);
        let long_password = "p".repeat(PASSWORD_LEN_MAX + 1);
        let error = store
            .set(
                AuthTarget::Server,
                AuthScheme::Ntlm,
                Credential::explicit(at_limit, long_password),
            )
            .unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_PASSWORD_TOO_LARGE);
        let empty_password = Credential::explicit("alice", "");
        assert!(store.set(AuthTarget::Server, AuthScheme::Digest, empty_password).is_ok());
    }

    #[test]
    fn setting_again_replaces_and_remove_forgets() {
        let mut store = CredentialStore::default();
        let (target, scheme) = (AuthTarget::Server, AuthScheme::Digest);
        store.set(target, scheme, Credential::explicit("alice", "one")).unwrap();
        store.set(target, scheme, Credential::explicit("bob", "two")).unwrap();
        assert_eq!(store.explicit(target, scheme).map(|(user, _)| user), Some("bob"));
        store.remove(target, scheme);
        store.remove(target, scheme);
        assert!(store.explicit(target, scheme).is_none());
    }

    #[test]
    fn proxy_consent_serves_the_server_unless_it_has_its_own() {
        let mut store = CredentialStore::default();
        store.set(AuthTarget::Proxy, AuthScheme::Ntlm, Credential::implicit()).unwrap();
        assert!(store.implicit_consented(AuthTarget::Proxy, AuthScheme::Ntlm));
        assert!(store.implicit_consented(AuthTarget::Server, AuthScheme::Ntlm));
        assert!(!store.implicit_consented(AuthTarget::Server, AuthScheme::Negotiate));
        store.set(AuthTarget::Server, AuthScheme::Ntlm, Credential::explicit("a", "b")).unwrap();
        assert!(!store.implicit_consented(AuthTarget::Server, AuthScheme::Ntlm));
        let mut server_only = CredentialStore::default();
        server_only.set(AuthTarget::Server, AuthScheme::Ntlm, Credential::implicit()).unwrap();
        assert!(!server_only.implicit_consented(AuthTarget::Proxy, AuthScheme::Ntlm));
    }

    #[test]
    fn secrets_never_print() {
        let credential = Credential::explicit("alice", "hunter2-secret");
        assert!(!format!("{credential:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_numbers_are_their_own_errors() {
        assert_eq!(target_from_number(2), Ok(AuthTarget::Proxy));
        assert_eq!(target_from_number(3).unwrap_err().code, Hresult::BG_E_INVALID_AUTH_TARGET);
        assert_eq!(scheme_from_number(4), Ok(AuthScheme::Negotiate));
        assert_eq!(scheme_from_number(0).unwrap_err().code, Hresult::BG_E_INVALID_AUTH_SCHEME);
    }
}
