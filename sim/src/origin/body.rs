//! Response bodies: deterministic content from the seed, optionally paced to a byte rate on
//! simulated time.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::content::ContentKey;

/// Unpaced bodies go out in pieces of this size (one turmoil segment each).
const CHUNK_UNPACED: usize = 64 << 10;
/// A paced body sends one piece per this much time, so pacing stays smooth at any rate.
const PACE_INTERVAL: Duration = Duration::from_millis(10);
/// Paced pieces are never smaller than an Ethernet-sized segment.
const CHUNK_PACED_MIN: usize = 1460;

/// A response body of deterministic content, optionally paced to a byte rate.
pub struct ContentBody {
    key: ContentKey,
    position: u64,
    end: u64,
    sized: bool,
    pace: Option<Pace>,
    /// Bytes sent before and after the content (a multipart part's framing), unpaced.
    before: Option<Bytes>,
    after: Option<Bytes>,
}

struct Pace {
    bytes_per_sec: f64,
    chunk: usize,
    /// When the first byte was due; set at the first poll.
    started: Option<Duration>,
    sent: u64,
    sleep: crate::clock::Sleep,
}

impl ContentBody {
    pub(super) fn new(
        key: ContentKey,
        start: u64,
        end: u64,
        bytes_per_sec: Option<f64>,
        sized: bool,
    ) -> Self {
        let pace = bytes_per_sec.map(|rate| Pace {
            bytes_per_sec: rate,
            chunk: ((rate * PACE_INTERVAL.as_secs_f64()) as usize)
                .clamp(CHUNK_PACED_MIN, CHUNK_UNPACED),
            started: None,
            sent: 0,
            sleep: crate::clock::sleep_until(Duration::ZERO),
        });
        Self { key, position: start, end, sized, pace, before: None, after: None }
    }

    /// Wraps the content in `before` and `after` (a multipart/byteranges part).
    pub(super) fn framed(mut self, before: Bytes, after: Bytes) -> Self {
        self.before = Some(before);
        self.after = Some(after);
        self
    }

    fn framing_len(&self) -> u64 {
        [&self.before, &self.after]
            .iter()
            .filter_map(|bytes| bytes.as_ref())
            .map(|b| b.len() as u64)
            .sum()
    }
}

impl Body for ContentBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(before) = this.before.take() {
            return Poll::Ready(Some(Ok(Frame::data(before))));
        }
        if this.position >= this.end {
            return Poll::Ready(this.after.take().map(|after| Ok(Frame::data(after))));
        }
        let chunk = this.pace.as_ref().map_or(CHUNK_UNPACED, |pace| pace.chunk);
        let len = chunk.min((this.end - this.position) as usize);
        if let Some(pace) = &mut this.pace {
            // Piece k may leave once the bytes up to its end fit the rate: exact on average.
            let started = *pace.started.get_or_insert_with(crate::clock::now);
            let due = started
                + Duration::from_secs_f64((pace.sent + len as u64) as f64 / pace.bytes_per_sec);
            if crate::clock::now() < due {
                pace.sleep.reset(due);
                if Pin::new(&mut pace.sleep).poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            pace.sent += len as u64;
        }
        let mut bytes = vec![0; len];
        this.key.fill(this.position, &mut bytes);
        this.position += len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(bytes)))))
    }

    fn is_end_stream(&self) -> bool {
        self.position >= self.end && self.before.is_none() && self.after.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.sized {
            SizeHint::with_exact(self.end - self.position + self.framing_len())
        } else {
            SizeHint::default()
        }
    }
}
