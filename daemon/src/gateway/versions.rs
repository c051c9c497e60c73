//! The versions the gateway emitted: the latest of each (job, epoch), kept
//! in a tree of the daemon's sled database so a range query answers the
//! latest version after a restart, and published to live streams.

use std::sync::Arc;

use epochd_store::sled_util::delete_range_with;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::GatewayError;

/// The tree's name in the daemon's database.
const TREE: &str = "gateway_versions";

/// One emitted version of a job's epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The job.
    pub job: String,
    /// The epoch.
    pub epoch: u64,
    /// 1 for the first emission, then 2, 3, ... for each correction.
    pub version: u32,
    /// Every expected node had closed through the epoch.
    pub complete: bool,
    /// What the version was made of (its parts and completeness), so the
    /// same again is not a new version (a restarted gateway re-reading
    /// parts it already merged).
    pub digest: u64,
    /// The epoch object as subscribers get it (results/render.rs's, plus
    /// `complete`, `version`, `parts` and `missing`).
    pub json: String,
}

/// The emitted versions. Cheap to clone.
#[derive(Clone)]
pub struct Versions {
    tree: sled::Tree,
    published: broadcast::Sender<Arc<Version>>,
}

/// Keys start with the epoch, so old versions go by a prefix delete.
fn key(epoch: u64, job: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(job.len() + 9);
    k.extend_from_slice(&epoch.to_be_bytes());
    k.extend_from_slice(job.as_bytes());
    k.push(0);
    k
}

impl Versions {
    /// Opens the tree in `db`; a live subscriber may fall `buffer` versions
    /// behind before its stream ends.
    pub fn open(db: &sled::Db, buffer: usize) -> Result<Versions, GatewayError> {
        let (published, _) = broadcast::channel(buffer.max(1));
        Ok(Versions {
            tree: db.open_tree(TREE)?,
            published,
        })
    }

    /// The latest version of `job`'s `epoch`.
    pub fn get(&self, job: &str, epoch: u64) -> Result<Option<Version>, GatewayError> {
        self.tree
            .get(key(epoch, job))?
            .map(|v| serde_json::from_slice(&v).map_err(|e| GatewayError::Corrupt(e.to_string())))
            .transpose()
    }

    /// The latest version of each epoch of `job` in `from..=to` that has one.
    pub fn range(&self, job: &str, from: u64, to: u64) -> Result<Vec<Version>, GatewayError> {
        let mut out = Vec::new();
        for epoch in from..=to {
            out.extend(self.get(job, epoch)?);
        }
        Ok(out)
    }

    /// Stores `version` as the latest of its epoch and publishes it.
    pub fn put(&self, version: Version) -> Result<(), GatewayError> {
        let v = serde_json::to_vec(&version).map_err(|e| GatewayError::Corrupt(e.to_string()))?;
        self.tree.insert(key(version.epoch, &version.job), v)?;
        let _ = self.published.send(Arc::new(version));
        Ok(())
    }

    /// Versions as they are emitted, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Version>> {
        self.published.subscribe()
    }

    /// Deletes the versions of epochs before `epoch`.
    pub fn sweep_before(&self, epoch: u64) -> Result<usize, GatewayError> {
        let end = epoch.to_be_bytes();
        let removed = delete_range_with(&self.tree, ..&end[..], 256, |_| {
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(removed as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(epoch: u64, version: u32, complete: bool) -> Version {
        Version {
            job: "count".into(),
            epoch,
            version,
            complete,
            digest: u64::from(version),
            json: format!(r#"{{"version":{version}}}"#),
        }
    }

    #[test]
    fn the_latest_version_is_kept_across_a_reopen_and_swept_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let versions = Versions::open(&db, 16).unwrap();
        let mut live = versions.subscribe();
        versions.put(version(10, 1, false)).unwrap();
        versions.put(version(10, 2, true)).unwrap();
        versions.put(version(11, 1, true)).unwrap();
        assert_eq!(live.try_recv().unwrap().version, 1);
        let reopened = Versions::open(&db, 16).unwrap();
        assert_eq!(
            reopened.get("count", 10).unwrap(),
            Some(version(10, 2, true))
        );
        assert_eq!(reopened.get("counter", 10).unwrap(), None, "another job");
        let range: Vec<(u64, u32)> = reopened
            .range("count", 9, 12)
            .unwrap()
            .iter()
            .map(|v| (v.epoch, v.version))
            .collect();
        assert_eq!(range, [(10, 2), (11, 1)]);
        assert_eq!(reopened.sweep_before(11).unwrap(), 1);
        assert_eq!(reopened.get("count", 10).unwrap(), None);
    }
}
