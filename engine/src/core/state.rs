//! Job states, priorities and types with their BITS names and values (spec §2.1-§2.3, §2.7).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `BG_JOB_STATE`: where a job is in its life cycle. Values are the BITS enum values.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Queued = 0,
    Connecting = 1,
    Transferring = 2,
    Suspended = 3,
    Error = 4,
    TransientError = 5,
    Transferred = 6,
    Acknowledged = 7,
    Cancelled = 8,
}

impl JobState {
    pub const ALL: [Self; 9] = [
        Self::Queued,
        Self::Connecting,
        Self::Transferring,
        Self::Suspended,
        Self::Error,
        Self::TransientError,
        Self::Transferred,
        Self::Acknowledged,
        Self::Cancelled,
    ];

    /// The BITS name without the `BG_JOB_STATE_` prefix, e.g. `TRANSIENT_ERROR`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Connecting => "CONNECTING",
            Self::Transferring => "TRANSFERRING",
            Self::Suspended => "SUSPENDED",
            Self::Error => "ERROR",
            Self::TransientError => "TRANSIENT_ERROR",
            Self::Transferred => "TRANSFERRED",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// ACKNOWLEDGED and CANCELLED: the job is gone from the queue and never changes again.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Acknowledged | Self::Cancelled)
    }

    /// CONNECTING or TRANSFERRING: a transfer is running for the job right now.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Connecting | Self::Transferring)
    }

    /// The state a job in this state is restored to when the engine starts: the queue keeps
    /// no transfer running across a restart, so active jobs wait in QUEUED again.
    pub const fn restored(self) -> Self {
        match self {
            Self::Connecting | Self::Transferring => Self::Queued,
            other => other,
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for JobState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().trim_start_matches("BG_JOB_STATE_");
        Self::ALL
            .into_iter()
            .find(|state| state.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| format!("`{text}` is not a BITS job state"))
    }
}

/// What caused a state change; the legality of a transition depends on it (spec §2.3).
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Resume,
    Suspend,
    Cancel,
    Complete,
    /// The scheduler gave the job its turn.
    Schedule,
    /// The connection to the server works and the first response arrived.
    Connect,
    /// A transfer failed with a transient error.
    TransientFailure,
    /// A transfer failed with a fatal error, or the no-progress timeout expired.
    FatalFailure,
    /// MinimumRetryDelay elapsed.
    RetryTimer,
    /// Every file of the job is transferred.
    AllFilesTransferred,
    /// The background job's time slice ended and an equal-priority job takes its turn.
    TimeSlice,
    /// A higher-priority background job took the background slot.
    Preempt,
    /// The bandwidth policy blocks background transfers (limit 0) in the current window.
    PolicyBlocked,
    /// The window that blocked background transfers ended.
    PolicyUnblocked,
    /// The machine lost its network: jobs that want to transfer wait for it, with no timed
    /// retry (spec §2.3, BG_E_NETWORK_DISCONNECTED).
    NetworkLost,
    /// The network is back: every job in TRANSIENT_ERROR, whatever its error, is QUEUED.
    NetworkRestored,
    /// No activity (progress or a change by its owner) for the job inactivity timeout: the
    /// service cancels the job (spec §2.3, §2.4).
    InactivityTimeout,
}

/// Whether BITS allows `from -> to` for `trigger` (spec §2.3, the transition table).
pub fn is_legal_transition(from: JobState, to: JobState, trigger: Trigger) -> bool {
    use JobState::*;
    if from.is_final() {
        return false;
    }
    match trigger {
        Trigger::Resume => {
            matches!((from, to), (Suspended | Error | TransientError | Transferred, Queued))
        }
        Trigger::Suspend => to == Suspended && from != Suspended,
        Trigger::Cancel => to == Cancelled,
        Trigger::Complete => to == Acknowledged,
        Trigger::Schedule => from == Queued && to == Connecting,
        Trigger::Connect => from == Connecting && to == Transferring,
        Trigger::TransientFailure => from.is_active() && to == TransientError,
        Trigger::FatalFailure => {
            matches!(from, Queued | Connecting | Transferring | TransientError) && to == Error
        }
        Trigger::RetryTimer => from == TransientError && to == Queued,
        Trigger::AllFilesTransferred => from == Transferring && to == Transferred,
        Trigger::TimeSlice | Trigger::Preempt => from.is_active() && to == Queued,
        Trigger::PolicyBlocked => {
            matches!(from, Queued | Connecting | Transferring) && to == TransientError
        }
        Trigger::PolicyUnblocked => from == TransientError && to == Queued,
        Trigger::NetworkLost => {
            matches!(from, Queued | Connecting | Transferring) && to == TransientError
        }
        Trigger::NetworkRestored => from == TransientError && to == Queued,
        Trigger::InactivityTimeout => to == Cancelled,
    }
}

/// `BG_JOB_PRIORITY`. Lower values run first; only FOREGROUND is not a background priority.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Foreground = 0,
    High = 1,
    #[default]
    Normal = 2,
    Low = 3,
}

impl Priority {
    pub const fn is_background(self) -> bool {
        !matches!(self, Self::Foreground)
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Foreground => "FOREGROUND",
            Self::High => "HIGH",
            Self::Normal => "NORMAL",
            Self::Low => "LOW",
        }
    }
}

/// `BG_JOB_TYPE` (spec §2.1).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobType {
    #[default]
    Download = 0,
    /// One file, sent with the BITS Upload Protocol (spec §8).
    Upload = 1,
    /// One file sent; the server application's reply is downloaded before TRANSFERRED.
    UploadReply = 2,
}

impl JobType {
    pub const fn is_upload(self) -> bool {
        !matches!(self, Self::Download)
    }
}

#[cfg(test)]
mod tests {
    use super::JobState::*;
    use super::*;

    #[test]
    fn the_happy_path_is_legal() {
        let path = [
            (Suspended, Queued, Trigger::Resume),
            (Queued, Connecting, Trigger::Schedule),
            (Connecting, Transferring, Trigger::Connect),
            (Transferring, Transferred, Trigger::AllFilesTransferred),
            (Transferred, Acknowledged, Trigger::Complete),
        ];
        for (from, to, trigger) in path {
            assert!(is_legal_transition(from, to, trigger), "{from} -> {to}");
        }
    }

    #[test]
    fn final_states_never_change() {
        for from in [Acknowledged, Cancelled] {
            for to in JobState::ALL {
                for trigger in [Trigger::Resume, Trigger::Cancel, Trigger::Suspend] {
                    assert!(!is_legal_transition(from, to, trigger));
                }
            }
        }
    }

    #[test]
    fn shortcuts_the_spec_does_not_allow_are_illegal() {
        assert!(!is_legal_transition(Suspended, Transferring, Trigger::Schedule));
        assert!(!is_legal_transition(Queued, Transferred, Trigger::AllFilesTransferred));
        assert!(!is_legal_transition(TransientError, Transferring, Trigger::Connect));
        assert!(!is_legal_transition(Queued, TransientError, Trigger::TransientFailure));
        assert!(!is_legal_transition(Suspended, Suspended, Trigger::Suspend));
    }

    #[test]
    fn network_loss_and_return_follow_the_table() {
        for from in [Queued, Connecting, Transferring] {
            assert!(is_legal_transition(from, TransientError, Trigger::NetworkLost));
        }
        for from in [Suspended, Error, TransientError, Transferred] {
            assert!(!is_legal_transition(from, TransientError, Trigger::NetworkLost));
        }
        assert!(is_legal_transition(TransientError, Queued, Trigger::NetworkRestored));
        assert!(!is_legal_transition(Error, Queued, Trigger::NetworkRestored));
        for from in JobState::ALL {
            let legal = is_legal_transition(from, Cancelled, Trigger::InactivityTimeout);
            assert_eq!(legal, !from.is_final(), "{from}");
        }
    }

    #[test]
    fn states_parse_with_or_without_prefix() {
        assert_eq!("BG_JOB_STATE_ERROR".parse(), Ok(Error));
        assert_eq!("transient_error".parse(), Ok(TransientError));
        assert!("DONE".parse::<JobState>().is_err());
    }

    #[test]
    fn restored_states_never_claim_a_running_transfer() {
        for state in JobState::ALL {
            assert!(!state.restored().is_active());
        }
    }
}
