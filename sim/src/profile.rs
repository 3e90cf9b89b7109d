//! `bitsim profile`: a throttle-and-yield workload on a link profile, and what the link saw.
//!
//! The workload has four phases of `T` seconds each (30 s, or shorter on fast links so the
//! simulated files stay small): a background job alone on the link; the user's bulk cross
//! traffic beside it; a foreground job beside it; then the group policy's window opens (the
//! clock is set so that 08:00 falls there) with a limit of a quarter of the downlink. The
//! report gives, per phase, what background and other traffic achieved against the link's
//! configured rate, per-second throughput percentiles, and queueing-delay percentiles
//! (hdrhistogram) of the whole queue and of the background's own bytes.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::net::profile::{self, Profile};
use crate::net::stats::{BUCKET, LinkStats};
use crate::oracle;
use crate::plot::{Chart, Series};
use crate::scenario::Scenario;
use crate::traffic::{Class, Traffic};
use crate::world::{self, RunConfig, RunOutcome};

/// Phases are this long on links up to [`FAST_LINK_BPS`]...
const PHASE_DEFAULT: Duration = Duration::from_secs(30);
/// ...and this long on faster ones, so the background file stays under ~100 MB of memory.
const PHASE_FAST: Duration = Duration::from_secs(5);
const FAST_LINK_BPS: u64 = 20_000_000;
/// The policy's limit in the last phase, as a share of the downlink.
const LIMIT_SHARE: f64 = 0.25;
/// The background file holds this many phases of the downlink: about one alone, a little
/// beside the other traffic, the rest under the limit, so it ends in the last phase.
const BACKGROUND_PHASES: (u64, u64) = (3, 2);
/// The foreground file takes this share of a phase at full speed, so it ends inside its phase.
const FOREGROUND_PHASES: (u64, u64) = (7, 10);
/// The deadline: enough phases for the background file at the limit, plus slack for
/// start-up and retries.
const DEADLINE_PHASES: u64 = 12;
const DEADLINE_SLACK_SECS: u64 = 120;
/// Throughput percentiles are taken over windows of this length.
const WINDOW: Duration = Duration::from_secs(1);

/// The workload scenario for a profile, as TOML (what `--print` shows and `bitsim run` takes).
pub fn workload(name: &str, profile: &Profile) -> String {
    let down = profile.down.bits_per_sec;
    let phase = if down > FAST_LINK_BPS { PHASE_FAST } else { PHASE_DEFAULT }.as_secs();
    let bytes_per_phase = down / 8 * phase;
    let limit_kbit = ((down as f64 * LIMIT_SHARE) / 1000.0).round().max(2.0) as u64;
    // 08:00:00 (the policy window's start) falls at the start of the fourth phase.
    let start = 8 * 3600 - 3 * phase;
    format!(
        r#"# `bitsim profile {name}`: background alone, beside cross traffic, beside a foreground
# job, then under the policy's limit of {limit_kbit} kbit/s (a quarter of the downlink).
description = "Throttle-and-yield workload on the {name} profile."
deadline = "{deadline}s"
clock = "{hh:02}:{mm:02}:{ss:02}"

[engine.throttle]
from_hour = 8
to_hour = 17
in_window = "{limit_kbit}kbit"
outside = "unlimited"

[[links]]
between = ["engine", "*"]
profile = "{name}"

[[servers]]
name = "origin"
files = [
    {{ path = "/background.bin", size = {background} }},
    {{ path = "/foreground.bin", size = {foreground} }},
]

[[jobs]]
name = "background"
retry_delay = "5s"
files = [{{ remote = "http://origin/background.bin", local = "/downloads/background.bin" }}]
expect = {{ state = "ACKNOWLEDGED" }}

[[jobs]]
name = "foreground"
priority = "foreground"
start_at = "{fg_at}s"
retry_delay = "5s"
files = [{{ remote = "http://origin/foreground.bin", local = "/downloads/foreground.bin" }}]
expect = {{ state = "ACKNOWLEDGED" }}

[[cross_traffic]]
at = "{phase}s"
duration = "{phase}s"
"#,
        deadline = DEADLINE_PHASES * phase + DEADLINE_SLACK_SECS,
        hh = start / 3600,
        mm = start / 60 % 60,
        ss = start % 60,
        background = bytes_per_phase * BACKGROUND_PHASES.0 / BACKGROUND_PHASES.1,
        foreground = bytes_per_phase * FOREGROUND_PHASES.0 / FOREGROUND_PHASES.1,
        fg_at = 2 * phase,
    )
}

/// A profile run and its report.
pub struct ProfileRun {
    pub scenario: Scenario,
    pub seed: u64,
    pub outcome: RunOutcome,
    pub phase: Duration,
}

/// Runs the workload of `name` (or `scenario`, if given) with `seed`.
pub fn run(name: &str, scenario: Option<Scenario>, seed: u64) -> Result<ProfileRun, String> {
    let profile = profile::get(name).ok_or_else(|| {
        let names: Vec<String> = profile::all().into_keys().collect();
        format!("no profile `{name}` (there are: {})", names.join(", "))
    })?;
    let scenario = match scenario {
        Some(scenario) => scenario,
        None => Scenario::parse(&workload(name, &profile), &format!("profile {name}"))
            .map_err(|error| error.to_string())?,
    };
    let phase = if profile.down.bits_per_sec > FAST_LINK_BPS { PHASE_FAST } else { PHASE_DEFAULT };
    let outcome = world::run(&scenario, &RunConfig { seed, ..RunConfig::default() });
    Ok(ProfileRun { scenario, seed, outcome, phase })
}

impl ProfileRun {
    /// The phases: `(label, from, to)`. The foreground phase ends when the foreground job
    /// does, the last phase when the background job does.
    fn phases(&self, traffic: &Traffic<'_>) -> Vec<(&'static str, Duration, Duration)> {
        let t = self.phase;
        let last = |transferring: Vec<bool>| {
            BUCKET * transferring.iter().rposition(|active| *active).unwrap_or(0) as u32
        };
        let background_end = last(traffic.transferring(bitsim_engine::Priority::is_background));
        let foreground_end = last(traffic.transferring(|p| !p.is_background()));
        vec![
            ("background alone", Duration::ZERO, t),
            ("with cross traffic", t, 2 * t),
            ("with a foreground job", 2 * t, foreground_end.clamp(2 * t, 3 * t)),
            ("under the policy limit", 3 * t, background_end.max(3 * t)),
        ]
    }

    /// The text report (snapshotted for every profile).
    pub fn report(&self, name: &str) -> String {
        let mut text = String::new();
        let profile = profile::get(name);
        let Some(traffic) = Traffic::analyse(&self.scenario, &self.outcome) else {
            return "no shaped link leads to the engine: nothing to profile\n".into();
        };
        let link = traffic.link;
        let _ = writeln!(
            text,
            "profile   {name}: {}",
            profile.as_ref().map_or("", |p| p.description.as_str())
        );
        if let Some(profile) = &profile {
            let _ = writeln!(text, "source    {}", profile.source);
        }
        let _ = writeln!(
            text,
            "link      {} down at {}, one-way {:?}, queue {} B, receive window {} B",
            link.name,
            rate(link.spec.rate_bps as f64),
            link.spec.latency,
            link.spec.queue_bytes,
            link.window_bytes
        );
        let violations = oracle::check(&self.scenario, self.seed, &self.outcome);
        let verdict = if violations.is_empty() {
            "all oracles hold".to_owned()
        } else {
            violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        };
        let _ = writeln!(text, "verdict   {verdict}");
        let _ = writeln!(text, "run       {:.1} s simulated", self.outcome.end.as_secs_f64());
        let series = PhaseSeries {
            background: traffic.departed(Class::is_background),
            other: traffic.departed(|class| !class.is_background()),
            queued_all: traffic.queued(|_| true),
            queued_background: traffic.queued(Class::is_background),
        };
        for (label, from, to) in self.phases(&traffic) {
            self.render_phase(&mut text, &traffic, &series, (label, from, to));
        }
        text
    }

    /// One phase of the report, judged after a third of a phase to settle.
    fn render_phase(
        &self,
        text: &mut String,
        traffic: &Traffic<'_>,
        series: &PhaseSeries,
        (label, from, to): (&str, Duration, Duration),
    ) {
        let settle = self.phase / 3;
        let judged_from = (from + settle).min(to);
        let (a, b) = (bucket(judged_from), bucket(to).min(traffic.buckets));
        if a >= b {
            return;
        }
        let capacity: f64 = (a..b).map(|k| traffic.capacity_bits(k)).sum();
        let seconds = (b - a) as f64 * BUCKET.as_secs_f64();
        let bg_bits = sum(&series.background[a..b]) * 8.0;
        let other_bits = sum(&series.other[a..b]) * 8.0;
        let _ = writeln!(
            text,
            "\n{label} ({:.0}-{:.0} s, judged after {:.0} s to settle)",
            from.as_secs_f64(),
            to.as_secs_f64(),
            settle.as_secs_f64()
        );
        let _ = writeln!(
            text,
            "  achieved   background {} + other {} of {} configured: {:.1} % used, background {:.1} %",
            rate(bg_bits / seconds),
            rate(other_bits / seconds),
            rate(capacity / seconds),
            100.0 * (bg_bits + other_bits) / capacity,
            100.0 * bg_bits / capacity
        );
        let per_window = windows(&series.background[a..b]);
        let _ = writeln!(
            text,
            "  background per {:?}: p5 {}  p50 {}  p95 {}",
            WINDOW,
            rate(percentile(&per_window, 5.0)),
            rate(percentile(&per_window, 50.0)),
            rate(percentile(&per_window, 95.0))
        );
        let stats = &traffic.link.stats;
        let all = delay_percentiles(&series.queued_all[a..b], a, stats);
        let _ = writeln!(text, "  queueing delay, whole queue:      {all}");
        let background = delay_percentiles(&series.queued_background[a..b], a, stats);
        let _ = writeln!(text, "  queueing delay, background bytes: {background}");
        if let Some(throttle) = &self.scenario.engine.throttle
            && let Some(limit) =
                oracle::bandwidth::policy_limit_bps(&self.scenario, throttle, judged_from)
        {
            let _ = writeln!(
                text,
                "  policy     limit {}: background achieved {:.1} % of it",
                rate(limit as f64),
                100.0 * bg_bits / seconds / limit as f64
            );
        }
    }

    /// The SVG chart: throughput per second of each job and of the cross traffic, with the
    /// link's capacity and the policy's limit as lines.
    pub fn chart(&self, name: &str) -> String {
        let Some(traffic) = Traffic::analyse(&self.scenario, &self.outcome) else {
            return String::new();
        };
        let seconds = |series: Vec<u64>| -> Vec<f64> {
            windows(&series).into_iter().map(|bps| bps / 1e6).collect()
        };
        let mut series = Vec::new();
        for (job, job_name) in &traffic.jobs.names {
            let bytes = traffic.departed(|class| matches!(class, Class::Job { job: j, .. } | Class::Probe { job: j } if j == *job));
            series.push(Series {
                label: format!("job `{job_name}`"),
                points: seconds(bytes),
                dashed: false,
            });
        }
        series.push(Series {
            label: "cross traffic".into(),
            points: seconds(traffic.departed(|c| c == Class::Cross)),
            dashed: false,
        });
        let windows_count = series[0].points.len();
        let capacity: Vec<f64> = (0..windows_count)
            .map(|w| traffic.link.stats.rate_at(WINDOW * w as u32) as f64 / 1e6)
            .collect();
        series.push(Series { label: "link capacity".into(), points: capacity, dashed: true });
        if let Some(throttle) = &self.scenario.engine.throttle {
            let limit: Vec<f64> = (0..windows_count)
                .map(|w| {
                    oracle::bandwidth::policy_limit_bps(&self.scenario, throttle, WINDOW * w as u32)
                        .map_or(f64::NAN, |bps| bps as f64 / 1e6)
                })
                .collect();
            series.push(Series {
                label: "policy limit (background)".into(),
                points: limit,
                dashed: true,
            });
        }
        Chart {
            title: format!(
                "bitsim profile {name}: throughput per second over {}",
                traffic.link.name
            ),
            x_label: "simulated time (s)".into(),
            y_label: "throughput (Mbit/s)".into(),
            series,
        }
        .svg()
    }
}

/// Per-bucket series of the bottleneck for the report.
struct PhaseSeries {
    background: Vec<u64>,
    other: Vec<u64>,
    queued_all: Vec<u64>,
    queued_background: Vec<u64>,
}

/// Delays are recorded in microseconds up to an hour, to three significant figures.
const DELAY_MAX_US: u64 = 3_600_000_000;
const DELAY_SIGNIFICANT_FIGURES: u8 = 3;

/// Percentiles of the queueing delay the bytes waiting in each bucket stand for, from the
/// bucket `first` on.
fn delay_percentiles(queued: &[u64], first: usize, stats: &LinkStats) -> String {
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, DELAY_MAX_US, DELAY_SIGNIFICANT_FIGURES)
            .expect("valid bounds");
    for (k, bytes) in queued.iter().enumerate() {
        let bps = stats.rate_at(BUCKET * (first + k) as u32).max(1);
        let micros = (*bytes as f64 * 8.0 / bps as f64 * 1e6) as u64;
        histogram.saturating_record(micros.max(1));
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    format!("p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms", ms(0.5), ms(0.95), ms(0.99))
}

fn bucket(at: Duration) -> usize {
    (at.as_nanos() / BUCKET.as_nanos()) as usize
}

fn sum(bytes: &[u64]) -> f64 {
    bytes.iter().sum::<u64>() as f64
}

/// Bits per second in each whole [`WINDOW`] of a per-bucket byte series.
fn windows(bytes: &[u64]) -> Vec<f64> {
    let per = (WINDOW.as_nanos() / BUCKET.as_nanos()) as usize;
    bytes.chunks_exact(per).map(|chunk| sum(chunk) * 8.0 / WINDOW.as_secs_f64()).collect()
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

/// A rate with the unit a person reads at a glance.
pub fn rate(bits_per_sec: f64) -> String {
    if bits_per_sec >= 1e6 {
        format!("{:.2} Mbit/s", bits_per_sec / 1e6)
    } else {
        format!("{:.1} kbit/s", bits_per_sec / 1e3)
    }
}
