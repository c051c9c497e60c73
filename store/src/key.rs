//! Keys of the store's trees.
//!
//! Every key starts with the epoch as a big-endian `u64`, so a range scan over
//! any tree walks time in order and retention can delete a prefix. Names (dc,
//! type, subtype) are validated to a small alphabet without `0x00`, which lets
//! us use `0x00` as the separator and keep lexicographic order meaningful.

use std::fmt;

use crate::error::NameError;

/// Longest accepted data-center name, in bytes.
pub const MAX_DC_LEN: usize = 32;
/// Longest accepted type or subtype name, in bytes.
pub const MAX_TYPE_LEN: usize = 64;
/// How a missing subtype is spelled in text keys (URLs, logs). A real subtype
/// can never be `-`: names must start with a letter, digit or `_`.
pub const NO_SUBTYPE: &str = "-";

/// Checks a data-center name: lowercase ASCII letter first, then lowercase
/// letters, digits, `_` or `-`, at most [`MAX_DC_LEN`] bytes (e.g. `ams4`).
pub fn validate_dc(dc: &str) -> Result<(), NameError> {
    let ok_first = dc
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_lowercase());
    let ok_rest = dc
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if dc.is_empty() || dc.len() > MAX_DC_LEN || !ok_first || !ok_rest {
        return Err(NameError::Dc(dc.to_owned()));
    }
    Ok(())
}

/// Checks an event type or subtype name: ASCII letters, digits, `_`, `.`, `:`
/// or `-`, starting with a letter, digit or `_`, at most [`MAX_TYPE_LEN`] bytes.
pub fn validate_type(field: &'static str, name: &str) -> Result<(), NameError> {
    let ok_first = name
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let ok_rest = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if name.is_empty() || name.len() > MAX_TYPE_LEN || !ok_first || !ok_rest {
        return Err(NameError::Type {
            field,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// The key of one stored chunk: `epoch / dc / type / subtype / chunk number`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    /// Unix second the chunk's events belong to.
    pub epoch: u64,
    /// Data center of the events.
    pub dc: String,
    /// Event type (`WEB`, `AV`, ...).
    pub event_type: String,
    /// Event subtype; `None` when the events carry none.
    pub subtype: Option<String>,
    /// Chunk number, unique within (epoch, dc, type, subtype).
    pub chunk: u32,
}

impl ChunkKey {
    /// Checks every name in the key.
    pub fn validate(&self) -> Result<(), NameError> {
        validate_dc(&self.dc)?;
        validate_type("type", &self.event_type)?;
        if let Some(subtype) = &self.subtype {
            validate_type("subtype", subtype)?;
        }
        Ok(())
    }

    /// The binary key in the `chunks` tree.
    pub fn encode(&self) -> Vec<u8> {
        let mut key = lane_prefix(
            self.epoch,
            &self.dc,
            &self.event_type,
            self.subtype.as_deref(),
        );
        key.extend_from_slice(&self.chunk.to_be_bytes());
        key
    }

    /// Parses a binary key of the `chunks` tree.
    pub fn decode(bytes: &[u8]) -> Option<ChunkKey> {
        let (epoch, rest) = split_epoch(bytes)?;
        let mut parts = rest.splitn(4, |b| *b == 0);
        let dc = std::str::from_utf8(parts.next()?).ok()?;
        let event_type = std::str::from_utf8(parts.next()?).ok()?;
        let subtype = std::str::from_utf8(parts.next()?).ok()?;
        let chunk: [u8; 4] = parts.next()?.try_into().ok()?;
        Some(ChunkKey {
            epoch,
            dc: dc.to_owned(),
            event_type: event_type.to_owned(),
            subtype: (!subtype.is_empty()).then(|| subtype.to_owned()),
            chunk: u32::from_be_bytes(chunk),
        })
    }

    /// Parses the text form `epoch/dc/type/subtype/chunk` (subtype `-` = none),
    /// as used in URLs.
    pub fn parse(text: &str) -> Result<ChunkKey, NameError> {
        let bad = || NameError::ChunkKey(text.to_owned());
        let parts: Vec<&str> = text.split('/').collect();
        let [epoch, dc, event_type, subtype, chunk] = parts[..] else {
            return Err(bad());
        };
        let key = ChunkKey {
            epoch: epoch.parse().map_err(|_| bad())?,
            dc: dc.to_owned(),
            event_type: event_type.to_owned(),
            subtype: (subtype != NO_SUBTYPE).then(|| subtype.to_owned()),
            chunk: chunk.parse().map_err(|_| bad())?,
        };
        key.validate()?;
        Ok(key)
    }
}

impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}",
            self.epoch,
            self.dc,
            self.event_type,
            self.subtype.as_deref().unwrap_or(NO_SUBTYPE),
            self.chunk
        )
    }
}

/// Prefix of every chunk key of one (epoch, dc, type, subtype) lane.
pub fn lane_prefix(epoch: u64, dc: &str, event_type: &str, subtype: Option<&str>) -> Vec<u8> {
    let subtype = subtype.unwrap_or("");
    let mut key = Vec::with_capacity(8 + dc.len() + event_type.len() + subtype.len() + 7);
    key.extend_from_slice(&epoch.to_be_bytes());
    key.extend_from_slice(dc.as_bytes());
    key.push(0);
    key.extend_from_slice(event_type.as_bytes());
    key.push(0);
    key.extend_from_slice(subtype.as_bytes());
    key.push(0);
    key
}

/// Prefix of every key of one (epoch, dc): chunks, manifests and marks.
pub fn epoch_dc_prefix(epoch: u64, dc: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + dc.len());
    key.extend_from_slice(&epoch.to_be_bytes());
    key.extend_from_slice(dc.as_bytes());
    key.push(0);
    key
}

/// The key of one commit's manifest: `epoch / dc / seq`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestKey {
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 for the epoch's primary commit, 1.. for supplementary commits.
    pub seq: u32,
}

impl ManifestKey {
    /// The binary key in the `manifests` tree.
    pub fn encode(&self) -> Vec<u8> {
        let mut key = epoch_dc_prefix(self.epoch, &self.dc);
        key.extend_from_slice(&self.seq.to_be_bytes());
        key
    }

    /// Parses a binary key of the `manifests` tree.
    pub fn decode(bytes: &[u8]) -> Option<ManifestKey> {
        let (epoch, rest) = split_epoch(bytes)?;
        let nul = rest.iter().position(|b| *b == 0)?;
        let dc = std::str::from_utf8(&rest[..nul]).ok()?;
        let seq: [u8; 4] = rest[nul + 1..].try_into().ok()?;
        Some(ManifestKey {
            epoch,
            dc: dc.to_owned(),
            seq: u32::from_be_bytes(seq),
        })
    }
}

impl fmt::Display for ManifestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.epoch, self.dc, self.seq)
    }
}

fn split_epoch(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (epoch, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*epoch), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(epoch: u64, dc: &str, t: &str, s: Option<&str>, chunk: u32) -> ChunkKey {
        ChunkKey {
            epoch,
            dc: dc.into(),
            event_type: t.into(),
            subtype: s.map(Into::into),
            chunk,
        }
    }

    #[test]
    fn chunk_keys_round_trip_in_binary_and_text() {
        for k in [
            key(1_700_000_000, "ams4", "WEB", Some("app"), 3),
            key(0, "lhr4", "AV", None, u32::MAX),
        ] {
            assert_eq!(ChunkKey::decode(&k.encode()), Some(k.clone()));
            assert_eq!(ChunkKey::parse(&k.to_string()).unwrap(), k);
        }
    }

    #[test]
    fn binary_keys_sort_by_epoch_first_then_chunk_number() {
        let mut keys = [
            key(2, "ams4", "AV", None, 0),
            key(1, "fra3", "WEB", Some("app"), 10),
            key(1, "fra3", "WEB", Some("app"), 2),
            key(256, "ams4", "AV", None, 0),
        ];
        keys.sort_by_key(ChunkKey::encode);
        let epochs: Vec<(u64, u32)> = keys.iter().map(|k| (k.epoch, k.chunk)).collect();
        assert_eq!(epochs, [(1, 2), (1, 10), (2, 0), (256, 0)]);
    }

    #[test]
    fn names_outside_the_alphabet_are_refused() {
        assert!(validate_dc("ams4").is_ok());
        for bad in ["", "AMS4", "4ams", "am s", "ams/4", &"a".repeat(33)] {
            assert!(validate_dc(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_type("type", "availability_cluster").is_ok());
        for bad in ["", "-", "a/b", "a\0b", "é"] {
            assert!(validate_type("type", bad).is_err(), "{bad:?} accepted");
        }
        assert!(ChunkKey::parse("1/ams4/WEB/app").is_err());
        assert!(ChunkKey::parse("x/ams4/WEB/app/1").is_err());
    }

    #[test]
    fn manifest_keys_round_trip() {
        let k = ManifestKey {
            epoch: 42,
            dc: "ams5".into(),
            seq: 7,
        };
        assert_eq!(ManifestKey::decode(&k.encode()), Some(k));
    }
}
