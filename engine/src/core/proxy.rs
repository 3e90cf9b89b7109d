//! `SetProxySettings` (spec §6.3): which proxy, if any, a job's request goes through.
//!
//! Lists are checked twice, as BITS does: their presence and length when set (API errors),
//! their syntax when a transfer starts (the job goes to ERROR with BG_E_INVALID_PROXY_INFO).

use serde::{Deserialize, Serialize};

use super::error::{ApiError, TransferError};
use super::hresult::Hresult;

/// The longest proxy or bypass list accepted. BITS documents 4,000 characters in the
/// parameter text, 32 KB in the return-code table and "32,000 characters" in bitsmsg.h; we
/// take the smallest (spec §6.3, UNCONFIRMED).
pub const PROXY_LIST_LEN_MAX: usize = 4_000;

/// The port of a proxy entry without one (WinHTTP's default for `http://` proxies).
pub const PROXY_PORT_DEFAULT: u16 = 80;

/// `BG_JOB_PROXY_USAGE`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyUsage {
    /// The owner's Internet Explorer settings (the default).
    #[default]
    Preconfig = 0,
    NoProxy = 1,
    /// The program's own lists.
    Override = 2,
    /// Web Proxy Auto-Discovery (BITS 2.0 and later).
    Autodetect = 3,
}

impl ProxyUsage {
    /// From `BG_JOB_PROXY_USAGE`'s number; an undefined value is E_NOTIMPL (spec §6.3).
    pub fn from_number(value: u32) -> Result<Self, ApiError> {
        [Self::Preconfig, Self::NoProxy, Self::Override, Self::Autodetect]
            .into_iter()
            .find(|usage| *usage as u32 == value)
            .ok_or_else(|| ApiError::new(Hresult::E_NOTIMPL, format!("proxy usage {value}")))
    }
}

/// A job's proxy settings.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ProxySettings {
    pub usage: ProxyUsage,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proxy_list: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bypass_list: Option<String>,
}

impl ProxySettings {
    /// The checks of `SetProxySettings`: lists only with OVERRIDE, which needs a proxy list,
    /// and neither list too long.
    pub fn check(&self) -> Result<(), ApiError> {
        let lists = self.proxy_list.is_some() || self.bypass_list.is_some();
        match self.usage {
            ProxyUsage::Override if self.proxy_list.is_none() => {
                return Err(ApiError::invalid_arg("OVERRIDE needs a proxy list"));
            }
            ProxyUsage::Override => {}
            other if lists => {
                return Err(ApiError::invalid_arg(format!(
                    "proxy and bypass lists must be NULL with {other:?}"
                )));
            }
            _ => {}
        }
        let too_long = |list: &Option<String>| {
            list.as_ref().is_some_and(|list| list.chars().count() > PROXY_LIST_LEN_MAX)
        };
        if too_long(&self.proxy_list) {
            return Err(ApiError::new(
                Hresult::BG_E_PROXY_LIST_TOO_LARGE,
                format!("the proxy list is longer than {PROXY_LIST_LEN_MAX} characters"),
            ));
        }
        if too_long(&self.bypass_list) {
            return Err(ApiError::new(
                Hresult::BG_E_PROXY_BYPASS_LIST_TOO_LARGE,
                format!("the bypass list is longer than {PROXY_LIST_LEN_MAX} characters"),
            ));
        }
        Ok(())
    }
}

/// What PRECONFIG and AUTODETECT find on this machine: the owner's Internet Explorer
/// settings, and what WPAD would answer. Both are lists in the OVERRIDE syntax.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ProxyEnvironment {
    pub preconfig: Option<ProxyLists>,
    pub autodetect: Option<ProxyLists>,
}

/// A proxy list and its bypass list, as text.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ProxyLists {
    pub proxy: String,
    pub bypass: Option<String>,
}

/// How a request reaches `host`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Route {
    Direct,
    Proxy { host: String, port: u16 },
}

/// The route of an `http://` request to `host` under `settings`. Proxy lists that do not
/// parse are BG_E_INVALID_PROXY_INFO, a fatal error blamed on the transport.
pub fn route(
    settings: &ProxySettings,
    environment: &ProxyEnvironment,
    host: &str,
) -> Result<Route, TransferError> {
    let lists = match settings.usage {
        ProxyUsage::NoProxy => return Ok(Route::Direct),
        ProxyUsage::Override => ProxyLists {
            proxy: settings.proxy_list.clone().unwrap_or_default(),
            bypass: settings.bypass_list.clone(),
        },
        ProxyUsage::Preconfig => match &environment.preconfig {
            Some(lists) => lists.clone(),
            None => return Ok(Route::Direct),
        },
        ProxyUsage::Autodetect => match &environment.autodetect {
            Some(lists) => lists.clone(),
            None => return Ok(Route::Direct),
        },
    };
    let invalid = |detail: String| {
        TransferError::transport(
            Hresult::BG_E_INVALID_PROXY_INFO,
            format!("{:?} proxy settings: {detail}", settings.usage),
        )
    };
    let bypass = match &lists.bypass {
        Some(text) => parse_bypass_list(text).map_err(invalid)?,
        None => Vec::new(),
    };
    let proxies = parse_proxy_list(&lists.proxy).map_err(invalid)?;
    if bypass.iter().any(|entry| entry.matches(host)) {
        return Ok(Route::Direct);
    }
    Ok(pick_for_http(&proxies)
        .map_or(Route::Direct, |entry| Route::Proxy { host: entry.host.clone(), port: entry.port }))
}

/// One entry of a proxy list: `[protocol=][protocol://]server[:port]`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ProxyEntry {
    /// `http` or `https` when the entry is for one protocol only.
    pub for_protocol: Option<String>,
    pub host: String,
    pub port: u16,
}

/// Splits a list on whitespace or `;` (WinHTTP accepts both; the BITS docs say spaces).
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ';').filter(|entry| !entry.is_empty())
}

pub fn parse_proxy_list(text: &str) -> Result<Vec<ProxyEntry>, String> {
    let list: Vec<ProxyEntry> = entries(text).map(parse_proxy_entry).collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("the proxy list is empty".to_owned());
    }
    Ok(list)
}

fn parse_proxy_entry(entry: &str) -> Result<ProxyEntry, String> {
    let protocol = |name: &str| {
        let name = name.to_ascii_lowercase();
        if name == "http" || name == "https" {
            Ok(name)
        } else {
            Err(format!("`{entry}`: protocol `{name}` is neither http nor https"))
        }
    };
    let (for_protocol, rest) = match entry.split_once('=') {
        Some((name, rest)) => (Some(protocol(name)?), rest),
        None => (None, entry),
    };
    let server = match rest.split_once("://") {
        Some((name, server)) => {
            protocol(name)?;
            server
        }
        None => rest,
    };
    let (host, port) = match server.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse::<u16>().ok().filter(|port| *port != 0);
            (host, port.ok_or_else(|| format!("`{entry}`: the port is not 1..65535"))?)
        }
        None => (server.trim_end_matches('/'), PROXY_PORT_DEFAULT),
    };
    if !is_host_name(host) {
        return Err(format!("`{entry}`: `{host}` is not a host name"));
    }
    Ok(ProxyEntry { for_protocol, host: host.to_ascii_lowercase(), port })
}

/// The proxy for an `http://` URL: the first entry for http, else the first entry without a
/// protocol (the default for protocols without their own).
fn pick_for_http(list: &[ProxyEntry]) -> Option<&ProxyEntry> {
    list.iter()
        .find(|entry| entry.for_protocol.as_deref() == Some("http"))
        .or_else(|| list.iter().find(|entry| entry.for_protocol.is_none()))
}

/// One entry of a bypass list.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum BypassEntry {
    /// `<local>`: any host name without a dot.
    Local,
    /// `*.example.com` (or `*`): any host ending in the suffix.
    Suffix(String),
    Exact(String),
}

impl BypassEntry {
    pub fn matches(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        match self {
            Self::Local => !host.contains('.'),
            Self::Suffix(suffix) => host.ends_with(suffix.as_str()),
            Self::Exact(name) => host == *name,
        }
    }
}

pub fn parse_bypass_list(text: &str) -> Result<Vec<BypassEntry>, String> {
    entries(text)
        .map(|entry| {
            let lower = entry.to_ascii_lowercase();
            if lower == "<local>" {
                return Ok(BypassEntry::Local);
            }
            if let Some(rest) = lower.strip_prefix('*') {
                if rest.is_empty() || (rest.starts_with('.') && is_host_name(&rest[1..])) {
                    return Ok(BypassEntry::Suffix(rest.to_owned()));
                }
            } else if is_host_name(&lower) {
                return Ok(BypassEntry::Exact(lower));
            }
            Err(format!(
                "bypass entry `{entry}`: expected a host name, an address, `*.suffix` (a \
                 wildcard only at the start) or `<local>`"
            ))
        })
        .collect()
}

/// Letters, digits, `-` and `.`; not empty, no empty labels. IPv4 addresses qualify.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overriding(proxy: &str, bypass: Option<&str>) -> ProxySettings {
        ProxySettings {
            usage: ProxyUsage::Override,
            proxy_list: Some(proxy.to_owned()),
            bypass_list: bypass.map(str::to_owned),
        }
    }

    fn proxy(host: &str, port: u16) -> Route {
        Route::Proxy { host: host.to_owned(), port }
    }

    #[test]
    fn lists_only_with_override() {
        let mut settings = overriding("p", None);
        assert!(settings.check().is_ok());
        settings.proxy_list = None;
        assert_eq!(settings.check().unwrap_err().code, Hresult::E_INVALIDARG);
        for usage in [ProxyUsage::Preconfig, ProxyUsage::NoProxy, ProxyUsage::Autodetect] {
            let settings = ProxySettings { usage, ..overriding("p", None) };
            assert_eq!(settings.check().unwrap_err().code, Hresult::E_INVALIDARG, "{usage:?}");
            let bare = ProxySettings { usage, ..Default::default() };
            assert!(bare.check().is_ok());
        }
        assert_eq!(ProxyUsage::from_number(4).unwrap_err().code, Hresult::E_NOTIMPL);
        assert_eq!(ProxyUsage::from_number(3), Ok(ProxyUsage::Autodetect));
    }

    #[test]
    fn lists_longer_than_the_limit_have_their_own_codes() {
        let long = "p".repeat(PROXY_LIST_LEN_MAX + 1);
        assert_eq!(
            overriding(&long, None).check().unwrap_err().code,
            Hresult::BG_E_PROXY_LIST_TOO_LARGE
        );
        assert_eq!(
            overriding("p", Some(&long)).check().unwrap_err().code,
            Hresult::BG_E_PROXY_BYPASS_LIST_TOO_LARGE
        );
        assert!(overriding(&"p".repeat(PROXY_LIST_LEN_MAX), None).check().is_ok());
    }

    #[test]
    fn entries_follow_the_documented_syntax() {
        let env = ProxyEnvironment::default();
        let via = |list: &str| route(&overriding(list, None), &env, "origin").unwrap();
        assert_eq!(via("proxy"), proxy("proxy", 80));
        assert_eq!(via("proxy:8080"), proxy("proxy", 8080));
        assert_eq!(via("http://Proxy:3128"), proxy("proxy", 3128));
        assert_eq!(via("https=secure:443 http=http://p1:80 p2"), proxy("p1", 80));
        assert_eq!(via("https=secure:443 p2:81"), proxy("p2", 81));
        assert_eq!(via("https=secure:443"), Route::Direct, "no entry serves http");
        assert_eq!(via("p1;p2"), proxy("p1", 80));
    }

    #[test]
    fn bad_lists_are_invalid_proxy_info_at_run_time() {
        let env = ProxyEnvironment::default();
        for bad in ["ftp=p:21", "p:0", "p:99999", "p:x", "gopher://p", "", "p q=r", "a..b"] {
            let error = route(&overriding(bad, None), &env, "origin").unwrap_err();
            assert_eq!(error.code, Hresult::BG_E_INVALID_PROXY_INFO, "`{bad}`");
            assert!(!error.is_transient());
        }
        for bad in ["ex*ample.com", "*example.com", "<loc>", "a/b"] {
            let error = route(&overriding("p", Some(bad)), &env, "origin").unwrap_err();
            assert_eq!(error.code, Hresult::BG_E_INVALID_PROXY_INFO, "`{bad}`");
        }
    }

    #[test]
    fn bypass_entries_match_as_documented() {
        let env = ProxyEnvironment::default();
        let via = |bypass: &str, host: &str| route(&overriding("p", Some(bypass)), &env, host);
        assert_eq!(via("<local>", "intranet").unwrap(), Route::Direct);
        assert_eq!(via("<local>", "cdn.example.com").unwrap(), proxy("p", 80));
        assert_eq!(via("*.example.com", "cdn.EXAMPLE.com").unwrap(), Route::Direct);
        assert_eq!(via("*.example.com", "example.com").unwrap(), proxy("p", 80));
        assert_eq!(via("origin 10.0.0.1", "10.0.0.1").unwrap(), Route::Direct);
        assert_eq!(via("*", "anything.at.all").unwrap(), Route::Direct);
    }

    #[test]
    fn preconfig_and_autodetect_read_the_machine() {
        let env = ProxyEnvironment {
            preconfig: Some(ProxyLists { proxy: "ie:8080".into(), bypass: Some("<local>".into()) }),
            autodetect: Some(ProxyLists { proxy: "wpad:3128".into(), bypass: None }),
        };
        let usage = |usage| ProxySettings { usage, ..Default::default() };
        assert_eq!(route(&usage(ProxyUsage::Preconfig), &env, "a.b").unwrap(), proxy("ie", 8080));
        assert_eq!(route(&usage(ProxyUsage::Preconfig), &env, "local").unwrap(), Route::Direct);
        let wpad = route(&usage(ProxyUsage::Autodetect), &env, "a.b").unwrap();
        assert_eq!(wpad, proxy("wpad", 3128));
        assert_eq!(route(&usage(ProxyUsage::NoProxy), &env, "a.b").unwrap(), Route::Direct);
        let bare = ProxyEnvironment::default();
        assert_eq!(route(&usage(ProxyUsage::Preconfig), &bare, "a.b").unwrap(), Route::Direct);
    }
}
