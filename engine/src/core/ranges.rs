//! File ranges (BITS 2.0 `AddFileWithRanges`, spec §3.7): which bytes of a remote file a job
//! wants, the checks made when they are added, and where each byte of the local file comes
//! from once the remote size is known.
//!
//! The local file is the requested ranges concatenated **in the order given**, not sorted:
//! ranges 100-199, 900-999, 400-499 make a 300-byte file whose bytes 100-199 are the remote
//! bytes 900-999. The durable offset of a ranged file is an offset in the local file; the
//! remote offset a transfer resumes at is derived from it ([`FileLayout::segment_at`]).
//! A file added without ranges is one range from 0 to the end of the file.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::defect::{Defect, Defects};
use super::error::{ApiError, TransferError};
use super::hresult::Hresult;

/// `BG_LENGTH_TO_EOF`: as a length, "to the end of the file" (spec §3.7).
pub const LENGTH_TO_EOF: u64 = u64::MAX;

/// At most this many ranges per file. BITS 2.0 has no limit; BITS 3.0's MaxRangesPerFile
/// group policy defaults to 500 (spec §3.7). Every range is kept in the journal, which is
/// rewritten at every checkpoint, so we adopt 3.0's default as a bound.
pub const RANGES_PER_FILE_MAX: usize = 500;

/// `BG_FILE_RANGE`: `length` bytes from `initial_offset`, or to the end of the file when
/// `length` is [`LENGTH_TO_EOF`].
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct FileRange {
    pub initial_offset: u64,
    pub length: u64,
}

impl FileRange {
    pub const fn new(initial_offset: u64, length: u64) -> Self {
        Self { initial_offset, length }
    }

    /// From `initial_offset` to the end of the file.
    pub const fn to_eof(initial_offset: u64) -> Self {
        Self { initial_offset, length: LENGTH_TO_EOF }
    }

    pub const fn is_to_eof(&self) -> bool {
        self.length == LENGTH_TO_EOF
    }

    /// The end (exclusive) of a fixed-length range; `None` for a range to EOF. A length that
    /// overflows `u64` was refused at add time.
    fn end(&self) -> Option<u64> {
        if self.is_to_eof() { None } else { self.initial_offset.checked_add(self.length) }
    }
}

impl fmt::Display for FileRange {
    /// The bitsadmin form: `offset:length` or `offset:eof`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_to_eof() {
            write!(f, "{}:eof", self.initial_offset)
        } else {
            write!(f, "{}:{}", self.initial_offset, self.length)
        }
    }
}

/// Ranges in the bitsadmin form, comma separated: `0:100,2000:100,5000:eof`.
pub fn format_ranges(ranges: &[FileRange]) -> String {
    ranges.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Parses bitsadmin's `/AddFileWithRanges` syntax (spec §3.7): `offset:length` pairs separated
/// by commas, with `eof` as the length to the end of the file. Only the syntax is checked
/// here; [`validate_ranges`] applies the rules of `AddFileWithRanges`.
pub fn parse_ranges(text: &str) -> Result<Vec<FileRange>, String> {
    let number = |part: &str, what: &str, item: &str| {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{item}`: the {what} `{part}` is not a decimal number"));
        }
        part.parse::<u64>().map_err(|_| format!("`{item}`: the {what} `{part}` is too large"))
    };
    if text.trim().is_empty() {
        return Err("no ranges: write `offset:length` pairs, e.g. `0:100,2000:eof`".to_owned());
    }
    text.split(',')
        .map(|item| {
            let (offset, length) = item
                .split_once(':')
                .ok_or_else(|| format!("`{}` is not `offset:length`", item.trim()))?;
            let initial_offset = number(offset, "offset", item.trim())?;
            let length = if length.trim().eq_ignore_ascii_case("eof") {
                LENGTH_TO_EOF
            } else {
                number(length, "length", item.trim())?
            };
            Ok(FileRange { initial_offset, length })
        })
        .collect()
}

/// The checks `AddFileWithRanges` makes (spec §3.7): at least one range (E_INVALIDARG);
/// BG_LENGTH_TO_EOF only as a length, no zero length, no length that overflows the offset
/// (BG_E_INVALID_RANGE); no duplicates or overlaps, judged on the ranges sorted by offset
/// (BG_E_OVERLAPPING_RANGES). More than [`RANGES_PER_FILE_MAX`] ranges is
/// BG_E_TOO_MANY_RANGES_IN_FILE.
///
/// Zero lengths are refused outright, as the documentation of BG_FILE_RANGE says ("do not
/// specify a zero-byte length"); bitsadmin's note that a zero-length range is accepted or
/// refused depending on its order next to another range at the same offset therefore never
/// arises.
pub fn validate_ranges(ranges: &[FileRange]) -> Result<(), ApiError> {
    if ranges.is_empty() {
        return Err(ApiError::invalid_arg("AddFileWithRanges needs at least one range"));
    }
    if ranges.len() > RANGES_PER_FILE_MAX {
        return Err(ApiError::new(
            Hresult::BG_E_TOO_MANY_RANGES_IN_FILE,
            format!("{} ranges; at most {RANGES_PER_FILE_MAX} per file", ranges.len()),
        ));
    }
    for range in ranges {
        let invalid = if range.initial_offset == LENGTH_TO_EOF {
            Some("BG_LENGTH_TO_EOF is a length, not an offset")
        } else if range.length == 0 {
            Some("a range may not be empty")
        } else if !range.is_to_eof() && range.end().is_none() {
            Some("the range ends beyond the largest possible offset")
        } else {
            None
        };
        if let Some(why) = invalid {
            return Err(ApiError::new(
                Hresult::BG_E_INVALID_RANGE,
                format!("range {range}: {why}"),
            ));
        }
    }
    let mut sorted = ranges.to_vec();
    // Stable: ranges at the same offset keep their given order, as BITS compares them.
    sorted.sort_by_key(|range| range.initial_offset);
    for pair in sorted.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        if first.end().is_none_or(|end| end > second.initial_offset) {
            return Err(ApiError::new(
                Hresult::BG_E_OVERLAPPING_RANGES,
                format!("ranges {first} and {second} overlap"),
            ));
        }
    }
    Ok(())
}

/// The job's total for a file (`BG_FILE_PROGRESS.BytesTotal`, spec §2.6): the remote size for
/// a whole file, the sum of the range lengths for a ranged one. Unknown (`None`) until the
/// size is known, except for ranges of fixed lengths, whose sum is known from the start.
pub fn bytes_total(ranges: &[FileRange], size: Option<u64>) -> Option<u64> {
    if ranges.is_empty() {
        return size;
    }
    ranges.iter().try_fold(0u64, |total, range| {
        let length = if range.is_to_eof() {
            size?.saturating_sub(range.initial_offset)
        } else {
            range.length
        };
        Some(total.saturating_add(length))
    })
}

/// Where the bytes of the local file come from, for one remote size: the remote ranges in
/// local order (half-open, never empty).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct FileLayout {
    remote: Vec<Range<u64>>,
    total: u64,
}

/// The rest of one range from a local offset on: fetch `remote`, write it at `local`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Segment {
    pub local: u64,
    pub remote: Range<u64>,
}

impl FileLayout {
    /// Resolves the ranges against the remote size, as BITS does after the HEAD: a range that
    /// is not inside the file (an end past it, or an EOF range starting at or after it) is
    /// BG_E_INVALID_RANGE, fatal ("the requested byte range extends beyond the end of the
    /// web page", spec §3.7). No ranges means the whole file.
    pub fn resolve(
        ranges: &[FileRange],
        size: u64,
        defects: Defects,
    ) -> Result<Self, TransferError> {
        if ranges.is_empty() {
            let whole = std::iter::once(0..size).filter(|range| !range.is_empty());
            let remote = whole.collect();
            return Ok(Self { remote, total: size });
        }
        let mut ordered = ranges.to_vec();
        if defects.contains(Defect::RangesSorted) {
            ordered.sort_by_key(|range| range.initial_offset);
        }
        let mut remote = Vec::with_capacity(ordered.len());
        for range in ordered {
            let end = range.end().unwrap_or(size);
            if range.initial_offset >= size || end > size {
                return Err(TransferError::remote(
                    Hresult::BG_E_INVALID_RANGE,
                    format!(
                        "the requested byte range {range} extends beyond the end of the \
                         {size}-byte remote file"
                    ),
                ));
            }
            remote.push(range.initial_offset..end);
        }
        let total = remote.iter().map(|range| range.end - range.start).sum();
        Ok(Self { remote, total })
    }

    /// Bytes of the local file.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The remote ranges in local order.
    pub fn remote_ranges(&self) -> &[Range<u64>] {
        &self.remote
    }

    /// The remote offset that local offset `local` holds; `None` at or past the end.
    pub fn remote_offset(&self, local: u64) -> Option<u64> {
        self.segment_at(local, Defects::default()).map(|segment| segment.remote.start)
    }

    /// What to fetch next when the local file is durable up to `local`: the rest of the range
    /// holding that byte, which resumes at the exact remote byte (the range's start plus the
    /// bytes of it already written). `None` when the file is complete.
    pub fn segment_at(&self, local: u64, defects: Defects) -> Option<Segment> {
        let mut before = 0u64;
        for range in &self.remote {
            let length = range.end - range.start;
            if local < before + length {
                let done = local - before;
                if defects.contains(Defect::RangeResumeFromStart) {
                    return Some(Segment { local, remote: range.start..range.end - done });
                }
                return Some(Segment { local, remote: range.start + done..range.end });
            }
            before += length;
        }
        None
    }
}

#[cfg(test)]
mod tests;
