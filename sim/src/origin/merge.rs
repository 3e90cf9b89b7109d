//! The `merges-ranges` server: how servers that merge or coalesce ranges answer a ranged GET.
//! Some servers (and caches in front of them) serve whole blocks, so the Content-Range covers
//! more than was asked; others answer in multipart/byteranges even for one range, as they do
//! for the merged ranges of a multi-range request. BITS treats both as a protocol violation:
//! BG_E_INVALID_SERVER_RESPONSE (spec §3.3, §3.7).

use bytes::Bytes;

/// The block such a server works in: a common disk and cache block.
pub(super) const MERGE_BLOCK_BYTES: u64 = 4096;

/// The multipart boundary (RFC 9110 §14.6); any token not in the content would do.
pub(super) const BOUNDARY: &str = "bitsim-merged-ranges";

/// How a merging server answers `bytes=first-last` of a `size`-byte file.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(super) enum Merged {
    /// A single 206 for the enclosing whole blocks `first..=last`.
    Widened { first: u64, last: u64 },
    /// The asked range is whole blocks already: a 206 in multipart/byteranges with one part.
    Multipart,
}

/// `first..=last` lies inside the file (`last < size`).
pub(super) fn merge(first: u64, last: u64, size: u64) -> Merged {
    let wide_first = first / MERGE_BLOCK_BYTES * MERGE_BLOCK_BYTES;
    let wide_last = ((last / MERGE_BLOCK_BYTES + 1) * MERGE_BLOCK_BYTES - 1).min(size - 1);
    if (wide_first, wide_last) == (first, last) {
        Merged::Multipart
    } else {
        Merged::Widened { first: wide_first, last: wide_last }
    }
}

/// The bytes before and after the one part's content of a multipart/byteranges body
/// (RFC 9110 §14.6).
pub(super) fn multipart_framing(first: u64, last: u64, size: u64) -> (Bytes, Bytes) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n\
         Content-Range: bytes {first}-{last}/{size}\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    (Bytes::from(head), Bytes::from(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_ranges_are_widened_to_whole_blocks_within_the_file() {
        assert_eq!(merge(100, 1099, 100_000), Merged::Widened { first: 0, last: 4095 });
        assert_eq!(merge(5000, 5099, 100_000), Merged::Widened { first: 4096, last: 8191 });
        assert_eq!(merge(5000, 9999, 9000 + 1000), Merged::Widened { first: 4096, last: 9999 });
    }

    #[test]
    fn aligned_ranges_come_back_as_multipart() {
        assert_eq!(merge(4096, 8191, 100_000), Merged::Multipart);
        assert_eq!(merge(0, 99, 100), Merged::Multipart, "the whole file's last block");
        let (head, tail) = multipart_framing(4096, 8191, 100_000);
        let head = String::from_utf8(head.to_vec()).unwrap();
        assert!(head.starts_with("--bitsim-merged-ranges\r\n"));
        assert!(head.contains("Content-Range: bytes 4096-8191/100000\r\n\r\n"));
        assert_eq!(&tail[..], b"\r\n--bitsim-merged-ranges--\r\n");
    }
}
