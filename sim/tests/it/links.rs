//! The link model: a bulk flow over a shaped link achieves the configured rate.

use std::time::Duration;

use bitsim::net::stats::{BUCKET, bucket_of};
use bitsim::scenario::Scenario;
use bitsim::world::{self, RunConfig};

/// Bulk traffic for `seconds` over a link of `rate`; returns achieved / configured over the
/// whole seconds after the first (which holds the connection's start).
pub(crate) fn achieved_ratio(rate: &str, seconds: u64) -> f64 {
    let text = format!(
        r#"
description = "link accuracy"
deadline = "{deadline}s"
[[servers]]
name = "origin"
files = [{{ path = "/f", size = "1KiB" }}]
[[links]]
between = ["engine", "*"]
down = "{rate}"
up = "{rate}"
latency = "10ms"
[[cross_traffic]]
at = "1s"
duration = "{duration}s"
[[jobs]]
name = "after"
start_at = "{after}s"
files = [{{ remote = "http://origin/f", local = "/d/f" }}]
expect = {{ state = "ACKNOWLEDGED" }}
"#,
        deadline = seconds + 30,
        duration = seconds + 1,
        after = seconds + 3,
    );
    let scenario = Scenario::parse(&text, "accuracy").expect("valid");
    let outcome = world::run(&scenario, &RunConfig::default());
    let down = outcome.net.links.iter().find(|link| link.name == "*->engine").expect("down link");
    let cross: Vec<u32> = outcome
        .net
        .conns
        .iter()
        .filter(|conn| conn.server.0 == "cross")
        .map(|conn| conn.id)
        .collect();
    let (from, to) = (Duration::from_secs(2), Duration::from_secs(2 + seconds));
    let series = down.stats.departed_series(bucket_of(to) as usize, |conn| cross.contains(&conn));
    let bytes: u64 = series[bucket_of(from) as usize..].iter().sum();
    let configured = down.stats.capacity_bits(from, to);
    assert_eq!(BUCKET * bucket_of(to), to);
    bytes as f64 * 8.0 / configured
}

#[test]
fn a_bulk_flow_achieves_the_configured_rate_within_one_percent() {
    for rate in ["56kbit", "1Mbit", "10Mbit", "100Mbit"] {
        let ratio = achieved_ratio(rate, 60);
        eprintln!("{rate}: {ratio:.5}");
        assert!((0.99..=1.01).contains(&ratio), "{rate}: achieved/configured = {ratio:.4}");
    }
}
