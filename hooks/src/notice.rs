//! The commit notice: what the store tells the daemon about one commit.

use serde::{Deserialize, Serialize};

use crate::HookError;

/// The version of [`CommitNotice`] this build writes and reads.
///
/// Bump it whenever a field changes meaning or is removed; decoding a notice of another
/// version is a [`HookError::UnknownNoticeVersion`], never a silent misreading.
pub const NOTICE_VERSION: u16 = 1;

/// One commit of one (epoch, dc) on this node, as staged in the outbox and sent to the
/// daemon.
///
/// Encoded as MessagePack with named fields, in the outbox and on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitNotice {
    /// Always [`NOTICE_VERSION`] when written by this build.
    pub version: u16,
    /// The outbox key: strictly increasing in commit order on this node.
    pub commit_id: u64,
    /// The epoch, in unix seconds.
    pub epoch: u64,
    /// The data center the events come from.
    pub dc: String,
    /// 0 for the epoch's primary commit, 1.. for supplementary commits (late events).
    pub seq: u32,
    /// Hex of the manifest's xxh3-128 digest: 32 lowercase hex characters.
    pub manifest_digest: String,
    /// The node that holds the committed chunks.
    pub node: String,
    /// Number of events in the commit.
    pub events: u64,
    /// Number of chunks in the commit.
    pub chunks: u32,
    /// When the commit was made, unix milliseconds (0 from stores that did
    /// not say): subscribers measure result latency from it.
    #[serde(default)]
    pub committed_at_ms: u64,
}

/// Only the version field: read first, so that a notice of an unknown version is
/// reported as such even when its other fields no longer match this build's struct.
#[derive(Deserialize)]
struct VersionProbe {
    version: u16,
}

impl CommitNotice {
    /// Encodes the notice as MessagePack with named fields.
    pub fn encode(&self) -> Vec<u8> {
        // Only strings and integers: encoding into a Vec cannot fail.
        rmp_serde::to_vec_named(self).expect("a CommitNotice always encodes to MessagePack")
    }

    /// Decodes a notice written by [`CommitNotice::encode`], checking its version first.
    pub fn decode(bytes: &[u8]) -> Result<CommitNotice, HookError> {
        let probe: VersionProbe =
            rmp_serde::from_slice(bytes).map_err(|source| HookError::Decode {
                what: "a commit notice",
                source,
            })?;
        check_version(probe.version)?;
        rmp_serde::from_slice(bytes).map_err(|source| HookError::Decode {
            what: "a commit notice",
            source,
        })
    }

    /// Checks that a decoded notice has the version this build reads.
    pub fn check_version(&self) -> Result<(), HookError> {
        check_version(self.version)
    }
}

fn check_version(found: u16) -> Result<(), HookError> {
    if found == NOTICE_VERSION {
        Ok(())
    } else {
        Err(HookError::UnknownNoticeVersion {
            found,
            supported: NOTICE_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> CommitNotice {
        CommitNotice {
            version: NOTICE_VERSION,
            commit_id: 7,
            epoch: 1_700_000_000,
            dc: "ams".into(),
            seq: 0,
            manifest_digest: "0123456789abcdef0123456789abcdef".into(),
            node: "n1".into(),
            events: 12,
            chunks: 2,
            committed_at_ms: 0,
        }
    }

    #[test]
    fn round_trips() {
        let n = notice();
        assert_eq!(CommitNotice::decode(&n.encode()).unwrap(), n);
    }

    #[test]
    fn unknown_version_names_both_versions() {
        let mut n = notice();
        n.version = 9;
        let err = CommitNotice::decode(&n.encode()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            HookError::UnknownNoticeVersion {
                found: 9,
                supported: NOTICE_VERSION
            }
        ));
        assert!(
            msg.contains("version 9") && msg.contains("version 1"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_version_with_other_fields_is_still_a_version_error() {
        // A future notice whose fields no longer fit this struct.
        #[derive(Serialize)]
        struct Future {
            version: u16,
            something_else: Vec<String>,
        }
        let bytes = rmp_serde::to_vec_named(&Future {
            version: 2,
            something_else: vec!["x".into()],
        })
        .unwrap();
        assert!(matches!(
            CommitNotice::decode(&bytes),
            Err(HookError::UnknownNoticeVersion { found: 2, .. })
        ));
    }
}
