//! The bandwidth oracles, judged on the bottleneck's ground truth (what the link clocked
//! out, per connection, per 10 ms) rather than on what the engine says it did.
//!
//! - throttle-bound: for every window of at least [`THROTTLE_WINDOW`], the background bytes
//!   that crossed the bottleneck are at most the policy's limit integrated over the window
//!   plus a burst allowance ([`burst_bytes`]); each job's cap likewise for its own bytes.
//!   Where the scenario asks, the limit must also be used (`bounds.limit_use_min`).
//! - background-yield: with other traffic active, background takes at most the declared
//!   share of the bottleneck in every second; alone, it uses at least the declared share
//!   and the median queueing delay of its own queued bytes stays under the declared bound.
//!   Each judgement skips the declared settling time after any change.

use std::time::Duration;

use bitsim_engine::Priority;

use super::{Oracle, Violation};
use crate::net::profile::MSS_DEFAULT;
use crate::net::stats::BUCKET;
use crate::scenario::{Limit, Scenario, Throttle};
use crate::traffic::{Class, Traffic};

/// The shortest window the throttle bound is judged over.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(1);
/// The policy treats values under 2 kbit/s as 2 kbit/s (spec §5.2); written out again here
/// rather than taken from the engine, which the oracle judges.
const POLICY_FLOOR_BPS: u64 = 2_000;
/// HTTP heads and a probe or two may cross the link beside the paced body bytes.
const HEADER_SLACK_BYTES: u64 = 2048;
/// The engine's token bucket may run this far ahead of its rate, and at least two segments
/// (`core::throttle`).
const PACER_BURST: Duration = Duration::from_millis(50);
const PACER_BURST_BYTES_MIN: u64 = 2 * MSS_DEFAULT as u64;

/// What may cross the link beyond the limit in any window: one receive window (the sender
/// may fill it before the reader slows, and bytes in flight when a limit drops still land),
/// four segments, the pacer's burst at the limit, and the HTTP heads.
pub fn burst_bytes(window_bytes: u64, limit_bps: u64) -> u64 {
    window_bytes
        + 4 * MSS_DEFAULT as u64
        + ((limit_bps as f64 / 8.0 * PACER_BURST.as_secs_f64()) as u64).max(PACER_BURST_BYTES_MIN)
        + HEADER_SLACK_BYTES
}

/// The policy's limit at simulated time `at`, computed again here from the scenario (not by
/// the engine's code, which the oracle judges). `None`: unlimited.
pub fn policy_limit_bps(scenario: &Scenario, throttle: &Throttle, at: Duration) -> Option<u64> {
    let hour = ((scenario.epoch_unix_secs() + at.as_secs()) / 3600 % 24) as u8;
    let inside = if throttle.from_hour <= throttle.to_hour {
        throttle.from_hour <= hour && hour < throttle.to_hour
    } else {
        hour >= throttle.from_hour || hour < throttle.to_hour
    };
    match if inside { throttle.in_window } else { throttle.outside } {
        Limit::Unlimited => None,
        Limit::Blocked => Some(0),
        Limit::Rate(rate) => Some(rate.bits_per_sec.max(POLICY_FLOOR_BPS)),
    }
}

pub(super) fn throttle_bound(scenario: &Scenario, traffic: &Traffic<'_>, out: &mut Vec<Violation>) {
    let window = traffic.link.window_bytes;
    if let Some(throttle) = &scenario.engine.throttle {
        let limits: Vec<Option<u64>> = (0..traffic.buckets)
            .map(|bucket| policy_limit_bps(scenario, throttle, BUCKET * bucket as u32))
            .collect();
        let bytes = traffic.departed(Class::is_background);
        check_bound(&bytes, &limits, window, "background traffic over the policy's limit", out);
        if let Some(floor) = scenario.yield_bounds.as_ref().and_then(|b| b.limit_use_min) {
            limit_used(scenario, traffic, &bytes, &limits, floor, out);
        }
    }
    for (job, name) in &traffic.jobs.names {
        let spec = scenario.jobs.iter().map(|spec| spec.get_ref()).find(|spec| &spec.name == name);
        let Some(cap) = spec.and_then(|spec| spec.rate_limit) else { continue };
        let bytes =
            traffic.departed(|class| matches!(class, Class::Job { job: j, .. } if j == *job));
        let limits = vec![Some(cap.bits_per_sec); traffic.buckets];
        check_bound(&bytes, &limits, window, &format!("`{name}` over its own cap"), out);
    }
}

/// Finds the worst window of at least [`THROTTLE_WINDOW`] within each stretch of finite
/// limits: with `D(t)` = bytes sent minus bytes allowed up to bucket `t`, the excess of a
/// window `[i, j)` is `D(j) - D(i)`, so one pass with the running minimum of `D` suffices.
fn check_bound(
    bytes: &[u64],
    limits: &[Option<u64>],
    window: u64,
    what: &str,
    out: &mut Vec<Violation>,
) {
    let span = (THROTTLE_WINDOW.as_nanos() / BUCKET.as_nanos()) as usize;
    let mut start = 0;
    while start < bytes.len() {
        if limits[start].is_none() {
            start += 1;
            continue;
        }
        let end = (start..bytes.len()).find(|&b| limits[b].is_none()).unwrap_or(bytes.len());
        // d[k] = D at the start of bucket start + k.
        let mut d = vec![0.0f64; end - start + 1];
        for k in 0..end - start {
            let allowed = limits[start + k].unwrap_or(0) as f64 / 8.0 * BUCKET.as_secs_f64();
            d[k + 1] = d[k] + bytes[start + k] as f64 - allowed;
        }
        let peak = limits[start..end].iter().flatten().max().copied().unwrap_or(0);
        let burst = burst_bytes(window, peak) as f64;
        let mut lowest = (f64::INFINITY, 0);
        for j in span..d.len() {
            if d[j - span] < lowest.0 {
                lowest = (d[j - span], j - span);
            }
            let excess = d[j] - lowest.0;
            if excess > burst {
                let (from, to) = (BUCKET * (start + lowest.1) as u32, BUCKET * (start + j) as u32);
                out.push(Violation {
                    oracle: Oracle::ThrottleBound,
                    t_us: Some(to.as_micros() as u64),
                    detail: format!(
                        "{what}: {:.0} bytes more than allowed in {:.2}s..{:.2}s (burst allowance {burst:.0})",
                        excess,
                        from.as_secs_f64(),
                        to.as_secs_f64()
                    ),
                });
                return;
            }
        }
        start = end;
    }
}

/// While a background job transfers alone under a finite, positive limit (after the settling
/// time), the background traffic must use at least `floor` of the limit. With foreground or
/// cross traffic active, background rightly takes less (background-yield judges that).
fn limit_used(
    scenario: &Scenario,
    traffic: &Traffic<'_>,
    bytes: &[u64],
    limits: &[Option<u64>],
    floor: f64,
    out: &mut Vec<Violation>,
) {
    let settle = settle_buckets(scenario);
    let active = traffic.transferring(Priority::is_background);
    let foreground = traffic.transferring(|priority| !priority.is_background());
    let (mut sent, mut allowed, mut run) = (0.0, 0.0, 0usize);
    for bucket in 0..traffic.buckets {
        let limit = limits[bucket].filter(|limit| *limit > 0);
        let alone = !foreground[bucket] && !traffic.cross_active[bucket];
        let steady = limits[bucket] == limits[bucket.saturating_sub(1)];
        // The last receive window of a transfer crossed the link earlier and is read from
        // the socket at the end: judge only while that much transfer time remains.
        let window_time =
            limit.map_or(0.0, |limit| traffic.link.window_bytes as f64 * 8.0 / limit as f64);
        let ahead = bucket + (window_time / BUCKET.as_secs_f64()).ceil() as usize;
        let continues = active.get(ahead).copied().unwrap_or(false);
        let judged = active[bucket] && continues && alone && limit.is_some() && steady;
        run = if judged { run + 1 } else { 0 };
        if run > settle {
            sent += bytes[bucket] as f64 * 8.0;
            allowed += limit.unwrap_or(0) as f64 * BUCKET.as_secs_f64();
        }
    }
    if allowed > 0.0 && sent < floor * allowed {
        out.push(Violation {
            oracle: Oracle::ThrottleBound,
            t_us: None,
            detail: format!(
                "background used {:.1} % of the policy's limit, less than the declared {:.1} %",
                100.0 * sent / allowed,
                100.0 * floor
            ),
        });
    }
}

fn settle_buckets(scenario: &Scenario) -> usize {
    scenario
        .yield_bounds
        .as_ref()
        .map_or(0, |bounds| (bounds.settle.0.as_nanos() / BUCKET.as_nanos()) as usize)
}

/// The yield figures of a run, for the oracle and for `bitsim profile`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct YieldFigures {
    /// Background bits / capacity over the judged idle buckets.
    pub idle_utilization: Option<f64>,
    /// Median queueing delay of background bytes over the judged idle buckets.
    pub idle_queue_delay_median: Option<Duration>,
    /// The largest background share of any judged busy second, and when it ended.
    pub busy_share_max: Option<(f64, Duration)>,
}

/// Judged buckets: a background job transfers, unthrottled, and neither it, the other
/// traffic nor the link's rate has changed for `settle`.
pub fn yield_figures(scenario: &Scenario, traffic: &Traffic<'_>, settle: Duration) -> YieldFigures {
    let settle = (settle.as_nanos() / BUCKET.as_nanos()) as usize;
    let background = traffic.departed(Class::is_background);
    let queued = traffic.queued(Class::is_background);
    let bg_active = traffic.transferring(Priority::is_background);
    let fg_active = traffic.transferring(|priority| !priority.is_background());
    let capped = traffic.jobs.names.values().any(|name| {
        scenario
            .jobs
            .iter()
            .any(|spec| &spec.get_ref().name == name && spec.get_ref().rate_limit.is_some())
    });
    let throttle = scenario.engine.throttle.as_ref();
    let (mut run, mut last_busy) = (0usize, false);
    let (mut idle_bits, mut idle_capacity, mut delays) = (0.0, 0.0, Vec::new());
    let (mut second_bits, mut second_capacity, mut second_len) = (0.0, 0.0, 0usize);
    let mut figures = YieldFigures::default();
    for bucket in 0..traffic.buckets {
        let at = BUCKET * bucket as u32;
        let busy = fg_active[bucket] || traffic.cross_active[bucket];
        let unthrottled =
            !capped && throttle.is_none_or(|t| policy_limit_bps(scenario, t, at).is_none());
        let rate_steady = bucket == 0
            || traffic.link.stats.rate_at(at) == traffic.link.stats.rate_at(at - BUCKET);
        let judged = bg_active[bucket] && unthrottled && busy == last_busy && rate_steady;
        run = if judged { run + 1 } else { 0 };
        last_busy = busy;
        if run <= settle {
            (second_bits, second_capacity, second_len) = (0.0, 0.0, 0);
            continue;
        }
        let capacity = traffic.capacity_bits(bucket);
        let bits = background[bucket] as f64 * 8.0;
        if busy {
            (second_bits, second_capacity, second_len) =
                (second_bits + bits, second_capacity + capacity, second_len + 1);
            if second_len * BUCKET.as_millis() as usize >= 1000 {
                let share = second_bits / second_capacity;
                if figures.busy_share_max.is_none_or(|(worst, _)| share > worst) {
                    figures.busy_share_max = Some((share, at + BUCKET));
                }
                (second_bits, second_capacity, second_len) = (0.0, 0.0, 0);
            }
        } else {
            idle_bits += bits;
            idle_capacity += capacity;
            let rate = traffic.link.stats.rate_at(at).max(1) as f64;
            delays.push(Duration::from_secs_f64(queued[bucket] as f64 * 8.0 / rate));
        }
    }
    if idle_capacity > 0.0 {
        figures.idle_utilization = Some(idle_bits / idle_capacity);
        delays.sort_unstable();
        figures.idle_queue_delay_median = delays.get(delays.len() / 2).copied();
    }
    figures
}

pub(super) fn background_yield(
    scenario: &Scenario,
    traffic: &Traffic<'_>,
    out: &mut Vec<Violation>,
) {
    let Some(bounds) = &scenario.yield_bounds else { return };
    let figures = yield_figures(scenario, traffic, bounds.settle.0);
    let mut fail = |t_us: Option<u64>, detail: String| {
        out.push(Violation { oracle: Oracle::BackgroundYield, t_us, detail });
    };
    if let Some(max) = bounds.busy_share_max {
        match figures.busy_share_max {
            Some((share, at)) if share > max => fail(
                Some(at.as_micros() as u64),
                format!(
                    "with other traffic active, background took {:.1} % of the bottleneck in the second before (bound {:.1} %)",
                    100.0 * share,
                    100.0 * max
                ),
            ),
            Some(_) => {}
            None => {
                fail(None, "no settled second with other traffic to judge the busy share by".into())
            }
        }
    }
    if let Some(min) = bounds.idle_utilization_min {
        match figures.idle_utilization {
            Some(used) if used < min => fail(
                None,
                format!(
                    "alone on the link, background used {:.1} % of it (bound {:.1} %)",
                    100.0 * used,
                    100.0 * min
                ),
            ),
            Some(_) => {}
            None => fail(None, "no settled idle time to judge the utilization by".into()),
        }
    }
    if let (Some(max), Some(median)) =
        (bounds.queue_delay_median_max, figures.idle_queue_delay_median)
        && median > max.0
    {
        fail(None, format!("background's median queueing delay {median:?} exceeds {}", max));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 s at exactly the limit (1000 bytes per 10 ms bucket = 800 kbit/s).
    fn at_limit() -> (Vec<u64>, Vec<Option<u64>>) {
        (vec![1000; 1000], vec![Some(800_000); 1000])
    }

    #[test]
    fn the_bound_holds_at_the_limit_plus_the_burst_and_fires_one_byte_beyond() {
        let window = 65_536;
        let burst = burst_bytes(window, 800_000);
        let (mut bytes, limits) = at_limit();
        let mut out = Vec::new();
        check_bound(&bytes, &limits, window, "test", &mut out);
        assert!(out.is_empty(), "{out:?}");
        bytes[500] += burst;
        check_bound(&bytes, &limits, window, "test", &mut out);
        assert!(out.is_empty(), "exactly the burst is allowed: {out:?}");
        bytes[700] += 1;
        check_bound(&bytes, &limits, window, "test", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].oracle, Oracle::ThrottleBound);
    }

    #[test]
    fn a_slow_excess_over_a_long_window_fires_too() {
        // 3 % over the limit for 10 s: 3000 bytes a second stay within the burst (about
        // 17 KB here), the 30 000 of the whole run do not.
        let window = 4096;
        let (_, limits) = at_limit();
        let bytes = vec![1030; 1000];
        let mut out = Vec::new();
        check_bound(&bytes, &limits, window, "test", &mut out);
        assert_eq!(out.len(), 1, "windows longer than a second are judged as well");
    }

    #[test]
    fn unlimited_stretches_are_not_judged() {
        let (_, mut limits) = at_limit();
        limits[..500].fill(None);
        let mut bytes = vec![1000; 1000];
        bytes[100] = 10_000_000;
        let mut out = Vec::new();
        check_bound(&bytes, &limits, 65_536, "test", &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
