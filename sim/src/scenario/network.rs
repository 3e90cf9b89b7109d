//! The network parts of a scenario: shaped links, cross traffic, the background bandwidth
//! policy, and the yield bounds the background transfers must keep.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units::{Rate, Size, Span};
use crate::net::link::LinkSpec;
use crate::net::profile::{self, MSS_DEFAULT, Profile};

/// A link joining two ends: `between = [A, B]`, where B may be `*` (every other host).
/// `up` is A -> B, `down` is B -> A. A profile gives every value; fields override it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDecl {
    pub between: [String; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<Rate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<Rate>,
    /// One-way delay, each direction. Default: half the profile's round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// Each direction's buffer. Default: the profile's, else 250 ms at the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mss: Option<usize>,
    /// Every connection's receive window. Default: twice the bandwidth-delay product or
    /// [`WINDOW_TIME`] at the link's rate, whichever is larger, within
    /// [`WINDOW_MIN`, `WINDOW_MAX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Size>,
}

/// Segment sizes a scenario may choose: at least enough for an HTTP request line, at most
/// what TCP's 16-bit window field can admit whole.
const MSS_MIN: usize = 64;
const MSS_MAX: usize = 65_535;
/// Classic TCP's largest window without window scaling (RFC 7323): what Windows XP offered.
pub const WINDOW_MIN: u64 = 64 << 10;
/// Receive-window autotuning (Windows Vista on, Linux) grows a bulk flow's window well past
/// the bandwidth-delay product, so on a fast link the flow fills the bottleneck's buffer
/// instead of queueing a few milliseconds. We model it as at least this much of the link's
/// rate, which is what lets a delay-based background controller see a foreground flow on a
/// LAN at all (with 64 KiB it queues about 3 ms at 100 Mbit/s).
pub const WINDOW_TIME: Duration = Duration::from_millis(100);
/// turmoil gives each stream 1024 segments of credit (`world::TCP_CAPACITY`): a larger window
/// than those segments hold would let turmoil, not the link, limit the rate.
pub const WINDOW_MAX: u64 = 1 << 20;

/// A link with every value resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSettings {
    pub up: LinkSpec,
    pub down: LinkSpec,
    pub window_bytes: u64,
}

impl LinkDecl {
    /// Resolves the profile and the defaults; errors name the field.
    pub fn settings(&self) -> Result<LinkSettings, String> {
        let profile: Option<Profile> = match &self.profile {
            Some(name) => Some(profile::get(name).ok_or_else(|| {
                let names: Vec<String> = profile::all().into_keys().collect();
                format!("links.profile: no profile `{name}` (there are: {})", names.join(", "))
            })?),
            None => None,
        };
        let rate = |given: Option<Rate>, field: &str, of_profile: Option<Rate>| {
            given.or(of_profile).map(|rate| rate.bits_per_sec).ok_or_else(|| {
                format!("links.{field}: a link without a profile needs its `{field}` rate")
            })
        };
        let down = rate(self.down, "down", profile.as_ref().map(|p| p.down))?;
        let up = rate(self.up, "up", profile.as_ref().map(|p| p.up))?;
        let latency = match (self.latency, &profile) {
            (Some(latency), _) => latency.0,
            (None, Some(profile)) => profile.rtt.0 / 2,
            (None, None) => return Err("links.latency: a link without a profile needs it".into()),
        };
        let jitter = self
            .jitter
            .or_else(|| profile.as_ref().and_then(|p| p.jitter))
            .map_or(Duration::ZERO, |s| s.0);
        let mss = self.mss.unwrap_or(MSS_DEFAULT);
        if !(MSS_MIN..=MSS_MAX).contains(&mss) {
            return Err(format!("links.mss: {mss} is not between {MSS_MIN} and {MSS_MAX} bytes"));
        }
        let queue = |rate_bps| {
            self.queue
                .or_else(|| profile.as_ref().and_then(|p| p.queue))
                .map_or_else(|| Profile::queue_default(rate_bps), |size| size.0)
        };
        let round_trip = 2 * latency + 2 * jitter;
        let bdp = (down.max(up) as f64 / 8.0 * round_trip.as_secs_f64()) as u64;
        let window_bytes = match self.window {
            Some(size) if !(mss as u64..=WINDOW_MAX).contains(&size.0) => {
                return Err(format!(
                    "links.window: {} bytes is not between the MSS and {WINDOW_MAX}",
                    size.0
                ));
            }
            Some(size) => size.0,
            None => {
                let autotuned = (down.max(up) as f64 / 8.0 * WINDOW_TIME.as_secs_f64()) as u64;
                (2 * bdp).max(autotuned).clamp(WINDOW_MIN, WINDOW_MAX)
            }
        };
        let spec =
            |rate_bps| LinkSpec { rate_bps, latency, jitter, queue_bytes: queue(rate_bps), mss };
        Ok(LinkSettings { up: spec(up), down: spec(down), window_bytes })
    }
}

/// Bulk flows that start at `at` and run for `duration` over the engine's links: the user's
/// own traffic, which background transfers must yield to.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrossTraffic {
    pub at: Span,
    pub duration: Span,
    /// Parallel connections.
    #[serde(default = "CrossTraffic::flows_default")]
    pub flows: u32,
    /// `down`: into the engine's machine (a download by the user); `up`: out of it.
    #[serde(default)]
    pub direction: CrossDirection,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrossDirection {
    #[default]
    Down,
    Up,
}

impl CrossTraffic {
    fn flows_default() -> u32 {
        1
    }
}

/// The simulated host that serves (or sinks) cross traffic.
pub const CROSS_HOST: &str = "cross";
/// At most this many parallel cross-traffic flows per entry.
pub const CROSS_FLOWS_MAX: u32 = 64;

/// BITS's group policy "Limit the maximum network bandwidth for BITS background transfers"
/// (spec §5.2): one limit inside the hours `from_hour..to_hour` (wall clock, UTC; wraps past
/// midnight when `from_hour > to_hour`), another outside.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Throttle {
    pub from_hour: u8,
    pub to_hour: u8,
    pub in_window: Limit,
    #[serde(default)]
    pub outside: Limit,
}

/// A bandwidth limit: `"unlimited"`, `"0"` (blocks background transfers), or a rate.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum Limit {
    #[default]
    Unlimited,
    Blocked,
    Rate(Rate),
}

impl Limit {
    /// The engine's reading of this policy value (tiny rates are raised to its floor).
    pub fn to_engine(self) -> bitsim_engine::core::throttle::Limit {
        use bitsim_engine::core::throttle::Limit as Engine;
        match self {
            Self::Unlimited => Engine::Unlimited,
            Self::Blocked => Engine::Blocked,
            Self::Rate(rate) => Engine::from_policy_bps(rate.bits_per_sec),
        }
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "unlimited" => Ok(Self::Unlimited),
            "0" | "0bit" | "0kbit" => Ok(Self::Blocked),
            other => other
                .parse()
                .map(Self::Rate)
                .map_err(|error| format!("{error}; a limit is also `unlimited` or `0` (blocks)")),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlimited => f.write_str("unlimited"),
            Self::Blocked => f.write_str("0"),
            Self::Rate(rate) => rate.fmt(f),
        }
    }
}

super::units::text_serde!(Limit);

/// What background transfers must achieve, checked by the `background-yield` oracle.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct YieldBounds {
    /// Time after each change (a background transfer starts, other traffic starts or stops)
    /// that the controller may take to settle; not judged.
    pub settle: Span,
    /// While other traffic is active: the most of the bottleneck background may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_share_max: Option<f64>,
    /// While background is alone: the least of the bottleneck it must use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_utilization_min: Option<f64>,
    /// While background is alone: the median queueing delay its bytes may cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_delay_median_max: Option<Span>,
    /// While a policy limit applies and the link is faster: the least of the limit that
    /// background must use (judged by the `throttle-bound` oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_use_min: Option<f64>,
}
