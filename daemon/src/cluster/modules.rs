//! Job modules kept by their SHA-256 in the node's data directory
//! (`<data>/cluster/modules/<sha256>.wasm`), so that this node can serve
//! them to others (`GET /v1/cluster/modules/{sha256}`) and apply a job
//! again after a restart without fetching its module anew.

use std::path::PathBuf;

use epochd_cluster::{check_module, valid_sha256};

use super::ClusterJobsError;
use crate::registry::write_durably;

/// The modules this node holds.
#[derive(Debug, Clone)]
pub struct ModuleStore {
    dir: PathBuf,
}

impl ModuleStore {
    /// The store in `dir` (created if missing).
    pub fn open(dir: PathBuf) -> Result<ModuleStore, ClusterJobsError> {
        std::fs::create_dir_all(&dir).map_err(ClusterJobsError::io(&dir))?;
        Ok(ModuleStore { dir })
    }

    fn path(&self, sha: &str) -> PathBuf {
        self.dir.join(format!("{sha}.wasm"))
    }

    /// The module `sha`, if held and still intact (bytes that no longer
    /// hash to their name are treated as absent, and fetched again).
    pub fn get(&self, sha: &str) -> Option<Vec<u8>> {
        if !valid_sha256(sha) {
            return None;
        }
        let bytes = std::fs::read(self.path(sha)).ok()?;
        match check_module(sha, &bytes) {
            Ok(()) => Some(bytes),
            Err(e) => {
                tracing::warn!(error = %e, "a stored module is damaged: fetching it again");
                None
            }
        }
    }

    /// Keeps `bytes` under `sha` (checked), durably: a crash never leaves
    /// half a module (`write_durably`).
    pub fn put(&self, sha: &str, bytes: &[u8]) -> Result<(), ClusterJobsError> {
        check_module(sha, bytes)?;
        let path = self.path(sha);
        if path.exists() && self.get(sha).is_some() {
            return Ok(());
        }
        write_durably(&self.dir, &format!("{sha}.wasm"), bytes).map_err(ClusterJobsError::io(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_kept_by_its_hash_and_damage_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModuleStore::open(dir.path().join("m")).unwrap();
        let sha = epochd_cluster::sha256_hex(b"module");
        assert_eq!(store.get(&sha), None);
        assert!(store.put(&sha, b"other").is_err(), "bytes of another hash");
        store.put(&sha, b"module").unwrap();
        assert_eq!(store.get(&sha).as_deref(), Some(&b"module"[..]));
        std::fs::write(dir.path().join("m").join(format!("{sha}.wasm")), b"damaged").unwrap();
        assert_eq!(store.get(&sha), None);
        assert_eq!(store.get("not-a-hash"), None);
    }
}
