//! Bandwidth limits: BITS's group policy for background transfers (spec §5.2), a job's own
//! cap, and the token bucket that paces reading to the lowest limit in force.
//!
//! The policy's hours follow the wall clock (the simulator's, or the machine's): each check
//! reads it afresh, so a clock change moves the window edges. Retry timers use monotonic time
//! and ignore such changes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A limit in bits per second.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    #[default]
    Unlimited,
    /// Policy value 0: background jobs may not transfer at all (BG_E_BLOCKED_BY_POLICY).
    Blocked,
    BitsPerSec(u64),
}

/// Policy values below this behave as this (spec §5.2: "values < 2 kbps behave as ~2 kbps").
pub const POLICY_RATE_MIN_BPS: u64 = 2_000;

impl Limit {
    /// The policy's reading of a configured kbit/s value: 0 blocks, tiny values are raised.
    pub fn from_policy_bps(bits_per_sec: u64) -> Self {
        if bits_per_sec == 0 {
            Self::Blocked
        } else {
            Self::BitsPerSec(bits_per_sec.max(POLICY_RATE_MIN_BPS))
        }
    }

    /// The rate this limit allows, `None` for no limit (a blocked limit allows nothing).
    pub fn rate_bps(self) -> Option<u64> {
        match self {
            Self::Unlimited => None,
            Self::Blocked => Some(0),
            Self::BitsPerSec(rate) => Some(rate),
        }
    }

    /// The tighter of two limits.
    pub fn min(self, other: Self) -> Self {
        match (self.rate_bps(), other.rate_bps()) {
            (None, _) => other,
            (_, None) => self,
            (Some(a), Some(b)) if a <= b => self,
            _ => other,
        }
    }
}

/// "Limit the maximum network bandwidth for BITS background transfers": `in_window` from
/// `from_hour`:00 until `to_hour`:00 (wall clock, UTC), `outside` the rest of the day.
/// `from_hour > to_hour` wraps past midnight; `from_hour == to_hour` is an empty window.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BandwidthPolicy {
    pub from_hour: u8,
    pub to_hour: u8,
    pub in_window: Limit,
    pub outside: Limit,
}

/// The policy's window is looked at again at least this often, so a wall clock that was set
/// takes effect within a minute (the window's edges are also waited for exactly).
pub const POLICY_RECHECK: Duration = Duration::from_secs(60);

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

impl BandwidthPolicy {
    fn in_window(&self, unix: Duration) -> bool {
        let hour = (unix.as_secs() % DAY / HOUR) as u8;
        if self.from_hour <= self.to_hour {
            (self.from_hour..self.to_hour).contains(&hour)
        } else {
            hour >= self.from_hour || hour < self.to_hour
        }
    }

    /// The background limit at wall-clock time `unix`.
    pub fn limit_at(&self, unix: Duration) -> Limit {
        if self.in_window(unix) { self.in_window } else { self.outside }
    }

    /// How long to wait before looking at the policy again.
    pub fn until_check(&self, unix: Duration) -> Duration {
        self.until_next_edge(unix).min(POLICY_RECHECK)
    }

    /// Wall-clock time from `unix` until the next window edge (within a day).
    pub fn until_next_edge(&self, unix: Duration) -> Duration {
        let of_day = unix.as_secs_f64() % DAY as f64;
        [self.from_hour, self.to_hour]
            .into_iter()
            .map(|hour| {
                let edge = f64::from(hour) * HOUR as f64;
                let ahead = (edge - of_day).rem_euclid(DAY as f64);
                if ahead == 0.0 { DAY as f64 } else { ahead }
            })
            .map(Duration::from_secs_f64)
            .min()
            .expect("two edges")
    }
}

/// The limit on a job's reading rate apart from the background controller: its own cap and,
/// for a background job, the policy's limit at wall-clock time `unix` (foreground jobs are
/// exempt from the policy, spec §5.2).
pub fn job_limit(
    cap_bps: Option<u64>,
    background: bool,
    policy: Option<&BandwidthPolicy>,
    unix: Duration,
) -> Limit {
    let cap = cap_bps.map_or(Limit::Unlimited, Limit::BitsPerSec);
    match policy {
        Some(policy) if background => cap.min(policy.limit_at(unix)),
        _ => cap,
    }
}

/// The rate to read at: the tighter of a limit and the background controller's rate
/// (`None`: no limit at all).
pub fn reading_rate(limit: Limit, controlled_bps: Option<u64>) -> Option<u64> {
    match (limit.rate_bps(), controlled_bps) {
        (Some(limit), Some(controlled)) => Some(limit.min(controlled)),
        (limit, controlled) => limit.or(controlled),
    }
}

/// Paces bytes to a rate: a token bucket holding at most `burst` bytes.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_bps: Option<u64>,
    burst_bytes: f64,
    tokens: f64,
    last: Duration,
}

/// Reading may run ahead of the rate by this long: enough to absorb one body frame and a
/// timer tick, small against the one-second windows the throttle oracle judges.
pub const BURST_TIME: Duration = Duration::from_millis(50);
/// ...and by at least this many bytes, so slow rates still pass whole segments.
pub const BURST_BYTES_MIN: u64 = 2 * 1460;

impl TokenBucket {
    pub fn new(now: Duration) -> Self {
        Self { rate_bps: None, burst_bytes: 0.0, tokens: 0.0, last: now }
    }

    /// Sets the rate from `now` on (`None`: unlimited).
    pub fn set_rate(&mut self, now: Duration, rate_bps: Option<u64>) {
        self.refill(now);
        self.rate_bps = rate_bps;
        self.burst_bytes = rate_bps.map_or(0.0, |rate| {
            (rate as f64 / 8.0 * BURST_TIME.as_secs_f64()).max(BURST_BYTES_MIN as f64)
        });
        self.tokens = self.tokens.min(self.burst_bytes);
    }

    pub fn rate_bps(&self) -> Option<u64> {
        self.rate_bps
    }

    /// Takes `bytes` at `now` and says how long to wait before taking more: the debt, paid at
    /// the rate. A zero rate never pays (`None`).
    pub fn take(&mut self, now: Duration, bytes: u64) -> Option<Duration> {
        self.refill(now);
        let Some(rate) = self.rate_bps else { return Some(Duration::ZERO) };
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            return Some(Duration::ZERO);
        }
        if rate == 0 {
            return None;
        }
        Some(Duration::from_secs_f64(-self.tokens * 8.0 / rate as f64))
    }

    fn refill(&mut self, now: Duration) {
        if let Some(rate) = self.rate_bps {
            let earned = now.saturating_sub(self.last).as_secs_f64() * rate as f64 / 8.0;
            self.tokens = (self.tokens + earned).min(self.burst_bytes);
        }
        self.last = self.last.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u64, minute: u64) -> Duration {
        Duration::from_secs(20_000 * DAY + hour * HOUR + minute * 60)
    }

    #[test]
    fn the_window_covers_its_hours_and_wraps_past_midnight() {
        let day = BandwidthPolicy {
            from_hour: 8,
            to_hour: 17,
            in_window: Limit::BitsPerSec(10_000),
            outside: Limit::Unlimited,
        };
        assert_eq!(day.limit_at(at(7, 59)), Limit::Unlimited);
        assert_eq!(day.limit_at(at(8, 0)), Limit::BitsPerSec(10_000));
        assert_eq!(day.limit_at(at(16, 59)), Limit::BitsPerSec(10_000));
        assert_eq!(day.limit_at(at(17, 0)), Limit::Unlimited);
        let night = BandwidthPolicy { from_hour: 22, to_hour: 6, ..day };
        assert_eq!(night.limit_at(at(23, 30)), Limit::BitsPerSec(10_000));
        assert_eq!(night.limit_at(at(0, 0)), Limit::BitsPerSec(10_000));
        assert_eq!(night.limit_at(at(6, 0)), Limit::Unlimited);
        assert_eq!(night.until_next_edge(at(23, 30)), Duration::from_secs(6 * HOUR + 1800));
        assert_eq!(night.until_next_edge(at(21, 0)), Duration::from_secs(HOUR));
    }

    #[test]
    fn policy_values_follow_the_group_policy() {
        assert_eq!(Limit::from_policy_bps(0), Limit::Blocked);
        assert_eq!(Limit::from_policy_bps(500), Limit::BitsPerSec(POLICY_RATE_MIN_BPS));
        assert_eq!(Limit::BitsPerSec(5).min(Limit::Unlimited), Limit::BitsPerSec(5));
        assert_eq!(Limit::Blocked.min(Limit::BitsPerSec(5)), Limit::Blocked);
    }

    #[test]
    fn a_jobs_limit_is_its_cap_and_for_background_the_policy() {
        let policy = BandwidthPolicy {
            from_hour: 8,
            to_hour: 17,
            in_window: Limit::BitsPerSec(10_000),
            outside: Limit::Blocked,
        };
        let noon = at(12, 0);
        assert_eq!(job_limit(None, true, Some(&policy), noon), Limit::BitsPerSec(10_000));
        assert_eq!(job_limit(Some(5_000), true, Some(&policy), noon), Limit::BitsPerSec(5_000));
        assert_eq!(job_limit(None, false, Some(&policy), noon), Limit::Unlimited, "foreground");
        assert_eq!(job_limit(Some(5_000), true, Some(&policy), at(20, 0)), Limit::Blocked);
        assert_eq!(job_limit(None, true, None, noon), Limit::Unlimited);
        assert_eq!(policy.until_check(at(7, 59)), Duration::from_secs(60));
        assert_eq!(
            policy.until_check(at(16, 59) + Duration::from_secs(30)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn the_reading_rate_is_the_tighter_of_limit_and_controller() {
        assert_eq!(reading_rate(Limit::Unlimited, None), None);
        assert_eq!(reading_rate(Limit::Unlimited, Some(7)), Some(7));
        assert_eq!(reading_rate(Limit::BitsPerSec(5), Some(7)), Some(5));
        assert_eq!(reading_rate(Limit::BitsPerSec(9), Some(7)), Some(7));
        assert_eq!(reading_rate(Limit::Blocked, Some(7)), Some(0));
    }

    #[test]
    fn the_bucket_paces_to_its_rate_after_a_small_burst() {
        let mut bucket = TokenBucket::new(Duration::ZERO);
        bucket.set_rate(Duration::ZERO, Some(80_000)); // 10 000 bytes/s, burst 2920
        let mut now = Duration::ZERO;
        let mut taken = 0;
        while now < Duration::from_secs(10) {
            let wait = bucket.take(now, 1000).expect("a positive rate");
            taken += 1000;
            now += wait.max(Duration::from_millis(1));
        }
        assert!((99_000..=103_000).contains(&taken), "{taken} bytes in 10 s at 10 kB/s");
        bucket.set_rate(now, Some(0));
        assert_eq!(bucket.take(now, 1), None, "a zero rate never lets a byte through");
    }
}
