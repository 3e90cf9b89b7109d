//! The security oracles, judged on what servers and proxies saw arrive (ground truth) and,
//! for connection isolation, on which job sent each request:
//!
//! - credential-scope: `Authorization` reaches only the hosts the jobs' remote names name
//!   (never a host a redirect led to); `Proxy-Authorization` never reaches a server.
//! - basic-over-http: no Basic credentials cross plain HTTP unless the scenario sets
//!   `danger_allow_basic_auth_over_http`.
//! - connection-isolation: a connection authenticated for one owner's job never carries a
//!   request of another owner's job (WinHTTP 5.1's promise, KB 842773).
//! - secrets-hidden: no password of the scenario appears in the trace, in any encoding a
//!   header would carry it.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::{Event, JobId};

use super::{Oracle, Violation, violation};
use crate::scenario::{ENGINE_HOST, Scenario};
use crate::trace::{Credentials, SimEvent, Trace, TraceEntry, TraceEvent};

pub(super) fn credential_scope(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let origins: BTreeSet<String> = entries
        .iter()
        .filter_map(|entry| match &entry.event {
            TraceEvent::Engine(Event::FileAdded { remote_name, .. }) => {
                RemoteUrl::parse(remote_name).ok().map(|url| url.host)
            }
            _ => None,
        })
        .collect();
    for entry in entries {
        let TraceEvent::Sim(SimEvent::Served { path, credentials, .. }) = &entry.event else {
            continue;
        };
        if let Some(seen) = &credentials.proxy_authorization {
            out.push(violation(Oracle::CredentialScope, entry, format!(
                "server {} received Proxy-Authorization ({}) for {path}: proxy credentials went to a server",
                entry.host, seen.scheme
            )));
        }
        if let Some(seen) = &credentials.authorization
            && !origins.contains(&entry.host)
        {
            let user = seen.user.as_deref().unwrap_or("?");
            out.push(violation(Oracle::CredentialScope, entry, format!(
                "server {} received Authorization ({} for {user}) for {path}, but no job's remote name is on it: credentials crossed to another host",
                entry.host, seen.scheme
            )));
        }
    }
}

pub(super) fn basic_over_http(
    scenario: &Scenario,
    entries: &[TraceEntry],
    out: &mut Vec<Violation>,
) {
    let allowed = scenario
        .engine
        .credentials
        .as_ref()
        .is_some_and(|settings| settings.danger_allow_basic_auth_over_http);
    if allowed {
        return;
    }
    for entry in entries {
        let Some(credentials) = credentials_of(&entry.event) else { continue };
        let headers = [
            ("Authorization", &credentials.authorization),
            ("Proxy-Authorization", &credentials.proxy_authorization),
        ];
        for (name, seen) in headers {
            if seen.as_ref().is_some_and(|seen| seen.scheme.eq_ignore_ascii_case("basic")) {
                out.push(violation(Oracle::BasicOverHttp, entry, format!(
                    "{} received {name}: Basic over plain HTTP, and danger_allow_basic_auth_over_http is off",
                    entry.host
                )));
            }
        }
    }
}

fn credentials_of(event: &TraceEvent) -> Option<&Credentials> {
    match event {
        TraceEvent::Sim(
            SimEvent::Served { credentials, .. } | SimEvent::Proxied { credentials, .. },
        ) => Some(credentials),
        _ => None,
    }
}

/// One request a server or proxy received from the engine.
struct Received<'a> {
    entry: &'a TraceEntry,
    credentials: &'a Credentials,
}

pub(super) fn connection_isolation(entries: &[TraceEntry], out: &mut Vec<Violation>) {
    let owners: BTreeMap<JobId, &str> = entries
        .iter()
        .filter_map(|entry| match &entry.event {
            TraceEvent::Engine(Event::JobCreated { job, owner, .. }) => {
                Some((*job, owner.as_str()))
            }
            _ => None,
        })
        .collect();
    // The engine's side: per local port, each connection (where its `Connected` is in the
    // trace) and the jobs of its requests in order; probe connections report no requests.
    let mut sent: BTreeMap<u16, Vec<(usize, Vec<JobId>)>> = BTreeMap::new();
    // The servers' side: each connection from the engine, with the requests it carried.
    let mut received: BTreeMap<(String, u64), (u16, usize, Vec<Received<'_>>)> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        match &entry.event {
            TraceEvent::Engine(Event::Connected { local_port: Some(port), .. }) => {
                sent.entry(*port).or_default().push((index, Vec::new()));
            }
            TraceEvent::Engine(Event::Request { job, local_port: Some(port), .. }) => {
                if let Some((_, jobs)) = sent.entry(*port).or_default().last_mut() {
                    jobs.push(*job);
                }
            }
            TraceEvent::Sim(
                SimEvent::Served { client, port, connection, credentials, .. }
                | SimEvent::Proxied { client, port, connection, credentials, .. },
            ) if client == ENGINE_HOST => {
                let key = (entry.host.clone(), *connection);
                let (_, _, requests) = received.entry(key).or_insert((*port, index, Vec::new()));
                requests.push(Received { entry, credentials });
            }
            _ => {}
        }
    }
    for (port, first_seen, requests) in received.values() {
        // The engine connection it is: the last one from that port opened before the server
        // saw its first request (a port is reused only after its connection closed).
        let Some((_, jobs)) = sent
            .get(port)
            .and_then(|connections| connections.iter().rev().find(|(at, _)| at < first_seen))
        else {
            continue;
        };
        check_connection(requests, jobs, &owners, out);
    }
}

/// Within one connection: once a request of one owner's job is served as an authenticated
/// user, no request of another owner's job may follow on it.
fn check_connection(
    requests: &[Received<'_>],
    jobs: &[JobId],
    owners: &BTreeMap<JobId, &str>,
    out: &mut Vec<Violation>,
) {
    let mut authenticated_for: Option<(&str, &str)> = None;
    for (received, job) in requests.iter().zip(jobs) {
        let owner = owners.get(job).copied().unwrap_or("?");
        if let Some((first_owner, user)) = authenticated_for
            && first_owner != owner
        {
            out.push(violation(Oracle::ConnectionIsolation, received.entry, format!(
                "{} served {job} (owner {owner}) on a connection authenticated as {user} for a job of {first_owner}",
                received.entry.host
            )));
            return;
        }
        if let Some(user) = &received.credentials.authenticated_as
            && authenticated_for.is_none()
        {
            authenticated_for = Some((owner, user));
        }
    }
}

pub(super) fn secrets_hidden(scenario: &Scenario, trace: &Trace, out: &mut Vec<Violation>) {
    let text = trace.jsonl();
    let mut needles: Vec<(String, &'static str)> = Vec::new();
    for password in scenario.passwords() {
        needles.push((password.to_owned(), "in clear text"));
        needles.push((STANDARD.encode(password), "in base64"));
    }
    for account in scenario.accounts.iter().map(|account| account.get_ref()) {
        let pair = format!("{}:{}", account.user, account.password);
        needles.push((STANDARD.encode(pair), "as a Basic token"));
    }
    for (needle, how) in needles {
        if let Some(at) = text.find(&needle) {
            let line = text[..at].matches('\n').count();
            let entry = &trace.entries[line.min(trace.entries.len().saturating_sub(1))];
            out.push(violation(
                Oracle::SecretsHidden,
                entry,
                format!(
                    "a password appears {how} in the trace (line {}, {})",
                    line + 1,
                    entry.host
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each security oracle holds on a real authenticated run and fires once one fact of its
    //! trace (or of the scenario it is judged by) is broken.

    use super::*;
    use crate::auth::Seen;
    use crate::world::{RunConfig, RunOutcome, run};

    const BASIC: &str = include_str!("../../../scenarios/proxy-407-basic.toml");

    fn basic_run() -> (Scenario, RunOutcome) {
        let scenario = Scenario::parse(BASIC, "proxy-407-basic.toml").unwrap();
        let outcome = run(&scenario, &RunConfig { seed: 3, ..RunConfig::default() });
        (scenario, outcome)
    }

    fn fired(scenario: &Scenario, outcome: &RunOutcome) -> Vec<Oracle> {
        super::super::check(scenario, 3, outcome).into_iter().map(|v| v.oracle).collect()
    }

    #[test]
    fn the_authenticated_run_is_clean() {
        let (scenario, outcome) = basic_run();
        assert_eq!(fired(&scenario, &outcome), Vec::<Oracle>::new());
    }

    #[test]
    fn basic_without_the_danger_option_fires() {
        let (_, outcome) = basic_run();
        let strict = BASIC.replace("danger_allow_basic_auth_over_http = true", "");
        let scenario = Scenario::parse(&strict, "strict.toml").unwrap();
        assert!(fired(&scenario, &outcome).contains(&Oracle::BasicOverHttp));
    }

    #[test]
    fn a_password_in_an_error_message_fires() {
        let (scenario, mut outcome) = basic_run();
        let leak = SimEvent::AppCallFailed {
            call: "set_credentials".into(),
            job: None,
            error: "rejected alice-proxy-pw".into(),
        };
        outcome.trace.entries.push(TraceEntry {
            t_us: 1,
            host: ENGINE_HOST.into(),
            event: leak.into(),
        });
        let fired = fired(&scenario, &outcome);
        assert!(fired.contains(&Oracle::SecretsHidden), "{fired:?}");
        let detail = super::super::check(&scenario, 3, &outcome)
            .into_iter()
            .find(|violation| violation.oracle == Oracle::SecretsHidden)
            .unwrap()
            .detail;
        assert!(!detail.contains("alice-proxy-pw"), "the report must not repeat the secret");
    }

    #[test]
    fn a_basic_token_in_the_trace_fires() {
        let (scenario, mut outcome) = basic_run();
        let token = STANDARD.encode("alice:alice-proxy-pw");
        let leak = SimEvent::HostFailed { error: format!("Authorization: Basic {token}") };
        outcome.trace.entries.push(TraceEntry {
            t_us: 1,
            host: ENGINE_HOST.into(),
            event: leak.into(),
        });
        assert!(fired(&scenario, &outcome).contains(&Oracle::SecretsHidden));
    }

    #[test]
    fn proxy_credentials_at_a_server_fire() {
        let (scenario, mut outcome) = basic_run();
        let served = outcome.trace.entries.iter_mut().find_map(|entry| match &mut entry.event {
            TraceEvent::Sim(SimEvent::Served { credentials, .. }) => Some(credentials),
            _ => None,
        });
        served.expect("the origin served the file").proxy_authorization =
            Some(Seen { scheme: "Basic".into(), user: Some("alice".into()), leg: None });
        assert!(fired(&scenario, &outcome).contains(&Oracle::CredentialScope));
    }

    #[test]
    fn server_credentials_at_a_host_no_job_names_fire() {
        let (scenario, mut outcome) = basic_run();
        let served = outcome.trace.entries.iter_mut().find_map(|entry| match &mut entry.event {
            TraceEvent::Sim(SimEvent::Served { credentials, .. }) => {
                entry.host = "elsewhere".into();
                Some(credentials)
            }
            _ => None,
        });
        served.expect("the origin served the file").authorization =
            Some(Seen { scheme: "Digest".into(), user: Some("alice".into()), leg: None });
        assert!(fired(&scenario, &outcome).contains(&Oracle::CredentialScope));
    }
}
