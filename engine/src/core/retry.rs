//! What a failed transfer does to its job: retry later, or give up (spec §2.3, §2.4, §2.8).

use std::time::Duration;

use super::error::TransferError;

/// The verdict on one failure.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// TRANSIENT_ERROR until `retry_at`; ERROR at `no_progress_deadline` if nothing moves.
    RetryAt { retry_at: Duration, no_progress_deadline: Duration },
    /// ERROR.
    GiveUp,
}

/// Decides a failure at monotonic time `now`.
///
/// - fatal codes go to ERROR at once;
/// - NoProgressTimeout 0 means "no retries": every error is final;
/// - a retry delay longer than the no-progress timeout could never retry in time, so BITS
///   does not retry at all;
/// - the no-progress clock starts at the first transient error and is not restarted by later
///   ones: only progress (which clears `no_progress_deadline`) does that.
pub fn decide_failure(
    now: Duration,
    error: &TransferError,
    retry_delay: Duration,
    no_progress_timeout: Duration,
    no_progress_deadline: Option<Duration>,
) -> Verdict {
    if !error.is_transient() || no_progress_timeout.is_zero() || retry_delay > no_progress_timeout {
        return Verdict::GiveUp;
    }
    let deadline = no_progress_deadline.unwrap_or(now + no_progress_timeout);
    if now >= deadline {
        return Verdict::GiveUp;
    }
    Verdict::RetryAt { retry_at: now + retry_delay, no_progress_deadline: deadline }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::hresult::Hresult;

    const MINUTE: Duration = Duration::from_secs(60);

    fn transient() -> TransferError {
        TransferError::transport(Hresult::WINHTTP_TIMEOUT, "timed out")
    }

    #[test]
    fn transient_errors_retry_after_the_delay() {
        let verdict = decide_failure(MINUTE, &transient(), 10 * MINUTE, 60 * MINUTE, None);
        assert_eq!(
            verdict,
            Verdict::RetryAt { retry_at: 11 * MINUTE, no_progress_deadline: 61 * MINUTE }
        );
    }

    #[test]
    fn the_no_progress_clock_keeps_its_first_start() {
        let verdict =
            decide_failure(30 * MINUTE, &transient(), 10 * MINUTE, 60 * MINUTE, Some(61 * MINUTE));
        assert_eq!(
            verdict,
            Verdict::RetryAt { retry_at: 40 * MINUTE, no_progress_deadline: 61 * MINUTE }
        );
        let late =
            decide_failure(61 * MINUTE, &transient(), 10 * MINUTE, 60 * MINUTE, Some(61 * MINUTE));
        assert_eq!(late, Verdict::GiveUp);
    }

    #[test]
    fn fatal_errors_and_zero_timeouts_give_up() {
        let fatal = TransferError::remote(Hresult::http_status(404), "gone");
        assert_eq!(decide_failure(MINUTE, &fatal, MINUTE, 60 * MINUTE, None), Verdict::GiveUp);
        assert_eq!(
            decide_failure(MINUTE, &transient(), MINUTE, Duration::ZERO, None),
            Verdict::GiveUp
        );
    }

    #[test]
    fn a_retry_delay_beyond_the_timeout_never_retries() {
        assert_eq!(
            decide_failure(MINUTE, &transient(), 61 * MINUTE, 60 * MINUTE, None),
            Verdict::GiveUp
        );
    }
}
