//! The placement table on a real etcd: versions appended by
//! compare-and-swap, refused when not after the newest, and never lost to
//! proposals made at the same time.

use epochd_cluster::{ClusterError, Placement, PlacementTable, RANGES};

use crate::etcd::Etcd;
use crate::support::client;

fn nodes(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn versions_are_appended_and_loaded() {
    let etcd = Etcd::start();
    let placement = Placement::new(client(&etcd).await, "test").unwrap();
    let (empty, revision) = placement.load().await.unwrap();
    assert_eq!((empty, revision), (PlacementTable::default(), 0));

    let (first, r1) = placement
        .propose(&nodes(&["n0", "n1", "n2"]), 100, 0)
        .await
        .unwrap();
    assert_eq!(placement.load().await.unwrap(), (first.clone(), r1));
    let v1 = &first.assignments[0];
    assert_eq!(
        (v1.version, v1.from_epoch, v1.owners.len()),
        (1, 100, RANGES as usize)
    );

    let (second, _) = placement
        .propose(&nodes(&["n0", "n1", "n2", "n3"]), 200, 0)
        .await
        .unwrap();
    assert_eq!(second.assignments.len(), 2);
    // Epochs placed by version 1 keep their owners.
    for range in 0..RANGES {
        assert_eq!(second.owner(150, range), first.owner(150, range));
    }
    let moved = (0..RANGES)
        .filter(|r| second.owner(200, *r) != second.owner(199, *r))
        .count();
    assert_eq!(moved, 32, "the newcomer's share moves, nothing else");

    for epoch in [200, 150] {
        match placement.propose(&nodes(&["n0"]), epoch, 0).await {
            Err(ClusterError::PlacementNotAfter { from_epoch, newest }) => {
                assert_eq!((from_epoch, newest), (epoch, 200));
            }
            other => panic!("{other:?}"),
        }
    }
    // Pruning: from epoch 250 on, version 1 is in effect nowhere.
    let (pruned, _) = placement
        .propose(&nodes(&["n0", "n1"]), 300, 250)
        .await
        .unwrap();
    let versions: Vec<u64> = pruned.assignments.iter().map(|a| a.version).collect();
    assert_eq!(versions, [2, 3]);
    assert_eq!(placement.load().await.unwrap().0, pruned);
}

#[tokio::test]
async fn a_stale_compare_and_swap_is_refused() {
    let etcd = Etcd::start();
    let placement = Placement::new(client(&etcd).await, "test").unwrap();
    let (table, revision) = placement.load().await.unwrap();
    // Someone else proposes first.
    let (_, newer) = placement.propose(&nodes(&["n0"]), 100, 0).await.unwrap();
    match placement
        .propose_on(&table, revision, &nodes(&["n1"]), 50, 0)
        .await
    {
        Err(ClusterError::Stale {
            expected, actual, ..
        }) => {
            assert_eq!((expected, actual), (0, newer));
        }
        other => panic!("{other:?}"),
    }
    // Based on what is there now, it goes through.
    let (table, revision) = placement.load().await.unwrap();
    let (next, _) = placement
        .propose_on(&table, revision, &nodes(&["n1"]), 150, 0)
        .await
        .unwrap();
    assert_eq!(next.assignments.len(), 2);
}

#[tokio::test]
async fn proposals_at_the_same_time_are_serialised_not_lost() {
    let etcd = Etcd::start();
    let placement = Placement::new(client(&etcd).await, "test").unwrap();
    // Started in an order unrelated to their epochs.
    let tasks: Vec<_> = [400u64, 100, 600, 300, 200, 500]
        .into_iter()
        .map(|epoch| {
            let placement = placement.clone();
            tokio::spawn(async move {
                let ids = nodes(&["n0", "n1", "n2"]);
                (epoch, placement.propose(&ids, epoch, 0).await)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (epoch, Ok(_)) => accepted.push(epoch),
            (epoch, Err(ClusterError::PlacementNotAfter { from_epoch, newest })) => {
                assert_eq!(from_epoch, epoch);
                assert!(newest >= epoch);
            }
            (_, Err(e)) => panic!("{e}"),
        }
    }
    accepted.sort_unstable();
    let (table, _) = placement.load().await.unwrap();
    let epochs: Vec<u64> = table.assignments.iter().map(|a| a.from_epoch).collect();
    let versions: Vec<u64> = table.assignments.iter().map(|a| a.version).collect();
    // Every accepted proposal is in the table, in order, numbered 1, 2, ...
    assert_eq!(epochs, accepted);
    assert_eq!(versions, (1..=accepted.len() as u64).collect::<Vec<_>>());
    assert!(accepted.contains(&600), "the latest epoch is never refused");
}
