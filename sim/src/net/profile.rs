//! Link profiles: published access-link presets, kept as data in `profiles/links.toml` and
//! compiled into the binary so `bitsim` works from any directory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::scenario::{Rate, Size, Span};

/// The profiles file, as shipped.
pub const PROFILES_TOML: &str = include_str!("../../../profiles/links.toml");

/// A buffer holds this much time at the link's rate unless the profile says otherwise
/// (see the header of `profiles/links.toml`).
pub const QUEUE_TIME_DEFAULT: Duration = Duration::from_millis(250);
/// ...but never less than a few full segments, or nothing could be queued behind one.
pub const QUEUE_BYTES_MIN: u64 = 8 << 10;
/// Ethernet's MSS: 1500-byte frames less 40 bytes of IP and TCP headers.
pub const MSS_DEFAULT: usize = 1460;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub description: String,
    pub down: Rate,
    pub up: Rate,
    pub rtt: Span,
    #[serde(default)]
    pub jitter: Option<Span>,
    #[serde(default)]
    pub queue: Option<Size>,
    pub source: String,
}

impl Profile {
    /// The queue of a direction of rate `rate_bps` when none is given.
    pub fn queue_default(rate_bps: u64) -> u64 {
        let bytes = (rate_bps as f64 / 8.0 * QUEUE_TIME_DEFAULT.as_secs_f64()) as u64;
        bytes.max(QUEUE_BYTES_MIN)
    }
}

/// Every shipped profile, by name.
pub fn all() -> BTreeMap<String, Profile> {
    toml::from_str(PROFILES_TOML).expect("profiles/links.toml is checked by a test")
}

pub fn get(name: &str) -> Option<Profile> {
    all().remove(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_profiles_parse_and_cover_the_required_links() {
        let profiles = all();
        for name in ["dialup", "isdn", "dsl", "cable", "3g", "lte", "satellite", "lan"] {
            let profile = &profiles[name];
            assert!(!profile.source.is_empty(), "{name} cites its source");
            assert!(profile.down.bits_per_sec > 0 && profile.up.bits_per_sec > 0);
        }
        let satellite = &profiles["satellite"];
        assert_eq!(satellite.rtt.0, Duration::from_millis(600), "GEO: about 600 ms round trip");
    }

    #[test]
    fn default_queues_hold_a_quarter_second_but_at_least_a_few_segments() {
        assert_eq!(Profile::queue_default(8_000_000), 250_000);
        assert_eq!(Profile::queue_default(56_000), QUEUE_BYTES_MIN);
    }
}
