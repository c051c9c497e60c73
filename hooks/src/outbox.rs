//! The durable outbox: one sled tree of commit notices not yet acknowledged by the daemon.

use std::ops::Bound;

use sled::transaction::{TransactionalTree, UnabortableTransactionError};
use sled::IVec;

use crate::{CommitNotice, HookError};

/// The commit notices that have been committed but not yet acknowledged by the daemon,
/// in a sled tree named [`Outbox::TREE_NAME`] of the store's own [`sled::Db`].
///
/// Keys are commit ids as big-endian `u64`, so iteration order is commit order.
///
/// Durability is the store's business: [`Outbox::stage`] writes inside the store's own
/// commit transaction and the store flushes the db after it, so a notice is durable
/// exactly when its commit is. [`Outbox::ack`] does not flush: a lost ack only means the
/// notice is delivered again, which at-least-once delivery allows.
///
/// Cloning is cheap and every clone sees the same tree.
#[derive(Clone, Debug)]
pub struct Outbox {
    tree: sled::Tree,
}

impl Outbox {
    /// The name of the sled tree that holds the outbox.
    pub const TREE_NAME: &'static str = "hook_outbox";

    /// Opens (or creates) the outbox tree in `db`.
    pub fn open(db: &sled::Db) -> Result<Outbox, HookError> {
        Ok(Outbox {
            tree: db.open_tree(Self::TREE_NAME)?,
        })
    }

    /// The underlying tree, for the store's multi-tree commit transaction
    /// (`(&manifests, outbox.tree()).transaction(...)`).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Stages `notice` inside the caller's transaction on [`Outbox::tree`].
    ///
    /// The notice becomes visible to delivery when the transaction commits, and durable
    /// when the store flushes. Commit ids must be unique (a second notice with the same
    /// id replaces the first) and must become visible in increasing order: delivery reads
    /// forward from the last id it sent, so a smaller id committed after a larger one is
    /// only delivered on the next (re)connection. Allocate the id and run the transaction
    /// under the same lock.
    pub fn stage(
        tx: &TransactionalTree,
        notice: &CommitNotice,
    ) -> Result<(), UnabortableTransactionError> {
        tx.insert(&key(notice.commit_id), notice.encode())?;
        Ok(())
    }

    /// Every pending notice, oldest commit first.
    pub fn pending(&self) -> Pending {
        Pending {
            iter: self.tree.iter(),
        }
    }

    /// The pending notices with a commit id of `commit_id` or more, oldest first.
    pub fn pending_from(&self, commit_id: u64) -> Pending {
        Pending {
            iter: self.tree.range(key(commit_id)..),
        }
    }

    /// Number of pending notices (the backlog). O(n): sled counts by iterating.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// True when every notice has been acknowledged.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The oldest pending notice, if any.
    pub fn oldest(&self) -> Result<Option<CommitNotice>, HookError> {
        match self.tree.first()? {
            None => Ok(None),
            Some((k, v)) => decode_entry(&k, &v).map(Some),
        }
    }

    /// Removes the notice of `commit_id`; true if it was pending. Idempotent: acking an
    /// unknown or already acknowledged id returns false and changes nothing.
    pub fn ack(&self, commit_id: u64) -> Result<bool, HookError> {
        Ok(self.tree.remove(key(commit_id))?.is_some())
    }

    /// Up to `max` entries strictly after the key `after` (from the start when `None`),
    /// each with its raw key so that the caller can move past entries it cannot decode.
    pub(crate) fn read_after(
        &self,
        after: Option<&IVec>,
        max: usize,
    ) -> Result<Vec<RawEntry>, HookError> {
        let lower = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for item in self
            .tree
            .range::<IVec, _>((lower, Bound::Unbounded))
            .take(max)
        {
            let (k, v) = item?;
            let notice = decode_entry(&k, &v);
            out.push((k, notice));
        }
        Ok(out)
    }
}

/// An outbox entry as read by delivery: its raw key, and its notice or why it is
/// unreadable.
pub(crate) type RawEntry = (IVec, Result<CommitNotice, HookError>);

/// Iterator over pending notices in commit order; see [`Outbox::pending`].
///
/// An entry that cannot be read yields an error ([`HookError::BadEntry`] or
/// [`HookError::BadKey`]) and iteration goes on with the next one.
pub struct Pending {
    iter: sled::Iter,
}

impl Iterator for Pending {
    type Item = Result<CommitNotice, HookError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.iter.next()?;
        Some(
            item.map_err(HookError::from)
                .and_then(|(k, v)| decode_entry(&k, &v)),
        )
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

fn key(commit_id: u64) -> [u8; 8] {
    commit_id.to_be_bytes()
}

/// The commit id a raw outbox key stands for.
pub(crate) fn commit_id_of(k: &[u8]) -> Result<u64, HookError> {
    let bytes: [u8; 8] = k
        .try_into()
        .map_err(|_| HookError::BadKey { key: k.to_vec() })?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_entry(k: &[u8], v: &[u8]) -> Result<CommitNotice, HookError> {
    let commit_id = commit_id_of(k)?;
    let notice = CommitNotice::decode(v).map_err(|e| HookError::BadEntry {
        commit_id,
        source: Box::new(e),
    })?;
    if notice.commit_id != commit_id {
        // The value must describe the commit its key names; anything else means the
        // entry was written by something other than `stage`.
        return Err(HookError::MismatchedEntry {
            key: commit_id,
            notice: notice.commit_id,
        });
    }
    Ok(notice)
}
