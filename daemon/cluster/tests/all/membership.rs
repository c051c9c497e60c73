//! A node's registration: present while it lives, gone when it leaves or
//! stops renewing, back after etcd restarts, and its id its own.

use std::time::{Duration, Instant};

use epochd_cluster::{ClusterError, Membership, MembershipConfig};

use crate::etcd::Etcd;

fn config(etcd: &Etcd, node: &str) -> MembershipConfig {
    let mut config = MembershipConfig::new(
        vec![etcd.endpoint()],
        "test",
        node,
        &format!("http://127.0.0.1:1/{node}"),
    )
    .unwrap();
    // Short leases keep the test short; etcd's own floor is about 1.5 s.
    config.ttl = Duration::from_secs(2);
    config
}

/// The node ids registered now, as `observer` sees them.
async fn ids(observer: &Membership) -> Vec<String> {
    let mut ids: Vec<String> = observer
        .members()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    ids.sort();
    ids
}

/// Waits up to `secs` for `check`.
async fn eventually(secs: u64, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn nodes_are_listed_while_they_live_and_gone_when_they_leave() {
    let etcd = Etcd::start();
    let a = Membership::join(config(&etcd, "a")).await.unwrap();
    let b = Membership::join(config(&etcd, "b")).await.unwrap();
    assert_eq!(ids(&a).await, ["a", "b"]);
    let listed = a.members().await.unwrap();
    assert_eq!(listed[1].url, "http://127.0.0.1:1/b");
    // Renewed well past its TTL.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ids(&a).await, ["a", "b"]);
    assert!(a.status().registered);
    assert_eq!(
        a.status().registrations,
        1,
        "no re-registration without a fault"
    );
    b.leave().await.unwrap();
    assert_eq!(ids(&a).await, ["a"], "leaving deletes the key at once");
}

#[tokio::test]
async fn a_node_that_stops_renewing_drops_out_when_its_lease_expires() {
    let etcd = Etcd::start();
    let observer = Membership::join(config(&etcd, "observer")).await.unwrap();
    // A node on a runtime of its own, shut down without leaving: a crash
    // as etcd sees it (no revoke, the connection gone). Its lease is
    // granted after this instant, so it cannot expire within a TTL of it.
    let started = Instant::now();
    let crashed = std::thread::spawn({
        let config = config(&etcd, "crashed");
        move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let membership = runtime.block_on(Membership::join(config)).unwrap();
            std::mem::forget(membership);
            runtime.shutdown_background();
        }
    });
    crashed.join().unwrap();
    assert_eq!(ids(&observer).await, ["crashed", "observer"]);
    eventually(10, "the crashed node drops out", async || {
        ids(&observer).await == ["observer"]
    })
    .await;
    // Not before its lease (2 s) could have run out.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_second_process_cannot_take_a_live_nodes_id() {
    let etcd = Etcd::start();
    let first = Membership::join(config(&etcd, "n1")).await.unwrap();
    match Membership::join(config(&etcd, "n1")).await {
        Err(ClusterError::NodeIdInUse { node_id, url, .. }) => {
            assert_eq!(node_id, "n1");
            assert_eq!(url, "http://127.0.0.1:1/n1");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second node took n1"),
    }
    // The first is untouched, and once it leaves the id is free again.
    assert_eq!(ids(&first).await, ["n1"]);
    first.leave().await.unwrap();
    let again = Membership::join(config(&etcd, "n1")).await.unwrap();
    assert_eq!(ids(&again).await, ["n1"]);
}

#[tokio::test]
async fn nodes_register_again_after_etcd_is_killed_and_restarted() {
    let mut etcd = Etcd::start();
    let a = Membership::join(config(&etcd, "a")).await.unwrap();
    let b = Membership::join(config(&etcd, "b")).await.unwrap();
    etcd.kill();
    // Longer than a lease: both keep-alives break.
    tokio::time::sleep(Duration::from_secs(3)).await;
    etcd.restart();
    eventually(30, "both nodes registered again", async || {
        a.status().registered
            && b.status().registered
            && a.members().await.map(|m| m.len()).unwrap_or(0) == 2
    })
    .await;
    assert!(a.status().registrations >= 2, "{:?}", a.status());
    // And they stay, renewed, past several leases.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ids(&a).await, ["a", "b"], "{}", etcd.log());
}

#[test]
fn names_that_cannot_be_keys_are_refused_with_the_rule() {
    let refused =
        MembershipConfig::new(vec!["http://127.0.0.1:2379".into()], "a/b", "n", "u").unwrap_err();
    assert!(refused.contains("cluster name \"a/b\""), "{refused}");
    assert!(MembershipConfig::new(vec![], "c", "n", "u").is_err());
    assert!(MembershipConfig::new(vec!["e".into()], "c", "", "u").is_err());
}
