//! Deliberate engine bugs, for proving that the simulator's oracles catch them.
//!
//! Without the `defects` feature the set is always empty and every check compiles to `false`,
//! so a release build cannot be talked into misbehaving. Tests enable the feature and switch
//! one defect on per run (FoundationDB's BUGGIFY idea, but opt-in and named).

/// One known way to break the engine, each caught by a named oracle.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Defect {
    /// Resume one byte after the durable offset: the byte at the offset is never fetched.
    ResumeOneByteLate,
    /// Write the journal without first syncing the data it vouches for.
    SkipDataSync,
    /// Ask for one byte past the end of the file, as BITS 2.0 did (the SMS 2003 issue).
    RangeOnePastEof,
    /// Read background transfers at full speed whatever the policy's limit.
    IgnoreBandwidthPolicy,
    /// Never slow background transfers for other traffic (the delay controller is off).
    BackgroundGreedy,
    /// Never preempt a running background job for a higher priority.
    NoPreemption,
    /// Never end a background job's time slice.
    NoTimeSlice,
    /// Sends the job's server credentials to whatever host a redirect leads to.
    CredentialsAcrossRedirect,
    /// Lets jobs of different owners share a connection (and what it authenticated as).
    SharedConnections,
    /// Lets any user act on and list any user's jobs.
    NoOwnerCheck,
    /// Keeps a file's progress after SetRemoteName whatever the new source's version.
    KeepProgressOnNewSource,
    /// Writes a ranged file's ranges in offset order instead of the order given.
    RangesSorted,
    /// Resumes inside a range from the range's first byte, writing it at the durable offset.
    RangeResumeFromStart,
    /// Ignores the upload server's BITS-Received-Content-Range: after every fragment's Ack
    /// (even a 416) it goes on after the bytes it sent.
    UploadSkipReceivedRange,
    /// Calls JobError for TRANSIENT_ERROR too, which BITS never does (spec §2.9).
    JobErrorOnTransient,
}

impl Defect {
    pub const ALL: [Self; 15] = [
        Self::ResumeOneByteLate,
        Self::SkipDataSync,
        Self::RangeOnePastEof,
        Self::IgnoreBandwidthPolicy,
        Self::BackgroundGreedy,
        Self::NoPreemption,
        Self::NoTimeSlice,
        Self::CredentialsAcrossRedirect,
        Self::SharedConnections,
        Self::NoOwnerCheck,
        Self::KeepProgressOnNewSource,
        Self::RangesSorted,
        Self::RangeResumeFromStart,
        Self::UploadSkipReceivedRange,
        Self::JobErrorOnTransient,
    ];

    #[cfg(feature = "defects")]
    const fn bit(self) -> u16 {
        1 << self as u8
    }

    /// The kebab-case name used on command lines and in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ResumeOneByteLate => "resume-one-byte-late",
            Self::SkipDataSync => "skip-data-sync",
            Self::RangeOnePastEof => "range-one-past-eof",
            Self::IgnoreBandwidthPolicy => "ignore-bandwidth-policy",
            Self::BackgroundGreedy => "background-greedy",
            Self::NoPreemption => "no-preemption",
            Self::NoTimeSlice => "no-time-slice",
            Self::CredentialsAcrossRedirect => "credentials-across-redirect",
            Self::SharedConnections => "shared-connections",
            Self::NoOwnerCheck => "no-owner-check",
            Self::KeepProgressOnNewSource => "keep-progress-on-new-source",
            Self::RangesSorted => "ranges-sorted",
            Self::RangeResumeFromStart => "range-resume-from-start",
            Self::UploadSkipReceivedRange => "upload-skip-received-range",
            Self::JobErrorOnTransient => "job-error-on-transient",
        }
    }
}

/// The set of defects switched on for one engine; empty unless built with `defects`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Defects {
    #[cfg(feature = "defects")]
    set: u16,
}

impl Defects {
    /// Whether `defect` is switched on.
    #[inline]
    pub fn contains(self, defect: Defect) -> bool {
        #[cfg(feature = "defects")]
        {
            self.set & defect.bit() != 0
        }
        #[cfg(not(feature = "defects"))]
        {
            let _ = defect;
            false
        }
    }

    /// This set plus `defect`.
    #[cfg(feature = "defects")]
    pub fn with(self, defect: Defect) -> Self {
        Self { set: self.set | defect.bit() }
    }
}
