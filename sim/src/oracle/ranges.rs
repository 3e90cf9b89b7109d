//! File ranges in the oracles. What a ranged file must hold and where each of its GETs must
//! start follow from what the client program asked for (the scenario's `ranges`, joined to the
//! engine's job ids by job name) and the size the server served, never from the engine's own
//! account. The resolution of ranges against a size is written out again here on purpose: an
//! oracle that called the engine's `FileLayout` could not catch a mistake in it.

use std::collections::BTreeMap;
use std::ops::Range;

use bitsim_engine::{FileRange, JobId};

use crate::book::JobBook;
use crate::scenario::Scenario;

/// The ranges each ranged job file was added with, in the order given.
pub(super) struct RequestedRanges(BTreeMap<(JobId, usize), Vec<FileRange>>);

impl RequestedRanges {
    pub(super) fn new(scenario: &Scenario, book: &JobBook) -> Self {
        let mut ranged = BTreeMap::new();
        for spec in scenario.jobs.iter().map(|job| job.get_ref()) {
            let Some((id, _)) = book.job(&spec.name) else { continue };
            for (index, file) in spec.files.iter().enumerate() {
                if let Some(ranges) = &file.ranges {
                    ranged.insert((id, index), ranges.0.clone());
                }
            }
        }
        Self(ranged)
    }

    /// The ranges of a job file; `None` for a whole file.
    pub(super) fn of(&self, file: (JobId, usize)) -> Option<&[FileRange]> {
        self.0.get(&file).map(Vec::as_slice)
    }
}

/// The remote bytes a ranged file of a `size`-byte version holds, in local order; `None` when
/// a range does not lie inside the file (then no correct transfer completes).
pub(super) fn remote_ranges(ranges: &[FileRange], size: u64) -> Option<Vec<Range<u64>>> {
    ranges
        .iter()
        .map(|range| {
            let start = range.initial_offset;
            let end = if range.length == bitsim_engine::LENGTH_TO_EOF {
                size
            } else {
                start.checked_add(range.length)?
            };
            (start < size && end <= size).then_some(start..end)
        })
        .collect()
}

/// The remote byte held at local offset `local`; `None` at or past the local end.
pub(super) fn remote_offset(remote: &[Range<u64>], local: u64) -> Option<u64> {
    let mut before = 0;
    for range in remote {
        let length = range.end - range.start;
        if local < before + length {
            return Some(range.start + (local - before));
        }
        before += length;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_in_the_order_given() {
        let ranges = [FileRange::new(100, 100), FileRange::new(900, 100), FileRange::to_eof(400)];
        let remote = remote_ranges(&ranges, 1000).unwrap();
        assert_eq!(remote, vec![100..200, 900..1000, 400..1000]);
        assert_eq!(remote_offset(&remote, 0), Some(100));
        assert_eq!(remote_offset(&remote, 150), Some(950));
        assert_eq!(remote_offset(&remote, 200), Some(400));
        assert_eq!(remote_offset(&remote, 800), None);
        assert_eq!(remote_ranges(&ranges, 999), None, "900-999 is past the end of 999 bytes");
        assert_eq!(remote_ranges(&[FileRange::to_eof(10)], 10), None);
    }
}
