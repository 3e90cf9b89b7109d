//! Deliberate engine bugs, for proving that the simulator's oracles catch them.
//!
//! Without the `defects` feature the set is always empty and every check compiles to `false`,
//! so a release build cannot be talked into misbehaving. Tests enable the feature and switch
//! one defect on per run (FoundationDB's BUGGIFY idea, but opt-in and named).

/// One known way to break exact-offset resume.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Defect {
    /// Resume one byte after the durable offset: the byte at the offset is never fetched.
    ResumeOneByteLate,
    /// Write the journal without first syncing the data it vouches for.
    SkipDataSync,
    /// Ask for one byte past the end of the file, as BITS 2.0 did (the SMS 2003 issue).
    RangeOnePastEof,
}

impl Defect {
    pub const ALL: [Self; 3] = [Self::ResumeOneByteLate, Self::SkipDataSync, Self::RangeOnePastEof];

    #[cfg(feature = "defects")]
    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The kebab-case name used on command lines and in scenario files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ResumeOneByteLate => "resume-one-byte-late",
            Self::SkipDataSync => "skip-data-sync",
            Self::RangeOnePastEof => "range-one-past-eof",
        }
    }
}

/// The set of defects switched on for one engine; empty unless built with `defects`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Defects {
    #[cfg(feature = "defects")]
    set: u8,
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
