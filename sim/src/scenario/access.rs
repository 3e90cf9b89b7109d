//! The scenario's authentication and proxy world: the domain's accounts, servers and proxies
//! that demand credentials, redirects, the machine's credential policy and proxy settings,
//! and each job's owner, credentials and proxy usage.

use bitsim_engine::core::auth::credentials::{Credential, Logon, Secret};
use bitsim_engine::core::auth::policy::{BitsVersion, LogonPolicy};
use bitsim_engine::core::auth::{AuthScheme, AuthTarget};
use bitsim_engine::core::proxy::{ProxyEnvironment, ProxyLists, ProxySettings, ProxyUsage};
use serde::{Deserialize, Serialize};

use crate::auth::{Account as GateAccount, Demand};

/// The domain of an account that names none.
pub const DOMAIN_DEFAULT: &str = "CORP";
/// Scenario passwords are at least this long, so that the `no-secrets-in-trace` oracle can
/// search the trace for them without matching ordinary words.
pub const PASSWORD_LEN_MIN: usize = 8;
/// The port a proxy listens on unless the scenario says otherwise.
pub const PROXY_PORT_DEFAULT: u16 = 8080;

/// A user of the simulated domain: servers and proxies accept these credentials, and the
/// user's logon on the engine's machine holds them (what implicit credentials send).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub user: String,
    pub password: String,
    #[serde(default = "Account::domain_default")]
    pub domain: String,
    /// `false`: the user has an account but is not logged on to the engine's machine, so
    /// its jobs have no logon credentials.
    #[serde(default = "Account::logged_on_default")]
    pub logged_on: bool,
}

impl Account {
    fn domain_default() -> String {
        DOMAIN_DEFAULT.to_owned()
    }

    fn logged_on_default() -> bool {
        true
    }

    pub fn to_gate(&self) -> GateAccount {
        GateAccount {
            domain: self.domain.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
        }
    }

    pub fn to_logon(&self) -> Logon {
        Logon {
            domain: self.domain.clone(),
            user: self.user.clone(),
            password: Secret::new(self.password.clone()),
        }
    }
}

/// A host's demand for credentials (401 from a server, 407 from a proxy).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthDemand {
    /// The schemes offered, in the order of the challenge headers.
    pub demands: Vec<Demand>,
    #[serde(default = "AuthDemand::realm_default")]
    pub realm: String,
    /// Who may pass (default: every account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

impl AuthDemand {
    fn realm_default() -> String {
        "bitsim".to_owned()
    }
}

/// A forward proxy (absolute-form requests), optionally demanding credentials.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    pub name: String,
    #[serde(default = "Proxy::port_default")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthDemand>,
}

impl Proxy {
    fn port_default() -> u16 {
        PROXY_PORT_DEFAULT
    }
}

/// A path a server answers with a redirect.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    pub path: String,
    /// Where to: an absolute `http://` URL or a path on the same server.
    pub to: String,
    #[serde(default = "Redirect::status_default")]
    pub status: u16,
}

impl Redirect {
    fn status_default() -> u16 {
        302
    }
}

/// The engine machine's registry settings that decide on logon credentials.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSettings {
    /// Which release's rule applies: `"2.0"` (default) or `"1.5"`.
    #[serde(default)]
    pub bits: BitsVersion,
    /// `UseLMCompat` (absent: 1, XP SP2's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_lm_compat: Option<u32>,
    /// `LmCompatibilityLevel` (absent: 0, XP's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lm_compatibility_level: Option<u32>,
    /// Lets Basic send passwords over plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub danger_allow_basic_auth_over_http: bool,
}

impl CredentialSettings {
    pub fn to_policy(&self) -> LogonPolicy {
        let default = LogonPolicy::default();
        LogonPolicy {
            version: self.bits,
            use_lm_compat: self.use_lm_compat.unwrap_or(default.use_lm_compat),
            lm_compatibility_level: self
                .lm_compatibility_level
                .unwrap_or(default.lm_compatibility_level),
        }
    }
}

/// What the machine's proxy settings are: the owners' Internet Explorer settings (what
/// PRECONFIG uses) and what WPAD finds (AUTODETECT).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MachineProxy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconfig_bypass: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodetect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autodetect_bypass: Option<String>,
}

impl MachineProxy {
    pub fn to_environment(&self) -> ProxyEnvironment {
        let lists = |proxy: &Option<String>, bypass: &Option<String>| {
            proxy.clone().map(|proxy| ProxyLists { proxy, bypass: bypass.clone() })
        };
        ProxyEnvironment {
            preconfig: lists(&self.preconfig, &self.preconfig_bypass),
            autodetect: lists(&self.autodetect, &self.autodetect_bypass),
        }
    }
}

/// One `SetCredentials` call of a job.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobCredential {
    pub target: AuthTarget,
    pub scheme: AuthScheme,
    /// Absent together with `password`: NULL, the owner's logon credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl JobCredential {
    pub fn to_engine(&self) -> Credential {
        Credential { user: self.user.clone(), password: self.password.clone().map(Secret::new) }
    }
}

/// A job's `SetProxySettings`, if the scenario calls it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobProxy {
    pub usage: ProxyUsage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_list: Option<String>,
}

impl JobProxy {
    pub fn to_engine(&self) -> ProxySettings {
        ProxySettings {
            usage: self.usage,
            proxy_list: self.proxy_list.clone(),
            bypass_list: self.bypass_list.clone(),
        }
    }
}
