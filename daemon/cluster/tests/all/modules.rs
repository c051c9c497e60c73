//! Module holders on a real etcd: announced, listed, forgotten, and
//! narrowed to the live members.

use std::time::Duration;

use epochd_cluster::{sha256_hex, ClusterError, Membership, MembershipConfig, ModuleHolders};

use crate::etcd::Etcd;
use crate::support::client;

#[tokio::test]
async fn holders_are_announced_listed_and_forgotten() {
    let etcd = Etcd::start();
    let holders = ModuleHolders::new(client(&etcd).await, "test").unwrap();
    let sha = sha256_hex(b"a module");
    let other = sha256_hex(b"another module");
    assert!(holders.holders(&sha).await.unwrap().is_empty());
    holders.announce(&sha, "n2").await.unwrap();
    holders.announce(&sha, "n1").await.unwrap();
    holders.announce(&sha, "n1").await.unwrap();
    holders.announce(&other, "n3").await.unwrap();
    assert_eq!(holders.holders(&sha).await.unwrap(), ["n1", "n2"]);
    assert_eq!(holders.holders(&other).await.unwrap(), ["n3"]);
    holders.forget(&sha, "n1").await.unwrap();
    assert_eq!(holders.holders(&sha).await.unwrap(), ["n2"]);
    // Forgetting what is not there is harmless.
    holders.forget(&sha, "n9").await.unwrap();

    let refused = holders.announce("ABC", "n1").await;
    assert!(
        matches!(refused, Err(ClusterError::BadModuleHash { .. })),
        "{refused:?}"
    );
    let refused = holders.announce(&sha, "a/b").await;
    assert!(
        matches!(refused, Err(ClusterError::BadName { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn live_holders_are_the_holders_that_are_members() {
    let etcd = Etcd::start();
    let holders = ModuleHolders::new(client(&etcd).await, "test").unwrap();
    let sha = sha256_hex(b"a module");
    let mut config =
        MembershipConfig::new(vec![etcd.endpoint()], "test", "n2", "http://127.0.0.1:1/n2")
            .unwrap();
    config.ttl = Duration::from_secs(2);
    let member = Membership::join(config).await.unwrap();
    // n1 announced and is not (or no longer) a member: not a place to fetch from.
    holders.announce(&sha, "n1").await.unwrap();
    holders.announce(&sha, "n2").await.unwrap();
    let live = holders.live_holders(&sha).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].node_id, "n2");
    assert_eq!(live[0].url, "http://127.0.0.1:1/n2");
    member.leave().await.unwrap();
    assert!(holders.live_holders(&sha).await.unwrap().is_empty());
    assert_eq!(
        holders.holders(&sha).await.unwrap(),
        ["n1", "n2"],
        "not under a lease"
    );
}
