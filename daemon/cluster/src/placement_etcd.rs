//! The placement table in etcd: one key, `/epochd/<cluster>/placement`,
//! holding the [`PlacementTable`] as JSON, changed only by a
//! compare-and-swap on its revision so two operators (or two nodes)
//! proposing at once never lose a version: one wins, the other reads the
//! new table and decides again (and is refused if its epoch is no longer
//! after the newest).

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, TxnOpResponse};

use crate::etcd::{failed, CAS_ATTEMPTS};
use crate::keys::placement_key;
use crate::placement::PlacementTable;
use crate::ClusterError;

/// The placement of one cluster in etcd.
#[derive(Clone)]
pub struct Placement {
    client: Client,
    cluster: String,
}

impl Placement {
    /// The placement of `cluster`, through `client`.
    pub fn new(client: Client, cluster: &str) -> Result<Placement, ClusterError> {
        ClusterError::check_name("cluster name", cluster)?;
        Ok(Placement {
            client,
            cluster: cluster.to_owned(),
        })
    }

    /// The table and the key's mod revision (an empty table and 0 when no
    /// placement was ever proposed).
    pub async fn load(&self) -> Result<(PlacementTable, i64), ClusterError> {
        let key = placement_key(&self.cluster);
        let answer = self
            .client
            .clone()
            .get(key.clone(), None)
            .await
            .map_err(failed(format!("read {key}")))?;
        match answer.kvs().first() {
            None => Ok((PlacementTable::default(), 0)),
            Some(kv) => {
                let table =
                    serde_json::from_slice(kv.value()).map_err(|e| ClusterError::Corrupt {
                        key,
                        reason: e.to_string(),
                    })?;
                Ok((table, kv.mod_revision()))
            }
        }
    }

    /// Appends a version over `nodes` from `from_epoch`, pruning versions
    /// wholly older than `keep_after_epoch` ([`PlacementTable::next`]),
    /// rereading and retrying when another proposal won meanwhile. Returns
    /// the table written and its revision. Pick `from_epoch` ahead of every
    /// epoch a relocator may be sending now: a relocator that read the old
    /// table would place those epochs by it.
    pub async fn propose(
        &self,
        nodes: &[String],
        from_epoch: u64,
        keep_after_epoch: u64,
    ) -> Result<(PlacementTable, i64), ClusterError> {
        for _ in 0..CAS_ATTEMPTS {
            let (table, revision) = self.load().await?;
            match self
                .propose_on(&table, revision, nodes, from_epoch, keep_after_epoch)
                .await
            {
                Err(ClusterError::Stale { .. }) => continue,
                other => return other,
            }
        }
        Err(ClusterError::Conflict {
            key: placement_key(&self.cluster),
            attempts: CAS_ATTEMPTS,
        })
    }

    /// One compare-and-swap: writes `table`'s next version only if the key
    /// is still at `revision` (as [`Placement::load`] returned it);
    /// [`ClusterError::Stale`] otherwise, with the revision it is at.
    pub async fn propose_on(
        &self,
        table: &PlacementTable,
        revision: i64,
        nodes: &[String],
        from_epoch: u64,
        keep_after_epoch: u64,
    ) -> Result<(PlacementTable, i64), ClusterError> {
        let next = table.next(nodes, from_epoch, keep_after_epoch)?;
        let key = placement_key(&self.cluster);
        let value = serde_json::to_vec(&next).expect("a placement serialises");
        let unchanged = if revision == 0 {
            Compare::create_revision(key.clone(), CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key.clone(), CompareOp::Equal, revision)
        };
        let txn = Txn::new()
            .when([unchanged])
            .and_then([TxnOp::put(key.clone(), value, None)])
            .or_else([TxnOp::get(key.clone(), None)]);
        let done = self
            .client
            .clone()
            .txn(txn)
            .await
            .map_err(failed(format!("write {key}")))?;
        if done.succeeded() {
            let written = done.header().map_or(0, |h| h.revision());
            let version = next.newest().map_or(0, |a| a.version);
            tracing::info!(cluster = %self.cluster, version, from_epoch, nodes = nodes.len(),
                "placement version proposed");
            return Ok((next, written));
        }
        let actual = done
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Get(get) => {
                    Some(get.kvs().first().map_or(0, |kv| kv.mod_revision()))
                }
                _ => None,
            })
            .unwrap_or(0);
        Err(ClusterError::Stale {
            key,
            expected: revision,
            actual,
        })
    }
}
