//! Watches of the job registry on a real etcd: every change delivered in
//! order across etcd restarts, partitions and compactions, and `Synced`
//! only once every change before it was delivered.

use std::time::{Duration, Instant};

use epochd_cluster::{job_key, ClusterError, JobEvent, JobRegistry, JobState};
use etcd_client::CompactionOptions;

use crate::etcd::Etcd;
use crate::jobs::{manifest, put_of, registry, states, SHA_A, SHA_B};
use crate::proxy::Proxy;
use crate::support::{client, client_at, next_change, next_event, now_ms};

#[tokio::test]
async fn a_watch_delivers_puts_and_removals_in_order() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd).await;
    jobs.submit("before", SHA_A, manifest("before"), 1, "n1")
        .await
        .unwrap();
    let mut watch = jobs.watch(0);
    match next_event(&mut watch, 30).await {
        JobEvent::Resync {
            jobs: listed,
            revision,
        } => {
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].name, "before");
            assert!(revision > 0);
        }
        other => panic!("the first event is not a resync: {other:?}"),
    }
    jobs.submit("a", SHA_A, manifest("a"), 10, "n1")
        .await
        .unwrap();
    jobs.change("a", JobState::Paused, 20, None, "n1")
        .await
        .unwrap();
    jobs.submit("b", SHA_B, manifest("b"), 10, "n1")
        .await
        .unwrap();
    jobs.change("b", JobState::Deleted, 30, None, "n1")
        .await
        .unwrap();
    client(&etcd)
        .await
        .delete(job_key("test", "a"), None)
        .await
        .unwrap();

    let (a, r1) = put_of(next_change(&mut watch, 30).await, "a");
    assert_eq!(states(&a), [(10, JobState::Active)]);
    let (a, r2) = put_of(next_change(&mut watch, 30).await, "a");
    assert_eq!(a.state_at(20), Some(JobState::Paused));
    let (_, r3) = put_of(next_change(&mut watch, 30).await, "b");
    let (b, r4) = put_of(next_change(&mut watch, 30).await, "b");
    assert!(b.is_deleted(), "a deletion arrives as its tombstone");
    let r5 = match next_change(&mut watch, 30).await {
        JobEvent::Removed { name, revision } => {
            assert_eq!(name, "a");
            revision
        }
        other => panic!("{other:?}"),
    };
    assert!(
        r1 < r2 && r2 < r3 && r3 < r4 && r4 < r5,
        "{r1} {r2} {r3} {r4} {r5}"
    );
}

#[tokio::test]
async fn a_watch_from_a_revision_starts_with_the_state_before_it() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd).await;
    jobs.submit("a", SHA_A, manifest("a"), 1, "n1")
        .await
        .unwrap();
    let (listed, revision) = jobs.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    jobs.submit("b", SHA_A, manifest("b"), 1, "n1")
        .await
        .unwrap();
    let mut watch = jobs.watch(revision + 1);
    match next_event(&mut watch, 30).await {
        JobEvent::Resync {
            jobs: state,
            revision: at,
        } => {
            assert_eq!(at, revision);
            assert_eq!(state, listed);
        }
        other => panic!("{other:?}"),
    }
    put_of(next_change(&mut watch, 30).await, "b");
}

#[tokio::test]
async fn a_watch_resumes_after_etcd_restarts_and_misses_nothing() {
    let mut etcd = Etcd::start();
    let jobs = registry(&etcd).await;
    let mut watch = jobs.watch(0);
    assert!(matches!(
        next_change(&mut watch, 30).await,
        JobEvent::Resync { .. }
    ));
    jobs.submit("a", SHA_A, manifest("a"), 1, "n1")
        .await
        .unwrap();
    let (_, before) = put_of(next_change(&mut watch, 30).await, "a");

    etcd.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    etcd.restart();
    // Changes made meanwhile through another client, whether the watch is
    // back yet or not.
    let other = JobRegistry::new(client(&etcd).await, "test").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match other.submit("b", SHA_B, manifest("b"), 5, "n2").await {
            // Exists: an earlier try went through without its answer.
            Ok(_) | Err(ClusterError::JobExists { .. }) => break,
            Err(e) => assert!(Instant::now() < deadline, "etcd did not come back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other
        .change("a", JobState::Paused, 7, None, "n2")
        .await
        .unwrap();
    other
        .change("b", JobState::Paused, 8, None, "n2")
        .await
        .unwrap();
    let done = now_ms();

    let (b, r1) = put_of(next_change(&mut watch, 60).await, "b");
    assert_eq!(states(&b), [(5, JobState::Active)]);
    let (a, r2) = put_of(next_change(&mut watch, 30).await, "a");
    assert_eq!(a.state_at(7), Some(JobState::Paused));
    let (b, r3) = put_of(next_change(&mut watch, 30).await, "b");
    assert_eq!(b.state_at(8), Some(JobState::Paused));
    assert!(before < r1 && r1 < r2 && r2 < r3);
    // And it is fresh again: a Synced covering the changes, no change left.
    loop {
        match next_event(&mut watch, 30).await {
            JobEvent::Synced { as_of_ms } if as_of_ms > done => break,
            JobEvent::Synced { .. } => {}
            other => panic!("an extra event: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_watch_whose_history_was_compacted_away_resyncs() {
    let etcd = Etcd::start();
    let proxy = Proxy::start(&etcd.endpoint()).await;
    let direct = JobRegistry::new(client(&etcd).await, "test").unwrap();
    let through_proxy = JobRegistry::new(client_at(&proxy.endpoint()).await, "test").unwrap();
    let mut watch = through_proxy.watch(0);
    assert!(matches!(
        next_change(&mut watch, 30).await,
        JobEvent::Resync { .. }
    ));
    direct
        .submit("a", SHA_A, manifest("a"), 1, "n1")
        .await
        .unwrap();
    let (_, seen) = put_of(next_change(&mut watch, 30).await, "a");

    // The watcher is cut off while the registry changes and etcd compacts
    // its history past what the watcher has seen.
    proxy.cut();
    direct
        .submit("b", SHA_B, manifest("b"), 2, "n1")
        .await
        .unwrap();
    direct
        .change("a", JobState::Paused, 3, None, "n1")
        .await
        .unwrap();
    let (state, now) = direct.list().await.unwrap();
    assert!(now > seen + 1);
    client(&etcd)
        .await
        .compact(now, Some(CompactionOptions::new().with_physical()))
        .await
        .unwrap();
    proxy.restore();

    match next_change(&mut watch, 60).await {
        JobEvent::Resync { jobs, revision } => {
            assert!(revision >= now, "{revision} < {now}");
            assert_eq!(
                jobs, state,
                "the full state, with the changes made meanwhile"
            );
        }
        other => panic!("expected a resync after the compaction, got {other:?}"),
    }
    // And it goes on from there.
    direct
        .submit("c", SHA_A, manifest("c"), 4, "n1")
        .await
        .unwrap();
    put_of(next_change(&mut watch, 30).await, "c");
}

#[tokio::test]
async fn synced_events_come_and_cover_every_change_before_them() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd)
        .await
        .with_progress_every(Duration::from_millis(100));
    let started = now_ms();
    let mut watch = jobs.watch(0);
    assert!(matches!(
        next_event(&mut watch, 30).await,
        JobEvent::Resync { .. }
    ));
    let mut last = 0;
    for _ in 0..5 {
        match next_event(&mut watch, 30).await {
            JobEvent::Synced { as_of_ms } => {
                assert!(as_of_ms > last, "{as_of_ms} after {last}");
                assert!(as_of_ms >= started);
                last = as_of_ms;
            }
            other => panic!("{other:?}"),
        }
    }
    // A change committed before t0 comes before a Synced as of t0.
    let other = JobRegistry::new(client(&etcd).await, "test").unwrap();
    other
        .submit("a", SHA_A, manifest("a"), 1, "n2")
        .await
        .unwrap();
    let committed = now_ms();
    let mut put_seen = false;
    loop {
        match next_event(&mut watch, 30).await {
            JobEvent::Put { job, .. } => {
                assert_eq!(job.name, "a");
                put_seen = true;
            }
            JobEvent::Synced { as_of_ms } => {
                assert!(as_of_ms > last);
                last = as_of_ms;
                if as_of_ms > committed {
                    assert!(
                        put_seen,
                        "Synced as of {as_of_ms} before the change of {committed}"
                    );
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_watch_catching_up_on_history_is_not_synced_before_it_caught_up() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd)
        .await
        .with_progress_every(Duration::from_millis(10));
    jobs.submit("a", SHA_A, manifest("a"), 0, "n1")
        .await
        .unwrap();
    let (_, first) = jobs.list().await.unwrap();
    // A long history for the watch to replay (more than the 1000
    // revisions etcd sends a lagging watch per round): etcd answers
    // progress requests meanwhile as if it had caught up (3.4.23 does).
    let client = client(&etcd).await;
    let mut job = jobs.get("a").await.unwrap().unwrap();
    for epoch in 1..=1500 {
        job.changes[0].from_epoch = epoch;
        let value = serde_json::to_vec(&job).unwrap();
        client
            .kv_client()
            .put(job_key("test", "a"), value, None)
            .await
            .unwrap();
    }
    let (_, last) = jobs.list().await.unwrap();
    let written = now_ms();
    assert_eq!(last - first, 1500);

    let mut watch = jobs.watch(first + 1);
    let mut delivered = 0;
    loop {
        match next_event(&mut watch, 60).await {
            JobEvent::Resync { revision, .. } => delivered = revision,
            JobEvent::Put { revision, .. } => delivered = revision,
            JobEvent::Synced { as_of_ms } if as_of_ms > written => {
                assert_eq!(
                    delivered, last,
                    "Synced after {written} with changes still to come"
                );
                break;
            }
            JobEvent::Synced { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}
