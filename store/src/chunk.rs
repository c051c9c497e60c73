//! Chunks: zstd frames of MessagePack events, each decodable on its own.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::msgpack::value_len;

// The zstd framing lives in `epochd-codec`, so that the decoder can read
// chunks without the whole store; re-exported here (and from the crate
// root) from the paths it always had.
pub use epochd_codec::{compress, decompress, MAX_RAW_CHUNK_BYTES};

/// Splits raw chunk bytes into its events (each one MessagePack value).
pub fn split_events(raw: &[u8]) -> impl Iterator<Item = Result<&[u8], String>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= raw.len() {
            return None;
        }
        match value_len(&raw[pos..]) {
            Ok(len) => {
                let event = &raw[pos..pos + len];
                pos += len;
                Some(Ok(event))
            }
            Err(e) => {
                pos = raw.len();
                Some(Err(e.to_string()))
            }
        }
    })
}

/// xxh3-64 of a chunk's stored (compressed) bytes, written as 16 hex digits.
/// Relocators compute it with any xxHash library.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum(pub u64);

impl Checksum {
    /// The checksum of `blob`.
    pub fn of(blob: &[u8]) -> Checksum {
        Checksum(xxhash_rust::xxh3::xxh3_64(blob))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

impl FromStr for Checksum {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(format!("checksum {s:?} must be 16 hex digits (xxh3-64)"));
        }
        u64::from_str_radix(s, 16)
            .map(Checksum)
            .map_err(|_| format!("checksum {s:?} must be 16 hex digits (xxh3-64)"))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Round trips and refusals of the framing itself are tested in
    // `epochd-codec`; here, that a decompressed chunk splits into its events.
    #[test]
    fn a_decompressed_chunk_splits_into_its_events() {
        let mut raw = Vec::new();
        for i in 0..100u32 {
            raw.extend(
                rmp_serde::to_vec(&serde_json::json!({"i": i, "timestamp": 1, "type": "A"}))
                    .unwrap(),
            );
        }
        let blob = compress(&raw, 3);
        let back = decompress(&blob).unwrap();
        assert_eq!(back, raw);
        assert_eq!(split_events(&back).count(), 100);
    }

    #[test]
    fn checksums_print_and_parse_as_hex() {
        let c = Checksum::of(b"abc");
        assert_eq!(c.to_string().parse::<Checksum>().unwrap(), c);
        assert!("xyz".parse::<Checksum>().is_err());
    }
}
