//! `bitsim fetch`: the engine on real sockets and files (`TokioEnv`), the same code the
//! simulator runs. Interrupt it and run it again: the download resumes at the exact byte.

use std::path::Path;
use std::rc::Rc;

use anyhow::Context as _;
use bitsim_engine::core::auth::credentials::Credential;
use bitsim_engine::core::auth::{AuthScheme, AuthTarget};
use bitsim_engine::core::proxy::{ProxySettings, ProxyUsage};
use bitsim_engine::{Engine, EngineConfig, Event, EventSink, JobId, JobState, Priority, TokioEnv};
use tokio::sync::Notify;

/// A command-line download is interactive: it retries after 5 s (BITS's floor), not BITS's
/// default 10 minutes.
const RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// Prints what the engine does and wakes the waiting command on state changes.
struct Printer {
    wake: Rc<Notify>,
}

impl EventSink for Printer {
    fn on_event(&self, event: &Event) {
        match event {
            Event::StateChanged { job, from, to, error, .. } => {
                match error {
                    Some(error) => eprintln!("{job}: {from} -> {to}: {}", error.error),
                    None => eprintln!("{job}: {from} -> {to}"),
                }
                self.wake.notify_one();
            }
            Event::Request { method, range, .. } => {
                eprintln!("  {method} {}", range.as_deref().unwrap_or("(whole file)"))
            }
            Event::FileRestarted { reason, .. } => eprintln!("  restart from byte 0: {reason}"),
            Event::Progress { progress, .. }
                if progress.bytes_total != bitsim_engine::core::job::SIZE_UNKNOWN =>
            {
                eprintln!(
                    "  {} of {} bytes durable",
                    progress.bytes_transferred, progress.bytes_total
                );
            }
            _ => {}
        }
    }
}

/// How `bitsim fetch` reaches the server: a proxy, credentials, and the danger option.
#[derive(clap::Args, Debug, Default)]
pub(crate) struct AccessArgs {
    /// Go through these proxies (SetProxySettings OVERRIDE): `[protocol=][protocol://]host[:port]`
    /// entries separated by spaces, e.g. `proxy:8080`.
    #[arg(long)]
    proxy: Option<String>,
    /// Hosts that bypass the proxy: names, addresses, `*.suffix`, `<local>`.
    #[arg(long, requires = "proxy")]
    bypass: Option<String>,
    /// Set credentials: `TARGET:SCHEME[:USER]`, TARGET server or proxy, SCHEME basic, digest,
    /// ntlm or negotiate. The password comes from the environment (`BITSIM_SERVER_PASSWORD` or
    /// `BITSIM_PROXY_PASSWORD`), never the command line. Without USER: the logon credentials
    /// (NTLM and Negotiate), which a command-line engine does not have. May repeat.
    #[arg(long = "credentials", value_name = "TARGET:SCHEME[:USER]")]
    credentials: Vec<String>,
    /// Let Basic send the password over plain HTTP, readable by anyone on the path.
    #[arg(long)]
    danger_allow_basic_auth_over_http: bool,
}

impl AccessArgs {
    /// Each `--credentials` as a SetCredentials call, with its password from the environment.
    fn credentials(&self) -> anyhow::Result<Vec<(AuthTarget, AuthScheme, Credential)>> {
        self.credentials.iter().map(|text| parse_credentials(text)).collect()
    }
}

fn parse_credentials(text: &str) -> anyhow::Result<(AuthTarget, AuthScheme, Credential)> {
    let mut parts = text.splitn(3, ':');
    let (target, scheme) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let target = match target {
        "server" => AuthTarget::Server,
        "proxy" => AuthTarget::Proxy,
        other => {
            anyhow::bail!("--credentials {text}: target `{other}` is neither server nor proxy")
        }
    };
    let scheme = AuthScheme::from_token(scheme)
        .filter(|scheme| *scheme != AuthScheme::Passport)
        .with_context(|| {
            format!(
                "--credentials {text}: scheme `{scheme}` is not basic, digest, ntlm or negotiate"
            )
        })?;
    let Some(user) = parts.next() else { return Ok((target, scheme, Credential::implicit())) };
    let variable = match target {
        AuthTarget::Server => "BITSIM_SERVER_PASSWORD",
        AuthTarget::Proxy => "BITSIM_PROXY_PASSWORD",
    };
    let password = std::env::var(variable)
        .with_context(|| format!("--credentials {text}: set the password in {variable}"))?;
    Ok((target, scheme, Credential::explicit(user, password)))
}

pub(crate) fn fetch(
    url: &str,
    destination: &Path,
    state_dir: &Path,
    access: &AccessArgs,
) -> anyhow::Result<u8> {
    let credentials = access.credentials()?;
    let destination = std::path::absolute(destination).context("cannot resolve the destination")?;
    let destination = destination.to_str().context("the destination is not UTF-8")?.to_owned();
    let state_dir = std::path::absolute(state_dir).context("cannot resolve the state directory")?;
    let state_dir = state_dir.to_str().context("the state directory is not UTF-8")?.to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let wake = Rc::new(Notify::new());
        let mut config = EngineConfig::new(state_dir);
        config.danger_allow_basic_auth_over_http = access.danger_allow_basic_auth_over_http;
        let engine =
            Engine::start(TokioEnv, config, Rc::new(Printer { wake: wake.clone() })).await?;
        let driver = engine.clone();
        tokio::task::spawn_local(async move { driver.run().await });
        let job = adopt_or_create(&engine, url, &destination).await?;
        // Credentials live in this process only (no machine key): set them on every run.
        for (target, scheme, credential) in credentials {
            engine.set_credentials(job, target, scheme, credential).await?;
        }
        if let Some(proxy) = &access.proxy {
            let settings = ProxySettings {
                usage: ProxyUsage::Override,
                proxy_list: Some(proxy.clone()),
                bypass_list: access.bypass.clone(),
            };
            engine.set_proxy_settings(job, settings).await?;
        }
        engine.resume(job).await?;
        loop {
            let Some(info) = engine.job(job) else {
                anyhow::bail!("{job} vanished from the queue")
            };
            match info.state {
                JobState::Transferred => {
                    let result = engine.complete(job).await?;
                    println!(
                        "{destination}: complete ({result}, {} bytes)",
                        info.progress.bytes_transferred
                    );
                    return Ok(0);
                }
                JobState::Error => {
                    let error = info.error.map_or_else(
                        || "unknown error".to_owned(),
                        |error| error.error.to_string(),
                    );
                    println!("{destination}: failed: {error}");
                    return Ok(1);
                }
                _ => wake.notified().await,
            }
        }
    })
}

/// The job of an earlier, interrupted fetch of the same destination, or a new one.
async fn adopt_or_create(
    engine: &Engine<TokioEnv>,
    url: &str,
    destination: &str,
) -> anyhow::Result<JobId> {
    let earlier = engine
        .jobs()
        .into_iter()
        .find(|job| job.files.iter().any(|file| file.local_name == destination));
    let job = match earlier {
        Some(job) => {
            eprintln!("{}: resuming the earlier download ({})", job.id, job.state);
            job.id
        }
        None => {
            let job = engine.create_job(&format!("bitsim fetch {url}")).await?;
            engine.add_file(job, url, destination).await?;
            engine.set_priority(job, Priority::Foreground).await?;
            engine.set_minimum_retry_delay(job, RETRY_DELAY).await?;
            job
        }
    };
    Ok(job)
}
