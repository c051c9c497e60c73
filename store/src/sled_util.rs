//! Small helpers over sled shared by the store and the daemon.
//!
//! [`delete_range`] deletes a key range in bounded batches instead of one
//! transaction, so that a long deletion (a retention sweep) does not hold up
//! writers: each batch is atomic on its own, the whole range is not. A key
//! inserted into the range while it runs may be deleted too.

use std::ops::{ControlFlow, RangeBounds};

/// Deletes every key of `range` in `tree`, `batch` keys at a time (at least
/// one), each batch applied atomically. Returns how many keys it deleted.
pub fn delete_range<K, R>(tree: &sled::Tree, range: R, batch: usize) -> sled::Result<u64>
where
    K: AsRef<[u8]>,
    R: RangeBounds<K> + Clone,
{
    delete_range_with(tree, range, batch, |_| ControlFlow::Continue(()))
}

/// [`delete_range`], calling `after_batch` with each batch's (key, value)
/// pairs once they are deleted: to account for what went, or to stop early
/// (`ControlFlow::Break`, e.g. when the caller is shutting down; the keys not
/// reached yet stay). Returns how many keys it deleted.
pub fn delete_range_with<K, R, F>(
    tree: &sled::Tree,
    range: R,
    batch: usize,
    mut after_batch: F,
) -> sled::Result<u64>
where
    K: AsRef<[u8]>,
    R: RangeBounds<K> + Clone,
    F: FnMut(&[(sled::IVec, sled::IVec)]) -> ControlFlow<()>,
{
    let batch = batch.max(1);
    let mut removed = 0;
    loop {
        // From the start of the range each time: what came before is gone.
        let items: Vec<(sled::IVec, sled::IVec)> = tree
            .range(range.clone())
            .take(batch)
            .collect::<Result<_, _>>()?;
        if items.is_empty() {
            return Ok(removed);
        }
        let mut deletion = sled::Batch::default();
        for (key, _) in &items {
            deletion.remove(key.clone());
        }
        tree.apply_batch(deletion)?;
        removed += items.len() as u64;
        if after_batch(&items).is_break() {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_with(keys: u64) -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        for k in 0..keys {
            tree.insert(k.to_be_bytes(), &b"v"[..]).unwrap();
        }
        (db, tree)
    }

    #[test]
    fn deletes_the_range_and_nothing_else() {
        let (_db, tree) = tree_with(1000);
        let end = 700u64.to_be_bytes();
        assert_eq!(delete_range(&tree, ..end, 64).unwrap(), 700);
        assert_eq!(tree.len(), 300);
        assert_eq!(tree.first().unwrap().unwrap().0, 700u64.to_be_bytes());
        assert_eq!(delete_range(&tree, ..end, 64).unwrap(), 0);
        // A batch of 0 still makes progress.
        assert_eq!(delete_range(&tree, 900u64.to_be_bytes().., 0).unwrap(), 100);
        assert_eq!(tree.len(), 200);
    }

    #[test]
    fn sees_each_batch_and_can_stop() {
        let (_db, tree) = tree_with(1000);
        let mut seen = Vec::new();
        let removed = delete_range_with(&tree, ..500u64.to_be_bytes(), 100, |items| {
            seen.push(items.len());
            if seen.len() == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(removed, 200);
        assert_eq!(seen, [100, 100]);
        assert_eq!(tree.len(), 800);
    }
}
