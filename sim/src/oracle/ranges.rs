//! File ranges in the oracles. What a ranged file must hold and where each of its GETs must
//! start follow from what the client program asked for (the scenario's `ranges`, joined to the
//! engine's job ids by job name) and the size the server served, never from the engine's own
//! account. The resolution of ranges against a size is written out again here on purpose: an
//! oracle that called the engine's `FileLayout` could not catch a mistake in it.

use std::collections::BTreeMap;
use std::ops::Range;

use bitsim_engine::core::ranges::format_ranges;
use bitsim_engine::{FileRange, JobId};

use crate::book::JobBook;
use crate::content::ContentKey;
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

/// What is wrong with a completed ranged file read back as `(local, len, hash)`, if anything,
/// given the version the server served last: `(key, version, size, url)`.
pub(super) fn check_ranged_file(
    ranges: &[FileRange],
    (key, version, size, url): (ContentKey, u32, u64, &str),
    (local, len, hash): (&str, u64, &str),
) -> Option<String> {
    let shown = format_ranges(ranges);
    let Some(remote) = remote_ranges(ranges, size) else {
        return Some(format!(
            "{local} was completed, but ranges {shown} do not fit version {version} of {url} ({size} bytes)"
        ));
    };
    let want_len: u64 = remote.iter().map(|range| range.end - range.start).sum();
    let want = format!("{:016x}", key.hash_ranges(&remote));
    (len != want_len || hash != want).then(|| {
        format!(
            "{local} has {len} bytes hashing to {hash}; ranges {shown} of version {version} of {url} are {want_len} bytes hashing to {want}"
        )
    })
}

/// What is wrong with a GET of a ranged file that starts at remote byte `start` while the
/// file is durable to local offset `local`, if anything. `sizes`: the size served with the
/// GET and the size of the last HEAD (the engine maps through the one it knew).
pub(super) fn check_ranged_get(
    ranges: &[FileRange],
    sizes: [Option<u64>; 2],
    local: u64,
    start: u64,
) -> Option<String> {
    let wanted: Vec<u64> = sizes
        .into_iter()
        .flatten()
        .filter_map(|size| remote_ranges(ranges, size))
        .filter_map(|remote| remote_offset(&remote, local))
        .collect();
    if wanted.contains(&start) {
        return None;
    }
    let maps = wanted.first().map_or_else(
        || "which is past the end of the ranges".to_owned(),
        |remote| format!("which holds remote byte {remote}"),
    );
    Some(format!(
        "from byte {start}, but the durable local offset was {local}, {maps} (ranges {})",
        format_ranges(ranges)
    ))
}

#[cfg(test)]
mod tests;
