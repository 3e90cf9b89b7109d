//! The shrinker's reductions. Each step is a family of candidates indexed over the current
//! scenario (fault 0, fault 1, ...); `apply` returns the candidate or `None` when the item
//! cannot shrink any further, so a pass always ends. Candidates need not validate: the
//! shrinker drops those that the loader refuses.

use std::collections::BTreeSet;
use std::time::Duration;

use bitsim_engine::Priority;
use bitsim_engine::core::auth::AuthTarget;
use bitsim_engine::core::http::RemoteUrl;

use super::half;
use crate::scenario::{Behaviour, FaultKind, Scenario, ServerFile, Span};

/// Files are halved down to this size and no further: below it a resume has nothing left
/// to cut into, and halving on costs runs for nothing.
pub(super) const SIZE_MIN: u64 = 1024;
/// Durations and times are halved down to this.
const SPAN_MIN: Duration = Duration::from_millis(200);
/// Deadlines are halved down to this.
const DEADLINE_MIN: Duration = Duration::from_secs(20);
/// The retry delay a simplified job gets: BITS's floor.
const RETRY_DELAY_MIN: Duration = Duration::from_secs(5);

/// A family of reductions, tried in this order: the big removals first (each makes every
/// later run cheaper), then settings, then halvings.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    RemoveFault,
    RemoveRandomFaults,
    RemoveJob,
    RemoveFile,
    DropUnused,
    Simplify,
    HalveDeadline,
    HalveSize,
    ShortenFault,
    EarlierFault,
    EarlierStart,
}

/// A whole-scenario simplification: what it does, and how.
type Simplification = (&'static str, fn(&mut Scenario));

/// Whole-scenario simplifications, each one candidate.
const SIMPLIFICATIONS: [Simplification; 12] = [
    ("no shaped link", |s| {
        s.links.clear();
        s.faults.retain(|fault| fault.get_ref().kind != FaultKind::LinkRate);
    }),
    ("no proxy", remove_proxies),
    ("no proxy credential demand", |s| s.proxies.iter_mut().for_each(|p| p.get_mut().auth = None)),
    ("no server credential demand", |s| s.servers.iter_mut().for_each(|p| p.get_mut().auth = None)),
    ("no job credentials", |s| s.jobs.iter_mut().for_each(|j| j.get_mut().credentials.clear())),
    ("default network latency", |s| s.network = Default::default()),
    ("default disk", |s| s.disk = Default::default()),
    ("default checkpoints", |s| {
        s.engine.checkpoint_bytes = None;
        s.engine.checkpoint_interval = None;
    }),
    ("default credential registry", |s| s.engine.credentials = None),
    ("well-behaved servers", |s| {
        for server in s.servers.iter_mut().map(|server| server.get_mut()) {
            server.behaviour = Behaviour::Normal;
            server.keep_alive = true;
        }
    }),
    ("normal priorities", |s| {
        s.jobs.iter_mut().for_each(|j| j.get_mut().priority = Priority::Normal)
    }),
    ("shortest retry delays", |s| {
        s.jobs.iter_mut().for_each(|j| j.get_mut().retry_delay = Some(Span(RETRY_DELAY_MIN)));
    }),
];

impl Step {
    pub(super) const ALL: [Self; 11] = [
        Self::RemoveFault,
        Self::RemoveRandomFaults,
        Self::RemoveJob,
        Self::RemoveFile,
        Self::DropUnused,
        Self::Simplify,
        Self::HalveDeadline,
        Self::HalveSize,
        Self::ShortenFault,
        Self::EarlierFault,
        Self::EarlierStart,
    ];

    /// How many candidates the step has on `scenario`.
    pub(super) fn count(self, scenario: &Scenario) -> usize {
        match self {
            Self::RemoveFault | Self::ShortenFault | Self::EarlierFault => scenario.faults.len(),
            Self::RemoveRandomFaults => scenario.random_faults.len(),
            Self::RemoveJob if scenario.jobs.len() > 1 => scenario.jobs.len(),
            Self::RemoveJob => 0,
            Self::RemoveFile => scenario.jobs.iter().map(|job| job.get_ref().files.len()).sum(),
            Self::DropUnused | Self::HalveDeadline => 1,
            Self::Simplify => SIMPLIFICATIONS.len(),
            Self::HalveSize => server_files(scenario).len(),
            Self::EarlierStart => scenario.jobs.len(),
        }
    }

    /// The candidate number `index`, or `None` when that item cannot shrink further.
    pub(super) fn apply(self, scenario: &Scenario, index: usize) -> Option<Scenario> {
        let mut s = scenario.clone();
        match self {
            Self::RemoveFault => drop(s.faults.remove(index)),
            Self::RemoveRandomFaults => drop(s.random_faults.remove(index)),
            Self::RemoveJob => drop(s.jobs.remove(index)),
            Self::RemoveFile => {
                let (job, file) = job_file(&s, index)?;
                let files = &mut s.jobs[job].get_mut().files;
                if files.len() < 2 {
                    return None;
                }
                files.remove(file);
            }
            Self::DropUnused => drop_unused(&mut s),
            Self::Simplify => SIMPLIFICATIONS[index].1(&mut s),
            Self::HalveDeadline => s.deadline = shorter(s.deadline, DEADLINE_MIN)?,
            Self::HalveSize => {
                let (server, file) = server_files(&s)[index];
                let file = &mut s.servers[server].get_mut().files[file];
                if file.size.0 <= SIZE_MIN {
                    return None;
                }
                file.size.0 /= 2;
                for change in &mut file.changes {
                    change.size = change.size.map(|size| crate::scenario::Size(size.0 / 2));
                }
            }
            Self::ShortenFault => {
                let fault = s.faults[index].get_mut();
                let (duration, down) = (fault.duration, fault.down);
                fault.duration = duration.and_then(|span| shorter(span, SPAN_MIN));
                fault.down = down.and_then(|span| shorter(span, SPAN_MIN));
                if fault.duration.is_none() && fault.down.is_none() {
                    return None;
                }
            }
            Self::EarlierFault => {
                let fault = s.faults[index].get_mut();
                fault.at = shorter(fault.at, SPAN_MIN)?;
            }
            Self::EarlierStart => s.jobs[index].get_mut().start_at = None,
        }
        Some(s)
    }

    /// What candidate `index` does, for the shrink's log.
    pub(super) fn describe(self, scenario: &Scenario, index: usize) -> String {
        let fault = || {
            let fault = scenario.faults[index].get_ref();
            format!("{} at {}", fault.kind.name(), fault.at)
        };
        match self {
            Self::RemoveFault => format!("removed the {}", fault()),
            Self::RemoveRandomFaults => format!("removed random faults entry {}", index + 1),
            Self::RemoveJob => format!("removed job {}", scenario.jobs[index].get_ref().name),
            Self::RemoveFile => format!("removed file {} of its job", index + 1),
            Self::DropUnused => "dropped hosts, files and accounts nothing uses".to_owned(),
            Self::Simplify => SIMPLIFICATIONS[index].0.to_owned(),
            Self::HalveDeadline => format!("halved the deadline ({})", scenario.deadline),
            Self::HalveSize => {
                let (server, file) = server_files(scenario)[index];
                let server = scenario.servers[server].get_ref();
                format!(
                    "halved {}{} ({} bytes)",
                    server.name, server.files[file].path, server.files[file].size
                )
            }
            Self::ShortenFault => format!("halved the length of the {}", fault()),
            Self::EarlierFault => format!("moved the {} earlier", fault()),
            Self::EarlierStart => {
                format!("job {} starts at once", scenario.jobs[index].get_ref().name)
            }
        }
    }
}

/// Half of `span`, unless that would go under `min`.
fn shorter(span: Span, min: Duration) -> Option<Span> {
    let halved = half(span);
    (halved.0 >= min).then_some(halved)
}

/// (job, file) of the `index`-th file over all jobs.
fn job_file(scenario: &Scenario, index: usize) -> Option<(usize, usize)> {
    scenario
        .jobs
        .iter()
        .enumerate()
        .flat_map(|(job, spec)| (0..spec.get_ref().files.len()).map(move |file| (job, file)))
        .nth(index)
}

/// (server, file) of every file every server serves.
fn server_files(scenario: &Scenario) -> Vec<(usize, usize)> {
    scenario
        .servers
        .iter()
        .enumerate()
        .flat_map(|(server, spec)| (0..spec.get_ref().files.len()).map(move |file| (server, file)))
        .collect()
}

/// The file a URL names, if a server of the scenario serves it.
pub(super) fn served_file<'a>(scenario: &'a Scenario, url: &str) -> Option<&'a ServerFile> {
    let url = RemoteUrl::parse(url).ok()?;
    scenario.server(&url.host)?.files.iter().find(|file| file.path == url.path_and_query)
}

/// Removes the proxies; every job goes direct and loses its proxy credentials.
fn remove_proxies(s: &mut Scenario) {
    s.proxies.clear();
    s.engine.proxy = None;
    for job in s.jobs.iter_mut().map(|job| job.get_mut()) {
        job.proxy = None;
        job.credentials.retain(|credential| credential.target != AuthTarget::Proxy);
    }
    drop_unused(s);
}

/// Removes servers and server files no job (or redirect) names, proxies nothing configures,
/// accounts nobody needs, and the faults and links that name a removed host.
fn drop_unused(s: &mut Scenario) {
    let mut named: BTreeSet<(String, String)> = BTreeSet::new();
    for job in s.jobs.iter().map(|job| job.get_ref()) {
        for file in &job.files {
            if let Ok(url) = RemoteUrl::parse(file.remote.get_ref()) {
                named.insert((url.host, url.path_and_query));
            }
        }
    }
    for server in s.servers.iter().map(|server| server.get_ref()) {
        for redirect in &server.redirects {
            named.insert((server.name.clone(), redirect.path.clone()));
            match RemoteUrl::parse(&redirect.to) {
                Ok(url) => named.insert((url.host, url.path_and_query)),
                Err(_) => named.insert((server.name.clone(), redirect.to.clone())),
            };
        }
    }
    for server in s.servers.iter_mut().map(|server| server.get_mut()) {
        let name = server.name.clone();
        server.files.retain(|file| named.contains(&(name.clone(), file.path.clone())));
    }
    s.servers.retain(|server| named.iter().any(|(host, _)| *host == server.get_ref().name));
    let configured = |name: &str| {
        let machine = s.engine.proxy.iter().flat_map(|p| [&p.preconfig, &p.autodetect]).flatten();
        let jobs =
            s.jobs.iter().filter_map(|job| job.get_ref().proxy.as_ref()?.proxy_list.as_ref());
        machine.chain(jobs).any(|list| list.contains(name))
    };
    let proxies: Vec<bool> = s.proxies.iter().map(|p| configured(&p.get_ref().name)).collect();
    let mut keep = proxies.into_iter();
    s.proxies.retain(|_| keep.next().unwrap_or(true));
    drop_unused_accounts(s);
    let hosts: BTreeSet<String> = s.hosts().map(str::to_owned).collect();
    let known = |name: &String| hosts.contains(name);
    s.faults.retain(|fault| {
        let fault = fault.get_ref();
        fault.host.iter().all(known) && fault.between.iter().flatten().all(known)
    });
    s.random_faults.retain(|random| {
        let random = random.get_ref();
        random.host.iter().all(known) && random.between.iter().flatten().all(known)
    });
    s.links.retain(|link| link.get_ref().between.iter().all(|end| end == "*" || known(end)));
}

/// Accounts matter as job owners' logons, as users of explicit credentials, as users a
/// demand names, and to hosts that demand
/// credentials at all (which accept any account).
fn drop_unused_accounts(s: &mut Scenario) {
    let demands = s.servers.iter().filter_map(|server| server.get_ref().auth.as_ref());
    let demands: Vec<_> =
        demands.chain(s.proxies.iter().filter_map(|proxy| proxy.get_ref().auth.as_ref())).collect();
    let mut users: BTreeSet<&str> = s.jobs.iter().map(|job| job.get_ref().owner()).collect();
    let explicit = s.jobs.iter().flat_map(|job| &job.get_ref().credentials);
    users.extend(
        explicit
            .filter_map(|credential| credential.user.as_deref())
            .map(|user| bitsim_engine::core::auth::credentials::split_domain(user).1),
    );
    let needed = |user: &str| {
        users.iter().any(|named| named.eq_ignore_ascii_case(user))
            || demands.iter().any(|demand| {
                demand.users.iter().flatten().any(|named| named.eq_ignore_ascii_case(user))
            })
    };
    let keep: Vec<bool> = s.accounts.iter().map(|a| needed(&a.get_ref().user)).collect();
    let mut keep = keep.into_iter();
    s.accounts.retain(|_| keep.next().unwrap_or(true));
}
