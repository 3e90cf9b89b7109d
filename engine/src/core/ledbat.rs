//! The background controller: background jobs use only idle bandwidth by keeping the
//! queueing delay they add at the bottleneck near a target, in the manner of LEDBAT
//! (RFC 6817) and LEDBAT++ (peers.md §C).
//!
//! A downloader cannot read the sender's timestamps, so delay comes from probes: a small
//! HEAD request on a second connection to the same server, timed from request to response.
//! Its round trip is the path's base delay plus whatever waits in the queues. The lowest
//! round trip in the recent past is the base; the excess of the latest ones is the queueing
//! delay. The controller sets a *reading rate*: reading slower than the link closes the
//! receive window, which slows the sender (rLEDBAT, RFC 9840, does the same with the window
//! itself).
//!
//! - In slow start it doubles the rate per sample at most. Otherwise, while the queue is short
//!   of the target it grows the rate gently; past the target it sets the rate below what
//!   really arrives, in proportion to the excess, at most halving it (LEDBAT++'s
//!   multiplicative decrease).
//! - It may not outgrow what it actually receives by more than [`ALLOWED_INCREASE`] (RFC 6817).
//! - The base is the minimum per minute over [`BASE_HISTORY`] minutes, so a lower base counts
//!   at once and a higher one only after the history has rolled over.
//! - Every [`SLOWDOWN_INTERVAL`] it drops to the floor for two round trips and probes at the
//!   end (LEDBAT++'s periodic slowdown): its own standing queue drains, so the base it
//!   measures is the path's and does not creep up with its own queue.
//! - It never goes below [`RATE_MIN_BPS`]: BITS keeps "a small amount" of data moving.
//!
//! Pure: time and samples come in as arguments.

use std::collections::VecDeque;
use std::time::Duration;

/// Queueing delay the controller aims to add. RFC 6817 requires at most 100 ms; LEDBAT++
/// uses 60 ms, which leaves room under the 100 ms bound for overshoot.
pub const TARGET: Duration = Duration::from_millis(60);
/// Minutes of per-minute minima kept for the base delay (RFC 6817's BASE_HISTORY).
pub const BASE_HISTORY: usize = 10;
/// The current delay is the least of this many latest samples (RFC 6817's CURRENT_FILTER,
/// 4 there). Probes are sparse, so each one counts: a filter would delay every decrease.
pub const CURRENT_FILTER: usize = 1;
/// The rate may be at most this multiple of what arrived since the last sample.
pub const ALLOWED_INCREASE: f64 = 2.0;
/// The floor: background jobs always move a little (spec §5.1), and the policy's floor is
/// the same 2 kbit/s (spec §5.2).
pub const RATE_MIN_BPS: u64 = 2_000;
/// Where a new transfer starts. Its first receive window arrives at the link's speed
/// whatever the reading rate, and the first probe (within a few hundred milliseconds) corrects
/// the rate on a slower link; starting lower would only make fast links ramp for seconds.
pub const RATE_INITIAL_BPS: u64 = 1_000_000;
/// How often the controller gives up its standing queue to re-measure the base.
pub const SLOWDOWN_INTERVAL: Duration = Duration::from_secs(120);
/// Outside slow start, probes may cost at most this share of the current rate (in slow start
/// the queue is empty and they cost nobody anything)...
pub const PROBE_SHARE: f64 = 0.02;
/// ...are at least two round trips apart, and never closer than this or farther than
/// [`PROBE_INTERVAL_MAX`] (which bounds how long an idle link goes unnoticed: at the floor
/// rate a probe every 2 s costs 1.6 kbit/s, under 4 % of a dial-up line).
pub const PROBE_INTERVAL_MIN: Duration = Duration::from_millis(100);
pub const PROBE_INTERVAL_MAX: Duration = Duration::from_secs(2);
/// A probe's request and response heads, in bytes, roughly.
pub const PROBE_BYTES: u64 = 400;
/// Slow start ends once the queueing delay passes half the target (LEDBAT++ ends it at
/// three quarters; earlier, because a doubling overshoots by one probe interval).
const SLOW_START_EXIT: f64 = 0.5;
/// A queue under a quarter of the target counts as empty...
const QUIET_OFF_TARGET: f64 = 0.75;
/// ...and this many empty samples in a row, at a rate under half the reference, mean the
/// other traffic has gone.
const QUIET_SAMPLES: u32 = 2;
/// Growth per sample while the queue is short of the target, at `off_target` = 1 (an empty
/// queue). Small gains keep the sawtooth shallow: measured on the DSL profile, 0.05/0.25
/// used 96 % of the line with a 39 ms median queue, 0.1/0.5 only 89 %.
const GAIN_GENTLE: f64 = 0.05;
/// Shrink per sample, times the excess over the target in targets (so 25 % at twice the
/// target), never more than half.
const GAIN_DECREASE: f64 = 0.25;

#[derive(Clone, Debug)]
pub struct DelayController {
    rate_bps: f64,
    /// `(minute, least round trip seen in it)`, oldest first.
    base: VecDeque<(u64, Duration)>,
    recent: VecDeque<Duration>,
    last_sample: Duration,
    bytes_since_sample: u64,
    next_slowdown: Duration,
    slowdown_until: Option<Duration>,
    /// A limit from elsewhere (policy, job cap): probes are spaced for the rate that can
    /// really flow, so they never cost more than their share of a throttled transfer.
    ceiling_bps: Option<u64>,
    /// Slow start: the rate doubles per sample until the queue reaches half the target or the
    /// rate reaches `reference_bps`.
    slow_start: bool,
    /// The rate at which the queue last built up: what the link gave when it was ours.
    reference_bps: Option<f64>,
    /// Consecutive samples with an almost empty queue.
    quiet_samples: u32,
}

impl DelayController {
    pub fn new(now: Duration) -> Self {
        Self {
            rate_bps: RATE_INITIAL_BPS as f64,
            base: VecDeque::new(),
            recent: VecDeque::new(),
            last_sample: now,
            bytes_since_sample: 0,
            next_slowdown: now + SLOWDOWN_INTERVAL,
            slowdown_until: None,
            ceiling_bps: None,
            slow_start: true,
            reference_bps: None,
            quiet_samples: 0,
        }
    }

    /// The reading rate at `now`.
    pub fn rate_bps(&self, now: Duration) -> u64 {
        if self.slowdown_until.is_some_and(|until| now < until) {
            RATE_MIN_BPS
        } else {
            self.rate_bps as u64
        }
    }

    /// The rate other limits allow (`None`: no other limit).
    pub fn set_ceiling(&mut self, ceiling_bps: Option<u64>) {
        self.ceiling_bps = ceiling_bps;
    }

    /// Bytes received (data and probes).
    pub fn on_bytes(&mut self, bytes: u64) {
        self.bytes_since_sample += bytes;
    }

    /// The base delay: the least round trip of the history.
    pub fn base_delay(&self) -> Option<Duration> {
        self.base.iter().map(|(_, rtt)| *rtt).min()
    }

    /// The estimated queueing delay from the latest samples.
    pub fn queueing_delay(&self) -> Option<Duration> {
        let current = self.recent.iter().min()?;
        Some(current.saturating_sub(self.base_delay()?))
    }

    /// A probe's round trip `rtt`, measured at `now`.
    pub fn on_rtt(&mut self, now: Duration, rtt: Duration) {
        self.remember(now, rtt);
        let elapsed = now.saturating_sub(self.last_sample).max(Duration::from_millis(1));
        let received_bps = self.bytes_since_sample as f64 * 8.0 / elapsed.as_secs_f64();
        self.last_sample = now;
        self.bytes_since_sample = 0;
        if let Some(until) = self.slowdown_until {
            if now < until {
                return;
            }
            // The rate before the slowdown comes back at once; the base is fresh.
            self.slowdown_until = None;
            return;
        }
        let queueing = self.queueing_delay().unwrap_or_default().as_secs_f64();
        let target = TARGET.as_secs_f64();
        let off_target = (target - queueing) / target;
        self.update_slow_start(off_target);
        let rate = if self.slow_start {
            let ceiling = (ALLOWED_INCREASE * received_bps).max(self.rate_bps);
            let doubled = (self.rate_bps * (1.0 + off_target)).min(ceiling);
            self.reference_bps
                .map_or(doubled, |reference| doubled.min(reference.max(self.rate_bps)))
        } else if off_target >= 0.0 {
            // Short of the target: grow gently, but never past twice what really arrives.
            let ceiling = (ALLOWED_INCREASE * received_bps).max(self.rate_bps);
            (self.rate_bps * (1.0 + GAIN_GENTLE * off_target)).min(ceiling)
        } else {
            // Past the target: fall below what really arrives (the link's share) in
            // proportion to the excess, so the queue drains.
            let basis =
                if received_bps > 0.0 { received_bps.min(self.rate_bps) } else { self.rate_bps };
            basis * (1.0 + GAIN_DECREASE * off_target).max(0.5)
        };
        self.rate_bps = rate.max(RATE_MIN_BPS as f64);
        if now >= self.next_slowdown {
            self.slowdown_until = Some(now + 2 * rtt);
            self.next_slowdown = now + SLOWDOWN_INTERVAL;
        }
    }

    /// Leaves slow start when the queue builds (remembering the rate that built it) or the
    /// reference rate is reached; enters it again when the queue has stayed almost empty
    /// while the rate is far below the reference: the other traffic is gone, so ramp up in
    /// a few samples instead of creeping up by [`GAIN_GENTLE`].
    fn update_slow_start(&mut self, off_target: f64) {
        // What the rate can achieve at most: a policy or cap limits it too.
        let usable =
            self.ceiling_bps.map_or(self.rate_bps, |limit| self.rate_bps.min(limit as f64));
        let at_limit = self.ceiling_bps.is_some_and(|limit| self.rate_bps >= limit as f64);
        let reached = self.reference_bps.is_some_and(|reference| self.rate_bps >= reference);
        if self.slow_start && (off_target <= SLOW_START_EXIT || at_limit || reached) {
            // Leaving slow start: remember the rate the link (or the limit) gave.
            self.reference_bps = Some(usable);
            self.slow_start = false;
        } else if off_target <= SLOW_START_EXIT && self.reference_bps.is_none() {
            self.reference_bps = Some(usable);
        }
        self.quiet_samples = if off_target > QUIET_OFF_TARGET { self.quiet_samples + 1 } else { 0 };
        let far_below = self.reference_bps.is_some_and(|reference| self.rate_bps < reference / 2.0);
        if !self.slow_start && far_below && self.quiet_samples >= QUIET_SAMPLES {
            self.slow_start = true;
        }
    }

    /// When to send the next probe, the last one having been sent at `last_probe`.
    pub fn next_probe(&self, last_probe: Duration) -> Duration {
        if let Some(until) = self.slowdown_until {
            return until;
        }
        let round_trips = 2 * self.recent.back().copied().unwrap_or_default();
        if self.slow_start {
            // The queue is empty: nobody to disturb, and the ramp needs samples.
            return last_probe + round_trips.max(PROBE_INTERVAL_MIN);
        }
        let flowing =
            self.ceiling_bps.map_or(self.rate_bps, |ceiling| self.rate_bps.min(ceiling as f64));
        let share =
            Duration::from_secs_f64(PROBE_BYTES as f64 * 8.0 / (PROBE_SHARE * flowing.max(1.0)));
        last_probe + round_trips.max(share).clamp(PROBE_INTERVAL_MIN, PROBE_INTERVAL_MAX)
    }

    fn remember(&mut self, now: Duration, rtt: Duration) {
        let minute = now.as_secs() / 60;
        match self.base.back_mut() {
            Some((last, least)) if *last == minute => *least = (*least).min(rtt),
            _ => {
                self.base.push_back((minute, rtt));
                if self.base.len() > BASE_HISTORY {
                    self.base.pop_front();
                }
            }
        }
        self.recent.push_back(rtt);
        if self.recent.len() > CURRENT_FILTER {
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds samples of a link of `capacity_bps` with base round trip `base`: the queue
    /// grows while the rate exceeds the capacity and drains while it is below.
    fn simulate(capacity_bps: f64, base: Duration, seconds: u64) -> (Vec<f64>, Vec<Duration>) {
        let mut controller = DelayController::new(Duration::ZERO);
        let (mut now, mut queue_bits, mut last_probe) = (Duration::ZERO, 0.0f64, Duration::ZERO);
        let (mut rates, mut delays) = (Vec::new(), Vec::new());
        while now < Duration::from_secs(seconds) {
            let step = MS * 10;
            let rate = controller.rate_bps(now) as f64;
            let sent = rate.min(capacity_bps + queue_bits / step.as_secs_f64());
            queue_bits = (queue_bits + (rate - capacity_bps) * step.as_secs_f64()).max(0.0);
            controller.on_bytes((sent.min(capacity_bps) * step.as_secs_f64() / 8.0) as u64);
            now += step;
            if now >= controller.next_probe(last_probe) {
                let queueing = Duration::from_secs_f64(queue_bits / capacity_bps);
                controller.on_rtt(now, base + queueing);
                last_probe = now;
                rates.push(rate);
                delays.push(queueing);
            }
        }
        (rates, delays)
    }

    #[test]
    fn on_an_idle_link_it_fills_the_link_with_a_queue_near_the_target() {
        let capacity = 1_500_000.0;
        let (rates, delays) = simulate(capacity, MS * 50, 300);
        let tail = rates.len() / 2;
        let mean_rate: f64 = rates[tail..].iter().sum::<f64>() / (rates.len() - tail) as f64;
        assert!(mean_rate > 0.9 * capacity, "uses the link: {mean_rate:.0} of {capacity}");
        let mut tail_delays = delays[tail..].to_vec();
        tail_delays.sort();
        let median = tail_delays[tail_delays.len() / 2];
        assert!(median <= Duration::from_millis(100), "median queueing delay {median:?}");
    }

    #[test]
    fn a_standing_queue_it_did_not_cause_drives_it_to_the_floor() {
        let mut controller = DelayController::new(Duration::ZERO);
        controller.on_rtt(MS * 100, MS * 50);
        for step in 2..60 {
            controller.on_bytes(1000);
            controller.on_rtt(MS * 100 * step, MS * 400);
        }
        assert_eq!(controller.rate_bps(MS * 6000), RATE_MIN_BPS);
    }

    #[test]
    fn the_base_forgets_old_minima_only_after_the_history() {
        let mut controller = DelayController::new(Duration::ZERO);
        controller.on_rtt(Duration::from_secs(1), MS * 50);
        controller.on_rtt(Duration::from_secs(61), MS * 80);
        assert_eq!(controller.base_delay(), Some(MS * 50));
        for minute in 2..=10 {
            controller.on_rtt(Duration::from_secs(minute * 60 + 1), MS * 80);
        }
        assert_eq!(controller.base_delay(), Some(MS * 80), "ten minutes later the 50 ms is gone");
        controller.on_rtt(Duration::from_secs(700), MS * 30);
        assert_eq!(controller.base_delay(), Some(MS * 30), "a lower base counts at once");
    }

    #[test]
    fn it_never_grows_past_twice_what_it_receives() {
        let mut controller = DelayController::new(Duration::ZERO);
        controller.on_rtt(MS * 100, MS * 50);
        controller.on_bytes(100); // 8 kbit/s over the next 100 ms
        controller.on_rtt(MS * 200, MS * 50);
        assert!(controller.rate_bps(MS * 200) <= RATE_INITIAL_BPS);
    }
}
