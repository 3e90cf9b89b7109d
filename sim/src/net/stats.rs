//! What a link saw, for the oracles and `bitsim profile`: the bytes each connection sent
//! through it (by the time they were clocked out), its rate over time, and samples of who was
//! waiting in its queue.

use std::collections::BTreeMap;
use std::time::Duration;

use super::link::ConnId;

/// Departures are counted in buckets of this length: fine enough for one-second windows
/// and a queue sampled at the same cadence, coarse enough that an hour is 360 000 numbers.
pub const BUCKET: Duration = Duration::from_millis(10);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkStats {
    /// `(from, bits per second)`, first entry at time zero.
    pub rates: Vec<(Duration, u64)>,
    /// Per connection: `(bucket index, bytes clocked out in it)`, buckets ascending.
    pub departed: BTreeMap<ConnId, Vec<(u32, u64)>>,
    /// Queue samples taken every [`BUCKET`] where the queue was not empty:
    /// `(bucket index, bytes waiting per connection)`.
    pub queue_samples: Vec<(u32, Vec<(ConnId, u64)>)>,
}

impl LinkStats {
    pub fn new(rate_bps: u64) -> Self {
        Self { rates: vec![(Duration::ZERO, rate_bps)], ..Self::default() }
    }

    pub fn rate_changed(&mut self, now: Duration, rate_bps: u64) {
        self.rates.push((now, rate_bps));
    }

    pub fn delivered(&mut self, departs: Duration, conn: ConnId, bytes: u64) {
        let bucket = bucket_of(departs);
        let series = self.departed.entry(conn).or_default();
        match series.last_mut() {
            Some((last, total)) if *last == bucket => *total += bytes,
            _ => series.push((bucket, bytes)),
        }
    }

    pub fn sampled(&mut self, bucket: u32, backlog: Vec<(ConnId, u64)>) {
        if !backlog.is_empty() {
            self.queue_samples.push((bucket, backlog));
        }
    }

    /// The rate in force at `at`.
    pub fn rate_at(&self, at: Duration) -> u64 {
        self.rates.iter().rev().find(|(from, _)| *from <= at).map_or(0, |(_, rate)| *rate)
    }

    /// Bits the link could carry in `[from, to)`.
    pub fn capacity_bits(&self, from: Duration, to: Duration) -> f64 {
        let mut bits = 0.0;
        for (index, (start, rate)) in self.rates.iter().enumerate() {
            let end = self.rates.get(index + 1).map_or(to, |(next, _)| (*next).min(to));
            let start = (*start).max(from);
            if end > start {
                bits += (end - start).as_secs_f64() * *rate as f64;
            }
        }
        bits
    }

    /// Bytes clocked out per bucket for the connections `wanted` picks, buckets `0..len`.
    pub fn departed_series(&self, len: usize, wanted: impl Fn(ConnId) -> bool) -> Vec<u64> {
        let mut series = vec![0; len];
        for (conn, buckets) in &self.departed {
            if wanted(*conn) {
                for (bucket, bytes) in buckets {
                    if let Some(slot) = series.get_mut(*bucket as usize) {
                        *slot += bytes;
                    }
                }
            }
        }
        series
    }

    /// Bytes waiting per sampled bucket for the connections `wanted` picks, `0..len`.
    pub fn queued_series(&self, len: usize, wanted: impl Fn(ConnId) -> bool) -> Vec<u64> {
        let mut series = vec![0; len];
        for (bucket, backlog) in &self.queue_samples {
            if let Some(slot) = series.get_mut(*bucket as usize) {
                *slot = backlog.iter().filter(|(conn, _)| wanted(*conn)).map(|(_, b)| b).sum();
            }
        }
        series
    }
}

/// The bucket holding time `at`.
pub fn bucket_of(at: Duration) -> u32 {
    (at.as_nanos() / BUCKET.as_nanos()) as u32
}

/// The start of bucket `bucket`.
pub fn bucket_start(bucket: u32) -> Duration {
    BUCKET * bucket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_follows_rate_changes() {
        let mut stats = LinkStats::new(1000);
        stats.rate_changed(Duration::from_secs(2), 3000);
        let bits = stats.capacity_bits(Duration::from_secs(1), Duration::from_secs(4));
        assert!((bits - (1000.0 + 2.0 * 3000.0)).abs() < 1e-6);
        assert_eq!(stats.rate_at(Duration::from_secs(1)), 1000);
        assert_eq!(stats.rate_at(Duration::from_secs(2)), 3000);
    }

    #[test]
    fn departures_accumulate_per_bucket() {
        let mut stats = LinkStats::new(1000);
        stats.delivered(Duration::from_millis(1), 4, 10);
        stats.delivered(Duration::from_millis(9), 4, 5);
        stats.delivered(Duration::from_millis(25), 4, 7);
        stats.delivered(Duration::from_millis(25), 5, 100);
        assert_eq!(stats.departed_series(4, |conn| conn == 4), vec![15, 0, 7, 0]);
        assert_eq!(stats.departed_series(3, |_| true), vec![15, 0, 107]);
    }
}
