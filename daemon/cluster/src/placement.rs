//! Low-level data placement: which node stores which chunk.
//!
//! **Ranges.** A chunk's key (epoch, dc, type, subtype, chunk number) is
//! hashed into one of [`RANGES`] ranges by [`range_of`], a function fixed
//! forever (SHA-256 of the key's text, not a hasher of the standard library
//! whose output may change between Rust releases): every relocator and
//! every node, of any version, agrees where a chunk belongs.
//!
//! **Versions from an epoch.** The [`PlacementTable`] is a list of
//! [`Assignment`]s, each naming an owner for every range and taking effect
//! from an epoch. The owner of a chunk is that of the assignment in effect
//! at the chunk's epoch ([`PlacementTable::owner`]): the one with the
//! largest `from_epoch <= epoch`. Adding or removing a node makes a new
//! version from a later epoch, so data already stored never moves: past
//! epochs keep their owners until they age out of retention, and only then
//! is their version pruned.
//!
//! **Rebalancing.** A new version spreads the ranges evenly over the nodes
//! (counts differ by at most one) while moving as few ranges as it can
//! ([`rebalance`]): a range whose owner stays keeps it unless that owner
//! holds more than its share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ClusterError;

/// How many ranges the chunk keys are hashed into. Fixed: changing it would
/// move every chunk. 128 spreads evenly over up to a few dozen nodes.
pub const RANGES: u32 = 128;

/// The range of a chunk: the first 4 bytes (big-endian) of the SHA-256 of
/// the chunk key's text, modulo [`RANGES`]. The text is exactly the path of
/// the chunk under `/v1/chunks/` (docs/API.md):
/// `{epoch}/{dc}/{type}/{subtype}/{chunk}`, decimal numbers, with `-` for
/// no subtype (an empty `subtype` counts as none too; `-` is never a
/// subtype's name).
///
/// For example `1700000000/ams4/WEB/app/0` is range 95. This function must
/// never change: every relocator and node relies on it to find data.
pub fn range_of(epoch: u64, dc: &str, event_type: &str, subtype: &str, chunk: u32) -> u32 {
    let subtype = if subtype.is_empty() { "-" } else { subtype };
    let text = format!("{epoch}/{dc}/{event_type}/{subtype}/{chunk}");
    let digest = Sha256::digest(text.as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    first % RANGES
}

/// One version of the placement: an owner for every range, from an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// 1, 2, ...: one more than the version before.
    pub version: u64,
    /// The first epoch it applies to.
    pub from_epoch: u64,
    /// The owner of each range: [`RANGES`] node ids, range 0 first.
    pub owners: Vec<String>,
}

/// Every placement version still in use, in ascending version and
/// `from_epoch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementTable {
    /// The versions, oldest first.
    pub assignments: Vec<Assignment>,
}

impl PlacementTable {
    /// The version in effect at `epoch`: the one with the largest
    /// `from_epoch <= epoch`; `None` before the first.
    pub fn assignment_at(&self, epoch: u64) -> Option<&Assignment> {
        self.assignments
            .iter()
            .rev()
            .find(|a| a.from_epoch <= epoch)
    }

    /// The node that stores the chunks of `range` at `epoch`; `None` before
    /// the first version or for a range out of bounds.
    pub fn owner(&self, epoch: u64, range: u32) -> Option<&str> {
        self.assignment_at(epoch)?
            .owners
            .get(range as usize)
            .map(String::as_str)
    }

    /// The newest version.
    pub fn newest(&self) -> Option<&Assignment> {
        self.assignments.last()
    }

    /// This table with a new version over `nodes` from `from_epoch`
    /// ([`rebalance`]d from the newest), and without the versions wholly
    /// older than `keep_after_epoch` (the one in effect at it is kept).
    /// Refused if `from_epoch` is not after the newest version's.
    pub fn next(
        &self,
        nodes: &[String],
        from_epoch: u64,
        keep_after_epoch: u64,
    ) -> Result<PlacementTable, ClusterError> {
        if nodes.is_empty() {
            return Err(ClusterError::NoNodes);
        }
        for node in nodes {
            ClusterError::check_name("node id", node)?;
        }
        let newest = self.newest();
        if let Some(newest) = newest {
            if from_epoch <= newest.from_epoch {
                return Err(ClusterError::PlacementNotAfter {
                    from_epoch,
                    newest: newest.from_epoch,
                });
            }
        }
        let mut assignments = self.assignments.clone();
        assignments.push(Assignment {
            version: newest.map_or(1, |a| a.version + 1),
            from_epoch,
            owners: rebalance(newest, nodes),
        });
        // The last version in effect at keep_after_epoch, and all after it.
        let first_kept = assignments
            .iter()
            .rposition(|a| a.from_epoch <= keep_after_epoch)
            .unwrap_or(0);
        assignments.drain(..first_kept);
        Ok(PlacementTable { assignments })
    }
}

/// The owners of a new version over `nodes`: each node gets `RANGES / n`
/// or one more ranges; every range whose `previous` owner is still among
/// `nodes` and within its share stays where it is, so only as many ranges
/// move as evenness needs. Deterministic: the same inputs (in any order,
/// duplicates ignored) give the same owners. The extra ranges of an uneven
/// split go to the nodes that hold most already (then the lowest ids);
/// among a node's ranges, the lowest-numbered stay; freed ranges go, in
/// ascending order, to the node furthest below its share (then the lowest
/// id). Empty `nodes`: no owners.
pub fn rebalance(previous: Option<&Assignment>, nodes: &[String]) -> Vec<String> {
    let mut nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    nodes.sort_unstable();
    nodes.dedup();
    if nodes.is_empty() {
        return Vec::new();
    }
    let ranges = RANGES as usize;
    let (base, extra) = (ranges / nodes.len(), ranges % nodes.len());
    let before: Vec<Option<&str>> = (0..ranges)
        .map(|r| {
            previous
                .and_then(|a| a.owners.get(r))
                .map(String::as_str)
                .filter(|o| nodes.binary_search(o).is_ok())
        })
        .collect();
    let mut held: BTreeMap<&str, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for owner in before.iter().flatten() {
        *held.entry(owner).or_default() += 1;
    }
    let mut by_holding = nodes.clone();
    by_holding.sort_by(|a, b| held[b].cmp(&held[a]).then(a.cmp(b)));
    let share: BTreeMap<&str, usize> = by_holding
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, base + usize::from(i < extra)))
        .collect();
    let mut kept: BTreeMap<&str, usize> = nodes.iter().map(|n| (*n, 0)).collect();
    let mut owners: Vec<Option<&str>> = before
        .iter()
        .map(|owner| {
            let owner = (*owner)?;
            let count = kept.get_mut(owner)?;
            (*count < share[owner]).then(|| {
                *count += 1;
                owner
            })
        })
        .collect();
    for slot in owners.iter_mut().filter(|o| o.is_none()) {
        let node = *nodes
            .iter()
            .max_by(|a, b| {
                let room = |n: &&str| share[n] - kept[n];
                room(a).cmp(&room(b)).then(b.cmp(a))
            })
            .expect("nodes is not empty");
        *kept.get_mut(node).expect("a node") += 1;
        *slot = Some(node);
    }
    owners
        .into_iter()
        .map(|o| o.expect("every range has an owner").to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn counts(owners: &[String]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for o in owners {
            *counts.entry(o.clone()).or_default() += 1;
        }
        counts
    }

    fn assignment(owners: Vec<String>) -> Assignment {
        Assignment {
            version: 1,
            from_epoch: 0,
            owners,
        }
    }

    fn moved(before: &[String], after: &[String]) -> usize {
        before.iter().zip(after).filter(|(a, b)| a != b).count()
    }

    fn assert_even(owners: &[String], nodes: usize) {
        assert_eq!(owners.len(), RANGES as usize);
        let counts = counts(owners);
        assert_eq!(counts.len(), nodes.min(RANGES as usize), "{counts:?}");
        let (min, max) = (
            counts.values().min().unwrap(),
            counts.values().max().unwrap(),
        );
        assert!(max - min <= 1, "{counts:?}");
    }

    #[test]
    fn the_range_of_a_chunk_never_changes() {
        // Pinned: every relocator and node must agree, release after release.
        // (Python: int.from_bytes(sha256(text).digest()[:4], "big") % 128.)
        assert_eq!(range_of(1_700_000_000, "ams4", "WEB", "app", 0), 95);
        assert_eq!(range_of(1_700_000_000, "ams4", "WEB", "-", 0), 6);
        assert_eq!(range_of(1_700_000_000, "ams4", "WEB", "", 0), 6);
        assert_eq!(range_of(1_700_000_001, "ams4", "WEB", "app", 0), 104);
        assert_eq!(range_of(1_700_000_000, "fra1", "API", "v2", 7), 85);
    }

    #[test]
    fn chunk_keys_spread_evenly_over_the_ranges() {
        let mut hits = vec![0u32; RANGES as usize];
        let mut keys = 0;
        for epoch in 1_700_000_000..1_700_000_100u64 {
            for dc in ["ams4", "fra1", "sjc2", "nyc3", "sin1"] {
                for (t, s) in [("WEB", "app"), ("WEB", "-"), ("API", "v2"), ("DB", "-")] {
                    for chunk in 0..50 {
                        hits[range_of(epoch, dc, t, s, chunk) as usize] += 1;
                        keys += 1;
                    }
                }
            }
        }
        assert_eq!(keys, 100_000);
        let share = keys as f64 / f64::from(RANGES);
        for (range, n) in hits.iter().enumerate() {
            let n = f64::from(*n);
            assert!(
                n > 0.5 * share && n < 1.5 * share,
                "range {range}: {n} of {share}"
            );
        }
    }

    #[test]
    fn a_first_placement_is_even() {
        for n in [1, 2, 3, 5, 7, 16, 128, 200] {
            assert_even(&rebalance(None, &ids(n)), n);
        }
        assert!(rebalance(None, &[]).is_empty());
    }

    #[test]
    fn the_same_nodes_in_any_order_give_the_same_owners() {
        let mut shuffled = ids(5);
        shuffled.reverse();
        shuffled.push("n2".into());
        assert_eq!(rebalance(None, &ids(5)), rebalance(None, &shuffled));
        let before = assignment(rebalance(None, &ids(3)));
        assert_eq!(
            rebalance(Some(&before), &ids(4)),
            rebalance(Some(&before), &shuffled[1..5])
        );
    }

    #[test]
    fn the_same_nodes_again_move_nothing() {
        let before = rebalance(None, &ids(3));
        let again = rebalance(Some(&assignment(before.clone())), &ids(3));
        assert_eq!(before, again);
    }

    #[test]
    fn a_joining_node_takes_only_its_share() {
        for n in 1..=12 {
            let before = rebalance(None, &ids(n));
            let after = rebalance(Some(&assignment(before.clone())), &ids(n + 1));
            assert_even(&after, n + 1);
            let newcomer = format!("n{n}");
            let taken = counts(&after)[&newcomer];
            // Exactly the newcomer's ranges moved, all to it.
            assert_eq!(moved(&before, &after), taken, "{n} -> {}", n + 1);
            for (b, a) in before.iter().zip(&after) {
                assert!(a == b || *a == newcomer);
            }
            let share = RANGES as usize / (n + 1);
            assert!(taken == share || taken == share + 1);
        }
        // 3 nodes to 4: exactly 32 ranges move.
        let three = rebalance(None, &ids(3));
        let four = rebalance(Some(&assignment(three.clone())), &ids(4));
        assert_eq!(moved(&three, &four), 32);
    }

    #[test]
    fn a_leaving_node_gives_up_only_its_ranges() {
        for n in 2..=12 {
            let before = rebalance(None, &ids(n));
            for leaving in 0..n {
                let gone = format!("n{leaving}");
                let stay: Vec<String> = ids(n).into_iter().filter(|i| *i != gone).collect();
                let after = rebalance(Some(&assignment(before.clone())), &stay);
                assert_even(&after, n - 1);
                // Exactly the leaver's ranges moved.
                assert_eq!(moved(&before, &after), counts(&before)[&gone]);
                for (b, a) in before.iter().zip(&after) {
                    assert!(a == b || *b == gone);
                }
            }
        }
        // 3 nodes to 2: exactly the leaver's 42 or 43.
        let three = rebalance(None, &ids(3));
        let two = rebalance(Some(&assignment(three.clone())), &ids(2));
        assert_eq!(moved(&three, &two), counts(&three)["n2"]);
        assert!(counts(&three)["n2"] <= 43);
    }

    #[test]
    fn an_uneven_previous_placement_is_evened_with_the_fewest_moves() {
        // n0 holds 100 ranges, n1 28: n0 must give up 36, no more.
        let owners: Vec<String> = (0..RANGES)
            .map(|r| if r < 100 { "n0" } else { "n1" }.to_owned())
            .collect();
        let after = rebalance(Some(&assignment(owners.clone())), &ids(2));
        assert_even(&after, 2);
        assert_eq!(moved(&owners, &after), 36);
        // A node that joined and another that left at once: the survivors
        // keep what their share allows.
        let three = rebalance(None, &ids(3));
        let swapped = ["n0".to_owned(), "n1".to_owned(), "n9".to_owned()];
        let after = rebalance(Some(&assignment(three.clone())), &swapped);
        assert_even(&after, 3);
        assert_eq!(moved(&three, &after), counts(&three)["n2"]);
    }

    #[test]
    fn a_chain_of_changes_stays_even() {
        let mut nodes = ids(3);
        let mut owners = rebalance(None, &nodes);
        for step in 0..20 {
            if step % 3 == 2 {
                nodes.remove(step % nodes.len());
            } else {
                nodes.push(format!("x{step}"));
            }
            owners = rebalance(Some(&assignment(owners)), &nodes);
            assert_even(&owners, nodes.len());
        }
    }

    fn table() -> PlacementTable {
        let mut table = PlacementTable::default();
        table = table.next(&ids(2), 100, 0).unwrap();
        table = table.next(&ids(3), 200, 0).unwrap();
        table.next(&ids(4), 300, 0).unwrap()
    }

    #[test]
    fn owners_are_those_of_the_version_in_effect_at_the_epoch() {
        let table = table();
        let versions: Vec<u64> = table.assignments.iter().map(|a| a.version).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(table.owner(99, 0), None, "before the first version");
        for (epoch, version) in [(100, 0), (199, 0), (200, 1), (299, 1), (300, 2), (9_999, 2)] {
            for range in 0..RANGES {
                assert_eq!(
                    table.owner(epoch, range),
                    Some(table.assignments[version].owners[range as usize].as_str())
                );
            }
        }
        assert_eq!(table.owner(300, RANGES), None);
        // Version 3 uses n3, and data of epoch 250 does not: it stays put.
        assert!((0..RANGES).any(|r| table.owner(300, r) == Some("n3")));
        assert!((0..RANGES).all(|r| table.owner(250, r) != Some("n3")));
    }

    #[test]
    fn a_version_must_start_after_the_newest() {
        let table = table();
        for epoch in [300, 299, 0] {
            match table.next(&ids(2), epoch, 0) {
                Err(ClusterError::PlacementNotAfter { from_epoch, newest }) => {
                    assert_eq!((from_epoch, newest), (epoch, 300));
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            table.next(&[], 400, 0),
            Err(ClusterError::NoNodes)
        ));
        assert!(matches!(
            table.next(&["a/b".to_owned()], 400, 0),
            Err(ClusterError::BadName { .. })
        ));
    }

    #[test]
    fn old_versions_are_pruned_but_the_one_in_effect_is_kept() {
        let table = table();
        let kept = |keep_after: u64| -> Vec<u64> {
            table
                .next(&ids(5), 400, keep_after)
                .unwrap()
                .assignments
                .iter()
                .map(|a| a.version)
                .collect()
        };
        assert_eq!(kept(0), [1, 2, 3, 4]);
        assert_eq!(kept(100), [1, 2, 3, 4]);
        assert_eq!(kept(199), [1, 2, 3, 4]);
        // From epoch 200 on, version 1 is in effect nowhere.
        assert_eq!(kept(200), [2, 3, 4]);
        assert_eq!(kept(350), [3, 4]);
        assert_eq!(kept(400), [4]);
        assert_eq!(kept(u64::MAX), [4]);
    }
}
