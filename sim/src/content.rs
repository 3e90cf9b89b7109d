//! Deterministic file content: every byte of every version of every served file is a pure
//! function of (seed, server, path, version, size), so any range can be produced on demand
//! and the oracles can recompute what a downloaded file must contain.

use bitsim_engine::core::journal::fnv64;

/// Identifies one version of one file's content.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ContentKey(pub u64);

impl ContentKey {
    pub fn new(seed: u64, server: &str, path: &str, version: u32, size: u64) -> Self {
        let mut bytes = Vec::with_capacity(server.len() + path.len() + 24);
        bytes.extend_from_slice(&seed.to_le_bytes());
        bytes.extend_from_slice(server.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(path.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&size.to_le_bytes());
        Self(fnv64(&bytes))
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    pub fn fill(self, offset: u64, buf: &mut [u8]) {
        let mut position = offset;
        let mut out = 0;
        while out < buf.len() {
            let block = self.block(position / 8);
            let skip = (position % 8) as usize;
            let take = (8 - skip).min(buf.len() - out);
            buf[out..out + take].copy_from_slice(&block[skip..skip + take]);
            out += take;
            position += take as u64;
        }
    }

    /// FNV-1a of the first `size` bytes: what a correct download hashes to.
    pub fn hash(self, size: u64) -> u64 {
        self.hash_ranges(std::slice::from_ref(&(0..size)))
    }

    /// FNV-1a of the given byte ranges concatenated in the order given: what a correct
    /// download of a ranged file hashes to.
    pub fn hash_ranges(self, ranges: &[std::ops::Range<u64>]) -> u64 {
        /// Generate in pieces so a 100 MB file never sits in memory twice.
        const PIECE: usize = 1 << 16;
        let mut hasher = Fnv64::default();
        let mut buf = vec![0; PIECE];
        for range in ranges {
            let mut offset = range.start;
            while offset < range.end {
                let len = PIECE.min((range.end - offset) as usize);
                self.fill(offset, &mut buf[..len]);
                hasher.write(&buf[..len]);
                offset += len as u64;
            }
        }
        hasher.finish()
    }

    /// SplitMix64 of the key and block index: fast, and every block independent.
    fn block(self, index: u64) -> [u8; 8] {
        let mut z = self.0 ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }
}

/// Streaming FNV-1a 64, equal to `fnv64` of the concatenated input.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_matches_the_whole() {
        let key = ContentKey::new(7, "origin", "/a", 0, 100);
        let mut whole = vec![0; 100];
        key.fill(0, &mut whole);
        for start in [0, 1, 7, 8, 9, 63] {
            let mut part = vec![0; 100 - start];
            key.fill(start as u64, &mut part);
            assert_eq!(part, whole[start..], "from {start}");
        }
    }

    #[test]
    fn hashes_match_the_generated_bytes() {
        let key = ContentKey::new(1, "origin", "/a", 0, 200_000);
        let mut bytes = vec![0; 200_000];
        key.fill(0, &mut bytes);
        assert_eq!(key.hash(200_000), fnv64(&bytes));
    }

    #[test]
    fn ranges_hash_as_their_bytes_in_the_order_given() {
        let key = ContentKey::new(3, "origin", "/a", 0, 1000);
        let mut whole = vec![0; 1000];
        key.fill(0, &mut whole);
        let mut wanted = whole[900..1000].to_vec();
        wanted.extend_from_slice(&whole[100..200]);
        assert_eq!(key.hash_ranges(&[900..1000, 100..200]), fnv64(&wanted));
        assert_ne!(key.hash_ranges(&[100..200, 900..1000]), fnv64(&wanted));
    }

    #[test]
    fn every_input_changes_the_content() {
        let base = ContentKey::new(1, "origin", "/a", 0, 10);
        for other in [
            ContentKey::new(2, "origin", "/a", 0, 10),
            ContentKey::new(1, "mirror", "/a", 0, 10),
            ContentKey::new(1, "origin", "/b", 0, 10),
            ContentKey::new(1, "origin", "/a", 1, 10),
            ContentKey::new(1, "origin", "/a", 0, 11),
        ] {
            assert_ne!(base.hash(10), other.hash(10));
        }
    }
}
