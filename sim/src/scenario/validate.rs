//! The checks a scenario must pass beyond its syntax: names that resolve, faults that take
//! only their own fields, expectations that are outcomes. Each failure is located at the
//! table or value that causes it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use bitsim_engine::JobState;
use bitsim_engine::core::http::RemoteUrl;
use toml::Spanned;

use super::{
    ENGINE_HOST, Fault, FaultKind, Located, RANDOM_FAULTS_MAX, RandomFaults, STEPS_MAX, Scenario,
    at,
};

impl Scenario {
    pub(super) fn validate(&self) -> Result<(), Located> {
        let whole = 0..0;
        let tick = self.tick.0;
        if tick < std::time::Duration::from_millis(1) || tick > std::time::Duration::from_secs(1) {
            return Err(at(whole, "tick: must be between 1ms and 1s"));
        }
        if self.deadline.0.is_zero()
            || self.deadline.0.as_nanos() / tick.as_nanos() > u128::from(STEPS_MAX)
        {
            return Err(at(
                whole,
                format!("deadline: must be positive and at most {STEPS_MAX} ticks"),
            ));
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
        self.validate_jobs()?;
        let hosts: BTreeSet<&str> = self.server_names().chain([ENGINE_HOST]).collect();
        for fault in &self.faults {
            self.validate_fault(fault, &hosts)?;
        }
        for random in &self.random_faults {
            self.validate_random(random, &hosts)?;
        }
        Ok(())
    }

    fn validate_servers(&self) -> Result<(), Located> {
        let mut names = BTreeSet::new();
        for server in &self.servers {
            let (span, server) = (server.span(), server.get_ref());
            let valid = !server.name.is_empty()
                && server.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && server.name != ENGINE_HOST;
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
            match (job.expect.state, job.expect.error) {
                (JobState::Acknowledged, None) | (JobState::Error, _) => {}
                (JobState::Acknowledged, Some(_)) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.error: job `{}` expects ACKNOWLEDGED, which has no error",
                            job.name
                        ),
                    ));
                }
                (other, _) => {
                    return Err(at(
                        span,
                        format!(
                            "jobs.expect.state: {other} is not an outcome; use ACKNOWLEDGED or ERROR"
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
                let served = server.files.iter().any(|served| served.path == url.path_and_query);
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
        let needs = |present: bool, field: &str| {
            if present {
                Ok(())
            } else {
                Err(at(span.clone(), format!("faults: a {} fault needs `{field}`", kind.name())))
            }
        };
        let forbids = |present: bool, field: &str| {
            if present {
                Err(at(
                    span.clone(),
                    format!("faults.{field}: a {} fault has no `{field}`", kind.name()),
                ))
            } else {
                Ok(())
            }
        };
        match kind {
            FaultKind::LinkDrop => {
                needs(fault.duration.is_some(), "duration")?;
                forbids(fault.down.is_some(), "down")?;
                forbids(fault.host.is_some(), "host")?;
                forbids(fault.latency.is_some(), "latency")?;
            }
            FaultKind::PowerLoss => {
                needs(fault.down.is_some(), "down")?;
                forbids(fault.duration.is_some(), "duration")?;
                forbids(fault.between.is_some(), "between")?;
                forbids(fault.latency.is_some(), "latency")?;
            }
            FaultKind::ProcessRestart => {
                for (present, field) in [
                    (fault.duration.is_some(), "duration"),
                    (fault.down.is_some(), "down"),
                    (fault.between.is_some(), "between"),
                    (fault.latency.is_some(), "latency"),
                ] {
                    forbids(present, field)?;
                }
            }
            FaultKind::Latency => {
                needs(fault.latency.is_some(), "latency")?;
                for (present, field) in [
                    (fault.duration.is_some(), "duration"),
                    (fault.down.is_some(), "down"),
                    (fault.host.is_some(), "host"),
                ] {
                    forbids(present, field)?;
                }
            }
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
            FaultKind::LinkDrop => (random.duration.is_some(), random.down.is_none(), "duration"),
            FaultKind::PowerLoss => (random.down.is_some(), random.duration.is_none(), "down"),
            FaultKind::ProcessRestart => {
                (true, random.duration.is_none() && random.down.is_none(), "nothing else")
            }
            FaultKind::Latency => {
                return Err(at(span, "random_faults.kind: latency changes cannot be random (yet)"));
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
                format!("faults: host `{name}` is neither `{ENGINE_HOST}` nor a server"),
            ));
        }
    }
    if between.is_some_and(|[a, b]| a == b) {
        return Err(at(span.clone(), "faults.between: a link needs two different hosts"));
    }
    Ok(())
}
