//! The checks a scenario must pass beyond its syntax: names that resolve, faults that take
//! only their own fields, expectations that are outcomes. Each failure is located at the
//! table or value that causes it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use bitsim_engine::JobState;
use bitsim_engine::core::http::RemoteUrl;
use toml::Spanned;

use super::network::CROSS_FLOWS_MAX;
use super::{
    DEADLINE_MAX, ENGINE_HOST, Fault, FaultKind, Located, RANDOM_FAULTS_MAX, RandomFaults,
    Scenario, at,
};

impl Scenario {
    pub(super) fn validate(&self) -> Result<(), Located> {
        let whole = 0..0;
        let tick = self.tick.0;
        if tick < std::time::Duration::from_millis(1) || tick > std::time::Duration::from_secs(1) {
            return Err(at(whole, "tick: must be between 1ms and 1s"));
        }
        if self.deadline.0.is_zero() || self.deadline.0 > DEADLINE_MAX {
            return Err(at(whole, "deadline: must be positive and at most 365d"));
        }
        if !(0.0..=1.0).contains(&self.disk.random_sync) {
            return Err(at(whole, "disk.random_sync: must be between 0 and 1"));
        }
        if self.disk.torn_writes.is_some_and(|block| block.0 == 0) {
            return Err(at(whole, "disk.torn_writes: the block size must be positive"));
        }
        if self.servers.is_empty() || self.jobs.is_empty() {
            return Err(at(whole, "a scenario needs at least one [[servers]] and one [[jobs]]"));
        }
        self.validate_servers()?;
        self.validate_mirrors()?;
        self.validate_access()?;
        self.validate_jobs()?;
        self.validate_actions()?;
        self.validate_uploads()?;
        self.validate_network()?;
        let hosts: BTreeSet<&str> = self.hosts().collect();
        for fault in &self.faults {
            self.validate_fault(fault, &hosts)?;
        }
        for random in &self.random_faults {
            self.validate_random(random, &hosts)?;
        }
        self.validate_liveness()?;
        Ok(())
    }

    fn validate_servers(&self) -> Result<(), Located> {
        let mut names = BTreeSet::new();
        for server in &self.servers {
            let (span, server) = (server.span(), server.get_ref());
            let valid = !server.name.is_empty()
                && server.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && server.name != ENGINE_HOST
                && server.name != super::CROSS_HOST;
            if !valid {
                return Err(at(
                    span,
                    format!(
                        "servers.name: `{}` must be a host name (letters, digits, -) other than `{ENGINE_HOST}`",
                        server.name
                    ),
                ));
            }
            if !names.insert(&server.name) {
                return Err(at(span, format!("servers.name: `{}` is declared twice", server.name)));
            }
            let mut paths = BTreeSet::new();
            for file in &server.files {
                if !file.path.starts_with('/') || !paths.insert(&file.path) {
                    return Err(at(
                        span,
                        format!(
                            "servers.files.path: `{}` must start with / and be unique on `{}`",
                            file.path, server.name
                        ),
                    ));
                }
                if file.changes.windows(2).any(|pair| pair[1].at <= pair[0].at) {
                    return Err(at(
                        span,
                        format!(
                            "servers.files.changes: the changes of `{}` must be in time order",
                            file.path
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Accounts, proxies, authenticating servers, redirects and job credentials.
    fn validate_access(&self) -> Result<(), Located> {
        let mut users = BTreeSet::new();
        for account in &self.accounts {
            let (span, account) = (account.span(), account.get_ref());
            if account.user.is_empty() || !users.insert(account.user.to_ascii_lowercase()) {
                return Err(at(
                    span,
                    format!("accounts.user: `{}` is empty or declared twice", account.user),
                ));
            }
            check_password(span, "accounts.password", &account.password)?;
        }
        let servers: BTreeSet<&str> = self.server_names().collect();
        let mut proxies = BTreeSet::new();
        for proxy in &self.proxies {
            let (span, proxy) = (proxy.span(), proxy.get_ref());
            let valid = !proxy.name.is_empty()
                && proxy.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && ![ENGINE_HOST, super::CROSS_HOST].contains(&proxy.name.as_str())
                && !servers.contains(proxy.name.as_str());
            if !valid || !proxies.insert(&proxy.name) || proxy.port == 0 {
                return Err(at(
                    span,
                    format!(
                        "proxies.name: `{}` must be a unique host name (not a server's) with a port 1..65535",
                        proxy.name
                    ),
                ));
            }
            if let Some(demand) = &proxy.auth {
                self.validate_demand(span.clone(), "proxies.auth", demand)?;
            }
        }
        for server in &self.servers {
            let (span, server) = (server.span(), server.get_ref());
            if let Some(demand) = &server.auth {
                self.validate_demand(span.clone(), "servers.auth", demand)?;
            }
            for redirect in &server.redirects {
                let target_ok =
                    redirect.to.starts_with('/') || RemoteUrl::parse(&redirect.to).is_ok();
                if !redirect.path.starts_with('/')
                    || !target_ok
                    || ![301, 302, 303, 307, 308].contains(&redirect.status)
                {
                    return Err(at(
                        span,
                        format!(
                            "servers.redirects: `{}` -> `{}` needs a path starting with /, a target that is a path or an http:// URL, and a status of 301, 302, 303, 307 or 308",
                            redirect.path, redirect.to
                        ),
                    ));
                }
            }
        }
        if let Some(level) = self.engine.credentials.as_ref().and_then(|c| c.lm_compatibility_level)
            && level > 5
        {
            return Err(at(whole(), "engine.credentials.lm_compatibility_level: must be 0 to 5"));
        }
        for job in &self.jobs {
            for credential in &job.get_ref().credentials {
                if let Some(password) = credential.password.as_deref().filter(|p| !p.is_empty()) {
                    check_password(job.span(), "jobs.credentials.password", password)?;
                }
            }
        }
        Ok(())
    }

    fn validate_demand(
        &self,
        span: Range<usize>,
        field: &str,
        demand: &super::AuthDemand,
    ) -> Result<(), Located> {
        if demand.demands.is_empty() {
            return Err(at(span, format!("{field}.demands: name at least one scheme")));
        }
        for user in demand.users.iter().flatten() {
            if !self
                .accounts
                .iter()
                .any(|account| account.get_ref().user.eq_ignore_ascii_case(user))
            {
                return Err(at(span, format!("{field}.users: `{user}` has no [[accounts]] entry")));
            }
        }
        Ok(())
    }

    fn validate_jobs(&self) -> Result<(), Located> {
        let mut names = BTreeSet::new();
        let mut locals = BTreeSet::new();
        let mut remotes: BTreeMap<(String, String), &str> = BTreeMap::new();
        for job in &self.jobs {
            let (span, job) = (job.span(), job.get_ref());
            if !names.insert(&job.name) {
                return Err(at(span, format!("jobs.name: `{}` is declared twice", job.name)));
            }
            if job.files.is_empty() {
                return Err(at(span, format!("jobs.files: job `{}` has no files", job.name)));
            }
            if let Some(flags) = job.notify_flags {
                bitsim_engine::NotifyFlags::new(flags).map_err(|error| {
                    at(
                        span.clone(),
                        format!("jobs.notify_flags: job `{}`: {}", job.name, error.message),
                    )
                })?;
            }
            match (job.expect.state, job.expect.error) {
                (JobState::Acknowledged | JobState::Cancelled, None) | (JobState::Error, _) => {}
                (state @ (JobState::Acknowledged | JobState::Cancelled), Some(_)) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.error: job `{}` expects {state}, which has no error",
                            job.name
                        ),
                    ));
                }
                (other, _) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.state: {other} is not an outcome; use ACKNOWLEDGED, ERROR or CANCELLED"
                        ),
                    ));
                }
            }
            for file in &job.files {
                let remote = file.remote.get_ref();
                let url = RemoteUrl::parse(remote).map_err(|error| {
                    at(file.remote.span(), format!("jobs.files.remote: {}", error.message))
                })?;
                let Some(server) = self.server(&url.host) else {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: host `{}` is not a server of this scenario",
                            url.host
                        ),
                    ));
                };
                // A redirect may serve the file from elsewhere; the run's oracles judge that.
                let served = server.files.iter().any(|served| served.path == url.path_and_query)
                    || server.redirects.iter().any(|redirect| redirect.path == url.path_and_query)
                    || server.uploads.as_ref().is_some_and(|up| up.takes(&url.path_and_query));
                if !served && job.expect.state == JobState::Acknowledged {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: `{}` is not a file of server `{}`, yet the job expects ACKNOWLEDGED",
                            url.path_and_query, server.name
                        ),
                    ));
                }
                // The oracles attribute the requests a server sees to a job's file by URL.
                if let Some(other) =
                    remotes.insert((url.host.clone(), url.path_and_query.clone()), &job.name)
                {
                    return Err(at(
                        file.remote.span(),
                        format!(
                            "jobs.files.remote: `{remote}` is also used by job `{other}`; each URL may appear once"
                        ),
                    ));
                }
                if !file.local.starts_with('/')
                    || file.local.ends_with('/')
                    || !locals.insert(&file.local)
                {
                    return Err(at(
                        span,
                        format!(
                            "jobs.files.local: `{}` must be a unique absolute file path",
                            file.local
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_fault(
        &self,
        fault: &Spanned<Fault>,
        hosts: &BTreeSet<&str>,
    ) -> Result<(), Located> {
        let (span, fault) = (fault.span(), fault.get_ref());
        let kind = fault.kind;
        let present = [
            ("duration", fault.duration.is_some()),
            ("down", fault.down.is_some()),
            ("host", fault.host.is_some()),
            ("between", fault.between.is_some()),
            ("latency", fault.latency.is_some()),
            ("down_rate", fault.down_rate.is_some()),
            ("up_rate", fault.up_rate.is_some()),
        ];
        // (fields it needs, at least one of; fields it may have besides)
        let (needs, may): (&[&str], &[&str]) = match kind {
            FaultKind::LinkDrop => (&["duration"], &["between"]),
            FaultKind::PowerLoss => (&["down"], &["host"]),
            FaultKind::ProcessRestart => (&[], &["host"]),
            FaultKind::Latency => (&["latency"], &["between"]),
            FaultKind::LinkRate => (&["down_rate", "up_rate"], &["between"]),
            FaultKind::NetworkLoss => (&["duration"], &[]),
        };
        let has = |field: &str| present.iter().any(|(name, is)| *name == field && *is);
        if !needs.is_empty() && !needs.iter().any(|field| has(field)) {
            return Err(at(
                span,
                format!("faults: a {} fault needs `{}`", kind.name(), needs.join("` or `")),
            ));
        }
        if let Some((field, _)) =
            present.iter().find(|(field, is)| *is && !needs.contains(field) && !may.contains(field))
        {
            return Err(at(
                span,
                format!("faults.{field}: a {} fault has no `{field}`", kind.name()),
            ));
        }
        if kind == FaultKind::LinkRate && self.links.is_empty() {
            return Err(at(span, "faults: a link-rate fault needs a [[links]] to change"));
        }
        check_hosts(&span, fault.host.as_deref(), fault.between.as_ref(), hosts)?;
        if fault.at >= self.deadline {
            return Err(at(
                span,
                format!("faults.at: {} is not before the deadline {}", fault.at, self.deadline),
            ));
        }
        Ok(())
    }

    fn validate_random(
        &self,
        random: &Spanned<RandomFaults>,
        hosts: &BTreeSet<&str>,
    ) -> Result<(), Located> {
        let (span, random) = (random.span(), random.get_ref());
        if random.count > RANDOM_FAULTS_MAX {
            return Err(at(span, format!("random_faults.count: at most {RANDOM_FAULTS_MAX}")));
        }
        let kind = random.kind;
        let required = match kind {
            FaultKind::LinkDrop | FaultKind::NetworkLoss => {
                (random.duration.is_some(), random.down.is_none(), "duration")
            }
            FaultKind::PowerLoss => (random.down.is_some(), random.duration.is_none(), "down"),
            FaultKind::ProcessRestart => {
                (true, random.duration.is_none() && random.down.is_none(), "nothing else")
            }
            FaultKind::Latency | FaultKind::LinkRate => {
                return Err(at(
                    span,
                    format!("random_faults.kind: {} changes cannot be random (yet)", kind.name()),
                ));
            }
        };
        if !(required.0 && required.1) {
            return Err(at(
                span,
                format!(
                    "random_faults: a random {} fault takes `{}` (and not the other duration)",
                    kind.name(),
                    required.2
                ),
            ));
        }
        if kind == FaultKind::NetworkLoss && (random.host.is_some() || random.between.is_some()) {
            return Err(at(
                span,
                "random_faults: a network-loss fault is the engine's own network; it takes no `host` or `between`",
            ));
        }
        check_hosts(&span, random.host.as_deref(), random.between.as_ref(), hosts)?;
        if random.window.max >= self.deadline {
            return Err(at(
                span,
                format!("random_faults.window: ends after the deadline {}", self.deadline),
            ));
        }
        Ok(())
    }
}

impl Scenario {
    fn validate_network(&self) -> Result<(), Located> {
        let hosts: BTreeSet<&str> = self.hosts().collect();
        for link in &self.links {
            let (span, link) = (link.span(), link.get_ref());
            let [a, b] = &link.between;
            if !hosts.contains(a.as_str()) || !(b == "*" || hosts.contains(b.as_str())) || a == b {
                return Err(at(
                    span,
                    format!(
                        "links.between: [`{a}`, `{b}`] must name two different hosts (the second may be `*`)"
                    ),
                ));
            }
            link.settings().map_err(|message| at(span.clone(), message))?;
        }
        for cross in &self.cross_traffic {
            let (span, cross) = (cross.span(), cross.get_ref());
            if cross.flows == 0 || cross.flows > CROSS_FLOWS_MAX {
                return Err(at(span, format!("cross_traffic.flows: 1 to {CROSS_FLOWS_MAX}")));
            }
            if cross.at >= self.deadline {
                return Err(at(span, "cross_traffic.at: not before the deadline"));
            }
        }
        if let Some(throttle) = &self.engine.throttle
            && (throttle.from_hour > 23 || throttle.to_hour > 23)
        {
            return Err(at(0..0, "engine.throttle: hours are 0 to 23"));
        }
        if let Some(bounds) = &self.yield_bounds {
            let fractions =
                [bounds.busy_share_max, bounds.idle_utilization_min, bounds.limit_use_min];
            if fractions.into_iter().flatten().any(|f| !(0.0..=1.0).contains(&f)) {
                return Err(at(0..0, "yield_bounds: shares and utilizations are between 0 and 1"));
            }
            if self.links.is_empty() {
                return Err(at(0..0, "yield_bounds: judging yield needs a [[links]] bottleneck"));
            }
        }
        Ok(())
    }
}

fn check_hosts(
    span: &Range<usize>,
    host: Option<&str>,
    between: Option<&[String; 2]>,
    hosts: &BTreeSet<&str>,
) -> Result<(), Located> {
    let named = host
        .into_iter()
        .chain(between.into_iter().flat_map(|pair| pair.iter().map(String::as_str)));
    for name in named {
        if !hosts.contains(name) {
            return Err(at(
                span.clone(),
                format!("faults: host `{name}` is not `{ENGINE_HOST}`, a server or `cross`"),
            ));
        }
    }
    if between.is_some_and(|[a, b]| a == b) {
        return Err(at(span.clone(), "faults.between: a link needs two different hosts"));
    }
    Ok(())
}

fn whole() -> Range<usize> {
    0..0
}

/// Passwords must be long enough for the trace to be searched for them.
fn check_password(span: Range<usize>, field: &str, password: &str) -> Result<(), Located> {
    if password.chars().count() < super::access::PASSWORD_LEN_MIN {
        return Err(at(
            span,
            format!(
                "{field}: at least {} characters, so that traces can be searched for it",
                super::access::PASSWORD_LEN_MIN
            ),
        ));
    }
    Ok(())
}
