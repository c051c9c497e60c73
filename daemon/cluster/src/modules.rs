//! Who holds which job module.
//!
//! Module bytes never go into etcd: a module may be megabytes, and etcd
//! refuses requests over 1.5 MiB by default and keeps every value in
//! memory and in its history. A node stores a module under its SHA-256
//! (the job registry names it by that hash) and announces it under
//! `/epochd/<cluster>/modules/<sha256>/<node-id>`; a node that lacks it
//! fetches it from a holder that is a live member and checks the bytes
//! against the hash ([`check_module`]). The announcement is not under a
//! lease: a holder that dies is simply not a live member, and once it is
//! back its store still holds the module.

use etcd_client::{Client, GetOptions};
use sha2::{Digest, Sha256};

use crate::etcd::failed;
use crate::keys::{module_holder_key, module_prefix};
use crate::membership::{live_members, NodeInfo};
use crate::ClusterError;

/// The SHA-256 of `bytes` as 64 lowercase hex digits: a module's name in
/// the registry and in etcd's keys.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks fetched (or stored) module bytes against the hash they were
/// asked by: [`ClusterError::ModuleHashMismatch`] names both hashes.
pub fn check_module(sha: &str, bytes: &[u8]) -> Result<(), ClusterError> {
    let actual = sha256_hex(bytes);
    if actual == sha {
        return Ok(());
    }
    Err(ClusterError::ModuleHashMismatch {
        expected: sha.to_owned(),
        actual,
    })
}

/// The module holders of one cluster.
#[derive(Clone)]
pub struct ModuleHolders {
    client: Client,
    cluster: String,
}

impl ModuleHolders {
    /// The holders of `cluster`'s modules, through `client`.
    pub fn new(client: Client, cluster: &str) -> Result<ModuleHolders, ClusterError> {
        ClusterError::check_name("cluster name", cluster)?;
        Ok(ModuleHolders {
            client,
            cluster: cluster.to_owned(),
        })
    }

    /// Says that `node_id` holds the module `sha` (stored, checked against
    /// its hash). Announcing again is harmless.
    pub async fn announce(&self, sha: &str, node_id: &str) -> Result<(), ClusterError> {
        ClusterError::check_sha(sha)?;
        ClusterError::check_name("node id", node_id)?;
        let key = module_holder_key(&self.cluster, sha, node_id);
        self.client
            .clone()
            .put(key, node_id, None)
            .await
            .map_err(failed(format!(
                "announce that {node_id:?} holds module {sha}"
            )))?;
        Ok(())
    }

    /// Every node that announced holding `sha`, by id, live or not.
    pub async fn holders(&self, sha: &str) -> Result<Vec<String>, ClusterError> {
        ClusterError::check_sha(sha)?;
        let answer = self
            .client
            .clone()
            .get(
                module_prefix(&self.cluster, sha),
                Some(GetOptions::new().with_prefix()),
            )
            .await
            .map_err(failed(format!("list the holders of module {sha}")))?;
        let mut ids: Vec<String> = answer
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The holders of `sha` that are live members now, with their URLs:
    /// where to fetch it from.
    pub async fn live_holders(&self, sha: &str) -> Result<Vec<NodeInfo>, ClusterError> {
        let holders = self.holders(sha).await?;
        let members = live_members(&self.client, &self.cluster).await?;
        Ok(members
            .into_iter()
            .filter(|m| holders.binary_search(&m.node_id).is_ok())
            .collect())
    }

    /// Says that `node_id` no longer holds `sha` (it deleted the module).
    pub async fn forget(&self, sha: &str, node_id: &str) -> Result<(), ClusterError> {
        ClusterError::check_sha(sha)?;
        ClusterError::check_name("node id", node_id)?;
        let key = module_holder_key(&self.cluster, sha, node_id);
        self.client
            .clone()
            .delete(key, None)
            .await
            .map_err(failed(format!(
                "forget that {node_id:?} holds module {sha}"
            )))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // FIPS 180-2's example.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(crate::valid_sha256(&sha256_hex(b"")));
    }

    #[test]
    fn a_module_is_checked_against_its_hash() {
        let sha = sha256_hex(b"module");
        assert!(check_module(&sha, b"module").is_ok());
        let refused = check_module(&sha, b"other").unwrap_err();
        let text = refused.to_string();
        assert!(
            text.contains(&sha) && text.contains(&sha256_hex(b"other")),
            "{text}"
        );
    }
}
