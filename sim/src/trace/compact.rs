//! The compact text form of trace events: one short line each, for `--verbose` and the
//! golden snapshots.

use std::fmt::Write as _;

use bitsim_engine::Event;
use bitsim_engine::core::job::OWNER_DEFAULT;
use serde::Serialize;

use crate::auth::Seen;

use super::{Credentials, SimEvent, TraceEvent};

pub(super) fn compact_event(event: &TraceEvent) -> Option<String> {
    Some(match event {
        TraceEvent::Engine(event) => compact_engine(event)?,
        TraceEvent::Sim(event) => compact_sim(event),
    })
}

fn compact_engine(event: &Event) -> Option<String> {
    Some(match event {
        Event::Started { jobs } => format!("engine started with {jobs} job(s)"),
        Event::Restored { job, state } => format!("{job} restored as {state}"),
        Event::PartFileChecked { job, file, journal_offset, file_len } => {
            let len = file_len.map_or_else(|| "missing".to_owned(), |len| len.to_string());
            format!("{job} file{file} recovery: journal offset {journal_offset}, file length {len}")
        }
        Event::JobCreated { job, name, owner } if owner == OWNER_DEFAULT => {
            format!("{job} created `{name}`")
        }
        Event::JobCreated { job, name, owner } => format!("{job} created `{name}` for {owner}"),
        Event::FileAdded { job, file, remote_name, local_name, ranges } if ranges.is_empty() => {
            format!("{job} file{file} added {remote_name} -> {local_name}")
        }
        Event::RemoteNameChanged { job, file, remote_name } => {
            format!("{job} file{file} remote name now {remote_name}")
        }
        Event::FileAdded { job, file, remote_name, local_name, ranges } => {
            let ranges = bitsim_engine::core::ranges::format_ranges(ranges);
            format!("{job} file{file} added {remote_name} [{ranges}] -> {local_name}")
        }
        Event::StateChanged { job, from, to, trigger, error } => {
            let mut line = format!("{job} {from} -> {to} ({})", serde_plain(trigger));
            if let Some(error) = error {
                let _ = write!(line, " {}", error.error);
            }
            line
        }
        Event::Connecting { job, file, host, port } => {
            format!("{job} file{file} connect {host}:{port}")
        }
        Event::Connected { job, file, local_port, probe } => {
            let port = local_port.map_or_else(|| "?".to_owned(), |port| port.to_string());
            let what = if *probe { "probe connection" } else { "connected" };
            format!("{job} file{file} {what} from port {port}")
        }
        Event::RateSet { job, rate_bps } => match rate_bps {
            Some(rate) => format!("{job} reads at most {rate} bit/s"),
            None => format!("{job} reads at full speed"),
        },
        Event::Request { job, file, method, range, proxy_authorization, authorization, .. } => {
            let mut line = format!("{job} file{file} {method}");
            if let Some(range) = range {
                let _ = write!(line, " Range: {range}");
            }
            if let Some(scheme) = proxy_authorization {
                let _ = write!(line, " +Proxy-Authorization {scheme}");
            }
            if let Some(scheme) = authorization {
                let _ = write!(line, " +Authorization {scheme}");
            }
            line
        }
        Event::Redirected { job, file, status, location } => {
            format!("{job} file{file} follows {status} to {location}")
        }
        Event::Response { job, file, status, content_length, content_range } => {
            let mut line = format!("{job} file{file} <- {status}");
            if let Some(length) = content_length {
                let _ = write!(line, " length {length}");
            }
            if let Some(range) = content_range {
                let _ = write!(line, " Content-Range: {range}");
            }
            line
        }
        Event::FileRestarted { job, file, reason } => {
            format!("{job} file{file} restarts from byte 0: {reason}")
        }
        Event::Checkpoint { job, file, offset } => format!("{job} file{file} durable to {offset}"),
        Event::BodyEnded { job, file, start, received } => {
            format!("{job} file{file} body ended: {received} bytes from {start}")
        }
        Event::FileTransferred { job, file } => format!("{job} file{file} transferred"),
        Event::Progress { .. } => return None,
        Event::UploadPacket { .. }
        | Event::UploadAck { .. }
        | Event::UploadSession { .. }
        | Event::UploadAcknowledged { .. }
        | Event::ReplyReceived { .. } => super::upload::compact_engine(event),
        Event::Completed { job, result } => format!("{job} completed {result}"),
        Event::Notified { job, notification, result } => {
            format!("{job} notified {notification}: {result}")
        }
    })
}

fn compact_sim(event: &SimEvent) -> String {
    match event {
        SimEvent::LinkDropped { peer } => format!("link to {peer} DROPPED"),
        SimEvent::LinkRepaired { peer } => format!("link to {peer} repaired"),
        SimEvent::LatencySet { peer, latency_us } => {
            format!("latency to {peer} now {}ms", latency_us / 1000)
        }
        SimEvent::LinkRateSet { peer, down_bps, up_bps } => {
            let rate = |bps: &Option<u64>| {
                bps.map_or_else(|| "unchanged".to_owned(), |b| format!("{b} bit/s"))
            };
            format!("link to {peer} now down {} up {}", rate(down_bps), rate(up_bps))
        }
        SimEvent::Healed { repaired, restored, powered_on, bound, .. } => {
            let mut line = "HEALED".to_owned();
            for (what, names) in
                [("repaired", repaired), ("restored", restored), ("powered on", powered_on)]
            {
                if !names.is_empty() {
                    let _ = write!(line, "; {what} {}", names.join(", "));
                }
            }
            let _ = write!(line, "; every job settles within {bound}");
            line
        }
        SimEvent::CrossTrafficStarted { entry, flows, direction } => {
            format!("cross traffic #{entry}: {flows} flow(s) {direction}")
        }
        SimEvent::CrossTrafficStopped { entry } => format!("cross traffic #{entry} stopped"),
        SimEvent::LinkTotals { link, bytes, connections } => {
            format!("link {link} carried {bytes} bytes over {connections} connection(s)")
        }
        SimEvent::PowerLost => "POWER LOST".to_owned(),
        SimEvent::NetworkLost => "NETWORK LOST".to_owned(),
        SimEvent::NetworkReturned => "network returned".to_owned(),
        SimEvent::ProcessRestarted => "PROCESS RESTARTED".to_owned(),
        SimEvent::Booted { boot } => format!("boot #{boot}"),
        SimEvent::ContentChanged { path, version, size } => {
            format!("{path} is now version {version} ({size} bytes)")
        }
        SimEvent::Served {
            client,
            method,
            path,
            version,
            range,
            status,
            past_eof,
            location,
            credentials,
            ..
        } => {
            let mut line = format!("served {client} {method} {path} v{version}");
            line.push_str(&compact_credentials(credentials));
            if let Some(location) = location {
                let _ = write!(line, " Location: {location}");
            }
            if let Some(range) = range {
                let _ = write!(line, " Range: {range}");
            }
            if *past_eof {
                line.push_str(" PAST EOF");
            }
            match status {
                0 => line.push_str(" -> connection closed"),
                status => {
                    let _ = write!(line, " -> {status}");
                }
            }
            line
        }
        SimEvent::Proxied { client, method, url, status, credentials, .. } => {
            format!(
                "proxied {client} {method} {url}{} -> {status}",
                compact_credentials(credentials)
            )
        }
        SimEvent::FileVerified { job, file, local, len, hash } => {
            format!("{job} file{file} verified {local}: {len} bytes, fnv64 {hash}")
        }
        SimEvent::ActionDone { call, caller, admin, job, result, listed, .. } => {
            let who = if *admin { format!("{caller} (admin)") } else { caller.clone() };
            let result = result.name().map_or_else(|| result.to_string(), str::to_owned);
            let mut line = match job {
                Some(job) => format!("app as {who}: {call}({job}) -> {result}"),
                None => format!("app as {who}: {call} -> {result}"),
            };
            if let Some(listed) = listed {
                let ids: Vec<String> = listed.iter().map(ToString::to_string).collect();
                let _ = write!(line, " [{}]", ids.join(", "));
            }
            line
        }
        SimEvent::AppCallFailed { call, job, error } => match job {
            Some(job) => format!("app: {call}({job}) failed: {error}"),
            None => format!("app: {call} failed: {error}"),
        },
        SimEvent::HostFailed { error } => format!("HOST FAILED: {error}"),
        SimEvent::UploadReceived { .. }
        | SimEvent::UploadCommitted { .. }
        | SimEvent::UploadDiscarded { .. }
        | SimEvent::ReplyReady { .. }
        | SimEvent::UploadSourceWritten { .. }
        | SimEvent::ReplyVerified { .. } => super::upload::compact_sim(event),
    }
}

/// What credentials a request carried and what came of them, for a compact line.
fn compact_credentials(credentials: &Credentials) -> String {
    let mut text = String::new();
    let seen = |seen: &Seen| {
        let leg = seen.leg.map_or(String::new(), |leg| format!(" type {leg}"));
        let user = seen.user.as_deref().map_or(String::new(), |user| format!(" {user}"));
        format!("{}{leg}{user}", seen.scheme)
    };
    if let Some(header) = &credentials.proxy_authorization {
        let _ = write!(text, " [Proxy-Authorization {}]", seen(header));
    }
    if let Some(header) = &credentials.authorization {
        let _ = write!(text, " [Authorization {}]", seen(header));
    }
    if let Some(user) = &credentials.authenticated_as {
        let _ = write!(text, " as {user}");
    }
    if let Some(reason) = &credentials.rejected {
        let _ = write!(text, " (refused: {reason})");
    }
    text
}

/// A unit enum variant as its serde name (`resume`, `transient_failure`).
fn serde_plain(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}
